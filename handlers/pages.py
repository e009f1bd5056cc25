"""What recipients see: the unsubscribe page, RFC 8058 one-click, confirmation and undo.

GET never changes state (mail scanners and link previewers fetch every link); only a POST
does. Pages work without JavaScript, cookies or CSRF tokens: the signed token in the URL is
the only credential, as RFC 8058 requires for one-click.
"""

import base64
import functools
import hashlib
import os
from pathlib import Path

import jinja2
from aiohttp import web

from markupsafe import Markup

from handlers.bodies import form_of
from handlers.errors import classify, count, handled
from handlers.locale import DEFAULT_LANGUAGE, LANGUAGES, N_, Catalogues, choose_language
from handlers.state import COMING_BACK, METRICS, SERVICE, SETTINGS
from suppression.addresses import mask_address
from suppression.config import Settings
from suppression.errors import BadReturn, BadToken, BadUndo, StoreUnavailable
from suppression.links import ONE_CLICK
from suppression.ratelimit import SlidingWindow
from suppression.tokens import RETURN_MAX_AGE_SECONDS, LinkClaim
from suppression.service import Leaving
from suppression.model import ALL_EMAILS, Actor, Reason, Scope, Source

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024
# A form of ours has a field a topic and a few more; aiohttp's 1,000 parts of a multipart form
# took 100 ms of the loop to refuse, and ten such requests at once a second of everyone's.
FORM_FIELDS_BESIDE_TOPICS = 64
ACTOR = Actor.RECIPIENT  # who acts through a link: the person holding it
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LINK_CHANGES_PER_DAY = 10  # pauses and undos asked through one address's links in a day; past them 429


class Pages:
    """The templates, the translations, the stylesheet and the headers every page carries."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.catalogues = Catalogues()
        # plain.css: the colours, the type and the column, all that the one-click answer carries
        # (mail providers POST it and read no page); the other pages add page.css.
        self.plain_css = (TEMPLATES / "plain.css").read_text(encoding="utf-8")
        self.css = self.plain_css + (TEMPLATES / "page.css").read_text(encoding="utf-8")
        sheets = " ".join(f"'sha256-{_digest(css)}'" for css in (self.css, self.plain_css))
        self.headers = {
            # Only our inline stylesheet may apply; no scripts, images, frames or other origins.
            "Content-Security-Policy": (
                f"default-src 'none'; style-src {sheets}; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Language",
        }
        self._one_click: dict[str, bytes] = {}
        self.max_fields = FORM_FIELDS_BESIDE_TOPICS + len(settings.topics)

    def one_click_page(self, lang: str) -> bytes:
        # Mail providers send this POST and ignore the body: one page a language, rendered once.
        if lang not in self._one_click:
            self._one_click[lang] = self.render("one_click.html", lang=lang, title=N_("Unsubscribed"),
                                                switcher=False, css=self.plain_css).body
        return self._one_click[lang]

    def render(self, template: str, status: int = 200, *, lang: str, switcher: bool = True, css: str | None = None,
               **context) -> web.Response:
        html = self.env.get_template(template).render(
            css=self.css if css is None else css, company=self.settings.service.company_name, lang=lang,
            _=self.catalogues.gettext(lang), languages=list(LANGUAGES.items()) if switcher else [], **context,
        )
        response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
        response.headers["Content-Language"] = lang
        return response

    def problem(self, status: int, heading: str, message: str, lang: str = DEFAULT_LANGUAGE,
                offer_email: bool = True) -> web.Response:
        address = self.settings.smtp.request_addresses[0] if offer_email else ""
        return self.render(
            "problem.html", status, lang=lang, title=heading, heading=heading, message=message,
            request_address=address,
            mailto=Markup('<a href="mailto:{0}?subject=unsubscribe">{0}</a>').format(address),
        )

    def label(self, scope: Scope, lang: str) -> str:
        """How a scope reads in a list: "Email newsletters", "All emails from PLUS"."""
        if scope.everything:
            return self.catalogues.gettext(lang)(N_("All emails from %(company)s"),
                                                 company=self.settings.service.company_name)
        # A topic taken out of the config since the person left it still names what they left.
        return self.settings.topics.get(scope.topic, scope.topic)

    def choices(self, linked: Scope, suppressed: set[Scope], lang: str) -> list[dict]:
        """Every topic (the link's first) and all emails, with what is chosen and what is already
        so; each choice's `id` is its scope's name, which the form sends back."""
        scopes = [Scope.of_topic(t) for t in self.settings.topics]
        if not linked.everything:
            scopes.remove(linked)
            scopes.insert(0, linked)
        everything = ALL_EMAILS in suppressed
        rows = [{"id": s.name, "label": self.label(s, lang), "checked": s == linked or s in suppressed or everything,
                 "already": s in suppressed or everything} for s in scopes]
        rows.append({"id": ALL_EMAILS.name, "label": self.label(ALL_EMAILS, lang),
                     "checked": linked.everything or everything, "already": everything})
        return rows


class LinkChanges:
    """How many times today an address's links paused or lifted its suppressions. Whoever holds
    a link (forwarded, or left in a log) could pause again and again, or unsubscribe and undo in
    a loop: each a change without end in the history, the webhooks and the statistics. An
    opt-out is never refused; without a lift, unsubscribing again changes nothing."""

    def __init__(self):
        self._window = SlidingWindow(LINK_CHANGES_PER_DAY, 24 * 3600)
        self._salt = os.urandom(16)  # the counts are kept by a digest, not the address

    def allows(self, email: str) -> bool:
        return self._window.allows(self._key(email))

    def record(self, email: str) -> None:
        self._window.record(self._key(email))

    def _key(self, email: str) -> str:
        return hashlib.blake2b(email.encode("utf-8", "surrogatepass"), key=self._salt, digest_size=16).hexdigest()


PAGES = web.AppKey("pages", Pages)
LINK_CHANGES = web.AppKey("link_changes", LinkChanges)
LANG = web.RequestKey("lang", str)  # the language a page is shown in
LEAVING_LABELS = (
    ("too-many", N_("I get too many emails")),
    ("not-relevant", N_("The emails are not relevant to me")),
    ("never-signed-up", N_("I never signed up")),
    ("other", N_("Another reason")),
)


# Each link also with a slash after it, which a mail program or a person may add to it.
ROUTES = ("/u/{token}", "/u/{token}/")


def add_page_routes(app: web.Application, settings: Settings) -> None:
    """/u/{token}: plain routes of the main app (a sub-app would cost every request a wrapper)."""
    app[PAGES] = Pages(settings)
    app[LINK_CHANGES] = LinkChanges()
    for path in ROUTES:
        app.router.add_get(path, as_page(show_link))  # HEAD too
        app.router.add_post(path, as_page(act_on_link))
    app.router.add_route("*", "/u/", as_page(no_token))
    for path in ("/return/{token}", "/return/{token}/"):
        app.router.add_get(path, as_page(show_return))  # HEAD too
        app.router.add_post(path, as_page(confirm_return))
    app.router.add_route("*", "/return/", as_page(no_return_token))


def as_page(handler, problem=None):
    """A page in the reader's language: a small body limit, readable error pages
    (`problem(request, exc)`, by default the recipients'), the page headers."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        pages = request.app[PAGES]
        request[LANG] = language_of(request)
        try:
            # aiohttp sizes requests by the app's limit, set for bulk JSON; forms are small.
            response = await handler(request.clone(client_max_size=MAX_FORM_BYTES, client_max_fields=pages.max_fields))
        except BaseException as exc:
            if not handled(exc):
                raise
            response = await problem(request, exc) if problem else _problem_page(pages, request, exc)
        response.headers.update(pages.headers)
        count(request, response)
        return response

    return page


def language_of(request: web.Request) -> str:
    return choose_language(request.query.get("lang"), request.headers.get("Accept-Language"))


async def show_link(request: web.Request) -> web.Response:
    service, pages, lang = request.app[SERVICE], request.app[PAGES], request[LANG]
    claim = service.links.read_link(request.match_info["token"])
    paused = await service.paused_until(claim.email)
    # While only a pause holds all emails, the person may still leave for good (or pause longer).
    suppressed = {s for s in await service.suppressed_scopes(claim.email) if not (paused and s == ALL_EMAILS)}
    return pages.render(
        "choose.html", lang=lang, title=N_("Unsubscribe"), address=_address(claim.email),
        choices=pages.choices(claim.scope, suppressed, lang), everything=ALL_EMAILS in suppressed,
        reasons=LEAVING_LABELS,
        # Offered to whoever is suppressed at all, never only to those it would help: the page
        # says nothing of whether an opt-out is the person's own, a bounce or an admin's.
        come_back=pages.settings.reply.enabled and bool(suppressed),
        pauses=request.app[SETTINGS].preferences.pause_days, paused_until=_day(paused),
    )


async def no_token(request: web.Request) -> web.Response:
    raise BadToken("the link has lost its token")


async def act_on_link(request: web.Request) -> web.Response:
    service, pages, lang = request.app[SERVICE], request.app[PAGES], request[LANG]
    claim = service.links.read_link(request.match_info["token"])
    form = await form_of(request)
    if form.get("List-Unsubscribe") == ONE_CLICK.split("=", 1)[1]:
        await service.suppress(claim.email, claim.scope, Reason.UNSUBSCRIBE, Source.ONE_CLICK, ACTOR, campaign=claim.campaign)
        return web.Response(body=pages.one_click_page(lang), content_type="text/html", charset="utf-8",
                            headers={"Content-Language": lang})
    action = form.get("action")
    if action == "come-back":
        return await ask_to_come_back(request, claim)
    if action in ("pause", "resubscribe"):
        changes = request.app[LINK_CHANGES]
        if not changes.allows(claim.email):
            return pages.problem(429, N_("Nothing was changed"), N_(
                "Your emails were changed many times today through this link. Please try again tomorrow."), lang)
        # Counted before the change, not after it: requests sent at once all passed the check
        # before the first was counted (28 changes of a burst of 200, against 10).
        changes.record(claim.email)
    if action == "unsubscribe":
        scopes = [s for s in form.getall("scope", []) if isinstance(s, str)]
        if not scopes:
            return pages.problem(400, N_("Nothing was changed"), N_("Choose at least one kind of email."), lang)
        chosen = [service.known_scope(Scope.named(s)) for s in dict.fromkeys(scopes)]  # all checked before any write
        if ALL_EMAILS in chosen:
            chosen = [ALL_EMAILS]  # all emails covers every topic
        why = Leaving.of(form.get("why"), form.get("why_text"))
        made = []
        for scope in chosen:
            suppression, created = await service.suppress(claim.email, scope, Reason.UNSUBSCRIBE, Source.LINK, ACTOR, why,
                                                          campaign=claim.campaign)
            if created:
                made.append(suppression)
        if why is not None and made:
            request.app[METRICS].leaving[why.reason or "unstated"] += 1
        changed = [s.scope for s in made]
        undo = [service.links.mint_undo(s) for s in made]
    elif action == "pause":
        days = form.get("days")
        if not isinstance(days, str) or not days.isascii() or not days.isdigit() or len(days) > 5:  # not "²"
            return pages.problem(400, N_("Nothing was changed"), N_("We could not understand this request."), lang)
        until, undo_token = await service.pause(claim.email, int(days), Source.LINK, ACTOR,
                                                campaign=claim.campaign)
        return pages.render("paused.html", lang=lang, title=N_("Your emails are paused"), address=_address(claim.email),
                            until=_day(until), undo=[undo_token])
    elif action == "resubscribe":
        tokens = [t for t in form.getall("undo", []) if isinstance(t, str)]
        changed = await service.undo(claim.email, tokens, ACTOR)
        undo = []
    else:
        return pages.problem(
            400, N_("Nothing was changed"),
            N_("This request did not say what to do. Open the link from your email again and press the button."), lang,
        )
    remaining = await service.suppressed_scopes(claim.email)
    return pages.render(
        "done.html", lang=lang, title=N_("Unsubscribed") if action == "unsubscribe" else N_("Subscribed again"),
        unsubscribed=action == "unsubscribe", address=_address(claim.email), undo=undo,
        changed=[pages.label(s, lang) for s in changed],
        changed_scopes=[s.name for s in changed],
        remaining=[pages.label(s, lang) for s in sorted(remaining, key=lambda s: s.stored)],  # all emails first
    )


async def ask_to_come_back(request: web.Request, claim: LinkClaim) -> web.Response:
    """The same answer whatever applies (own opt-out, bounce, complaint, admin's entry, erasure,
    nothing, the day's limit reached), after the same work: the mail, if any, goes beside it."""
    pages, lang = request.app[PAGES], request[LANG]
    if not pages.settings.reply.enabled:
        return pages.problem(400, N_("Nothing was changed"), N_(
            "This page cannot send confirmations. To receive our emails again, write to us."), lang)
    # The campaign of the link they came back through goes with the lift it confirms.
    await request.app[COMING_BACK].ask(claim.email, claim.campaign, lang)
    request_address = pages.settings.smtp.request_addresses[0]
    return pages.render("come_back_asked.html", lang=lang, title=N_("Check your email"),
                        address=_address(claim.email), days=RETURN_MAX_AGE_SECONDS // 86400,
                        mailto=Markup('<a href="mailto:{0}">{0}</a>').format(request_address))


async def no_return_token(request: web.Request) -> web.Response:
    raise BadReturn("the confirmation link has lost its token")


async def show_return(request: web.Request) -> web.Response:
    """The confirmation mailed to a person who asked to come back: a button, never a change (GET)."""
    pages, lang = request.app[PAGES], request[LANG]
    claim = request.app[COMING_BACK].read(request.match_info["token"])
    return pages.render("come_back.html", lang=lang, title=N_("Receive our emails again?"),
                        address=_address(claim.email))


async def confirm_return(request: web.Request) -> web.Response:
    """The POST of that page: the person's own opt-outs are lifted (again: nothing more)."""
    service, pages, lang = request.app[SERVICE], request.app[PAGES], request[LANG]
    coming_back = request.app[COMING_BACK]
    coming_back.read(request.match_info["token"])  # a bad link is told so before the form is read
    form = await form_of(request)
    # The link does one thing: a POST that says nothing (CONTRACT §10: "only a POST on that
    # link lifts") confirms as the page's button does; one that says something else, or sends
    # a body that is no form (which aiohttp reads as an empty one), is refused.
    not_a_form = request.body_exists and request.content_type not in FORM_TYPES
    if not_a_form or form.get("action", "come-back") != "come-back":
        return pages.problem(
            400, N_("Nothing was changed"),
            N_("This request did not say what to do. Open the link from your email again and press the button."), lang,
        )
    claim, lifted = await coming_back.confirm(request.match_info["token"])
    remaining = await _held(service, claim.email, pages.settings.topics)
    back = _back(lifted, remaining, pages.settings.topics)
    title = (N_("Subscribed again") if back else N_("Your unsubscribe is withdrawn") if lifted
             else N_("Nothing more to change"))
    return pages.render(
        "come_back_done.html", lang=lang, title=title, withdrawn=bool(lifted),
        address=_address(claim.email), changed=[pages.label(s, lang) for s in back],
        remaining=[pages.label(s, lang) for s in sorted(remaining, key=lambda s: s.stored)],
    )


async def _held(service, email: str, topics) -> set[Scope]:
    """The scopes whose mail does not reach an address now, as checks answer, whoever's entry
    holds them (its own, another party's, a *@DOMAIN entry's): all emails alone, if it is held."""
    if (await service.check(email)).suppressed:
        return {ALL_EMAILS}
    scopes = await service.suppressed_scopes(email)
    return scopes | {s for s in map(Scope.of_topic, topics) if (await service.check(email, s)).suppressed}


def _back(lifted: list[Scope], held: set[Scope], topics) -> list[Scope]:
    """What mail comes again once the person's own opt-outs are lifted: a scope nothing else
    holds; all emails, while some topics are held, as the topics that are not (a reviewing
    helper's: the page said an admin's topic was back, and still unsubscribed)."""
    if ALL_EMAILS in held:
        return []
    back = []
    for scope in lifted:
        if scope == ALL_EMAILS and held:  # all but the topics held; mail of no topic, if every one is
            back.extend([Scope.of_topic(t) for t in topics if Scope.of_topic(t) not in held] or [ALL_EMAILS])
        elif scope not in held:
            back.append(scope)
    return list(dict.fromkeys(back))


def _day(timestamp: str | None) -> str | None:
    """The day a pause ends, as people read dates in every language the pages speak: YYYY-MM-DD (UTC)."""
    return timestamp[:10] if timestamp else None


def _address(email: str) -> Markup:
    return Markup('<span class="address">{}</span>').format(mask_address(email))


def _problem_page(pages: Pages, request: web.Request, exc: Exception) -> web.Response:
    failure = classify(request, exc)
    lang = request.get(LANG, DEFAULT_LANGUAGE)
    if isinstance(exc, BadReturn):
        response = pages.problem(400, N_("This confirmation link is not valid"), N_(
            "It may have been cut off on its way to you, or it is more than a week old. To ask again,"
            " open the unsubscribe link in any of our emails."), lang, offer_email=False)  # not about leaving
    elif isinstance(exc, BadUndo):
        response = pages.problem(400, N_("Nothing was changed"), N_(
            "This undo has expired or was not offered to you here. To receive our emails again, write to us."), lang)
    elif isinstance(exc, BadToken):
        response = pages.problem(400, N_("This unsubscribe link is not valid"), N_(
            "It may have been cut off or changed on its way to you, or it is too old."), lang)
    elif isinstance(exc, StoreUnavailable):
        response = pages.problem(503, N_("Please try again in a minute"), N_(
            "We could not save your choice just now; nothing was changed."), lang)
    elif failure.status == 413:
        response = pages.problem(413, N_("Nothing was changed"), N_("The request was too large."), lang)
    elif failure.status < 500:
        response = pages.problem(failure.status, N_("Nothing was changed"), N_(
            "We could not understand this request."), lang)
    else:
        response = pages.problem(500, N_("Something went wrong"), N_(
            "Nothing was changed; we have been told about it."), lang)
    response.headers.update(failure.headers)
    return response


def _digest(css: str) -> str:
    """A stylesheet's hash as a Content-Security-Policy source names it."""
    return base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
