"""The dashboard (CONTRACT §10), /admin/stats beside the review desk: opt-outs per day by source,
the campaigns with the highest unsubscribe rate, the reasons people gave, and the desk's days.

Same session as the desk (handlers/desk.py); a GET that changes nothing. Each picture is SVG
drawn on the server (handlers/charts.py) with its figures in a table beside it; the page is in
the reader's language, as the recipients' pages are.
"""

from aiohttp import web
from babel.numbers import format_decimal, format_percent

from handlers import charts
from handlers.desk import DESK, as_desk_page, sign_in_page, signed_in
from handlers.locale import N_
from handlers.pages import LANG, LEAVING_LABELS, PAGES
from handlers.state import SERVICE
from suppression.stats import DASHBOARD_DAYS

SOURCE_LABELS = {
    "one-click": N_("One-click (mail provider)"),
    "link": N_("Unsubscribe page"),
    "email": N_("Email request"),
    "bounce": N_("Bounce"),
    "complaint": N_("Complaint"),
    "api": N_("API"),
    "cli": N_("Admin command line"),
    "import": N_("Import"),
    "other": N_("Other"),
}


def add_dashboard_routes(app: web.Application) -> None:
    app.router.add_get("/admin/stats", as_desk_page(show_dashboard))


async def show_dashboard(request: web.Request) -> web.StreamResponse:
    session, key = await signed_in(request)
    if key is None:
        return await sign_in_page(request)
    pages, lang = request.app[PAGES], request[LANG]
    _ = pages.catalogues.gettext(lang)
    board = await request.app[SERVICE].statistics.dashboard()

    def number(value: int) -> str:
        return format_decimal(value, locale=lang)

    def percent(rate: float) -> str:
        return format_percent(rate, "#,##0.00%", locale=lang)

    sources = [(name, str(_(SOURCE_LABELS.get(name, name)))) for name in board.sources]
    per_day = [
        {"day": day, "counts": [number(board.by_source[day].get(name, 0)) for name, _label in sources],
         "total": number(sum(board.by_source[day].values()))}
        for day in board.days
    ]
    why_labels = dict(LEAVING_LABELS)
    reasons = [(str(_(why_labels[row.key])) if row.key in why_labels else row.key, row.created)
               for row in board.reasons]
    desk = board.desk
    return pages.render(
        "stats.html", lang=lang, title=N_("Statistics"), main_class="wider", csrf=request.app[DESK].csrf(session),
        who=key.name, days=DASHBOARD_DAYS, first=board.first.isoformat(), last=board.last.isoformat(),
        sources=[{"id": name, "label": label, "n": n} for n, (name, label) in enumerate(sources)],
        per_day=per_day, any_created=any(board.by_source[day] for day in board.days),
        source_chart=charts.stacked_columns(
            str(_("Suppressions per day by source")), board.days, [name for name, _label in sources], board.by_source),
        campaigns=[{"key": row.key, "sent": number(row.sent), "created": number(row.created),
                    "rate": percent(row.rate)} for row in board.campaigns],
        campaign_chart=charts.bars(
            str(_("Campaigns with the highest unsubscribe rate")),
            [(row.key, row.rate) for row in board.campaigns], [percent(row.rate) for row in board.campaigns]),
        reasons=[{"label": label, "count": number(count)} for label, count in reasons],
        reason_chart=charts.bars(str(_("Reasons people gave")), reasons, [number(c) for _label, c in reasons],
                                 series=2),
        desk=[{"day": d.day, "received": number(d.received), "settled": number(d.settled),
               "overdue": number(d.overdue)} for d in desk],
        any_desk=any(d.received or d.settled or d.overdue for d in desk),
        desk_chart=charts.lines(
            str(_("Review desk: messages per day")), board.days,
            [("received", [d.received for d in desk]), ("settled", [d.settled for d in desk]),
             ("overdue", [d.overdue for d in desk])]),
    )
