"""What recipients see: the unsubscribe page, RFC 8058 one-click, confirmation and undo.

GET never changes state (mail scanners and link previewers fetch every link); only a POST
does. Pages work without JavaScript, cookies or CSRF tokens: the signed token in the URL is
the only credential, as RFC 8058 requires for one-click.
"""

import base64
import functools
import hashlib
from pathlib import Path

import jinja2
from aiohttp import web

from handlers.errors import classify, count, handled
from handlers.state import SERVICE
from suppression.addresses import mask_address
from suppression.config import RESERVED_SCOPE, Settings
from suppression.errors import BadToken, BadUndo, StoreUnavailable
from suppression.links import ONE_CLICK
from suppression.store import ALL_TOPICS

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024
ACTOR = "recipient"  # who acts through a link: the person holding it


class Pages:
    """The templates, the stylesheet and the headers every page carries."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.css = (TEMPLATES / "page.css").read_text(encoding="utf-8")
        css_hash = base64.b64encode(hashlib.sha256(self.css.encode("utf-8")).digest()).decode()
        self.headers = {
            # Only our one inline stylesheet may apply; no scripts, images, frames or other origins.
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'sha256-{css_hash}'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
        }

    @functools.cached_property
    def one_click_page(self) -> bytes:
        return self.render("one_click.html", title="Unsubscribed").body

    def render(self, template: str, status: int = 200, **context) -> web.Response:
        html = self.env.get_template(template).render(
            css=self.css, company=self.settings.service.company_name, **context
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def problem(self, status: int, heading: str, message: str, offer_email: bool = True) -> web.Response:
        return self.render(
            "problem.html", status, title=heading, heading=heading, message=message,
            request_address=self.settings.smtp.request_addresses[0] if offer_email else "",
        )

    def label(self, scope: str | None) -> str:
        """How a scope reads in a sentence: "Email newsletters", "any emails from PLUS"."""
        if scope is None:
            return f"any emails from {self.settings.service.company_name}"
        return self.settings.topics[scope]

    @property
    def all_label(self) -> str:
        return f"All emails from {self.settings.service.company_name}"

    def choices(self, topic: str | None) -> list[dict]:
        """The linked topic first and chosen, the other topics, then all emails."""
        topics = list(self.settings.topics)
        if topic is not None:
            topics.remove(topic)
            topics.insert(0, topic)
        rows = [{"id": t, "label": self.settings.topics[t], "checked": t == topic} for t in topics]
        rows.append({
            "id": RESERVED_SCOPE,
            "label": self.all_label,
            "checked": topic is None,
        })
        return rows


PAGES = web.AppKey("pages", Pages)


def add_page_routes(app: web.Application, settings: Settings) -> None:
    """/u/{token}: plain routes of the main app (a sub-app would cost every request a wrapper)."""
    app[PAGES] = Pages(settings)
    app.router.add_get("/u/{token}", as_page(show_link))  # HEAD too
    app.router.add_post("/u/{token}", as_page(act_on_link))
    app.router.add_route("*", "/u/", as_page(no_token))


def as_page(handler, problem=None):
    """A page: a small body limit, readable error pages (`problem(request, exc)`, by default the
    recipients'), the page headers."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        pages = request.app[PAGES]
        try:
            # aiohttp sizes requests by the app's limit, set for bulk JSON; forms are small.
            response = await handler(request.clone(client_max_size=MAX_FORM_BYTES))
        except BaseException as exc:
            if not handled(exc):
                raise
            response = await problem(request, exc) if problem else _problem_page(pages, request, exc)
        response.headers.update(pages.headers)
        count(request, response)
        return response

    return page


async def show_link(request: web.Request) -> web.Response:
    service, pages = request.app[SERVICE], request.app[PAGES]
    claim = service.read_link(request.match_info["token"])
    scopes = await service.suppressed_scopes(claim.email)
    already = [pages.label(None if s == ALL_TOPICS else s) for s in sorted(scopes)]
    return pages.render(
        "choose.html", title="Unsubscribe", masked=mask_address(claim.email),
        choices=pages.choices(claim.topic), already=already,
    )


async def no_token(request: web.Request) -> web.Response:
    raise BadToken("the link has lost its token")


async def act_on_link(request: web.Request) -> web.Response:
    service, pages = request.app[SERVICE], request.app[PAGES]
    claim = service.read_link(request.match_info["token"])
    form = await request.post()
    if form.get("List-Unsubscribe") == ONE_CLICK.split("=", 1)[1]:
        await service.suppress(claim.email, claim.topic, "unsubscribe", "one-click", ACTOR)
        # Mail providers send this POST and ignore the body: one page, rendered once.
        return web.Response(body=pages.one_click_page, content_type="text/html", charset="utf-8")
    action, scope = form.get("action"), form.get("scope")
    if action not in ("unsubscribe", "resubscribe") or not isinstance(scope, str):
        return pages.problem(
            400, "Nothing was changed",
            "This request did not say what to do. Open the link from your email again and press the button.",
        )
    topic, masked = (None if scope == RESERVED_SCOPE else scope), mask_address(claim.email)
    if action == "unsubscribe":
        suppression, created = await service.suppress(claim.email, topic, "unsubscribe", "link", ACTOR)
        changed = created
        undo = service.mint_undo(suppression) if created else ""
    else:
        undo_token = form.get("undo")
        # Only the undo this address's own unsubscribe handed out lifts anything, and only that
        # suppression: a link alone never lifts one made by an admin, a bounce or an import.
        changed = await service.undo(claim.email, topic, undo_token if isinstance(undo_token, str) else "", ACTOR)
        undo = ""
    remaining = await service.suppressed_scopes(claim.email)
    return pages.render(
        "done.html", title="Unsubscribed" if action == "unsubscribe" else "Subscribed again",
        unsubscribed=action == "unsubscribe", changed=changed, masked=masked, label=pages.label(topic),
        scope=scope, undo=undo,
        remaining=[pages.settings.topics[s] if s != ALL_TOPICS else pages.all_label for s in sorted(remaining)],
    )


def _problem_page(pages: Pages, request: web.Request, exc: Exception) -> web.Response:
    failure = classify(request, exc)
    if isinstance(exc, BadUndo):
        response = pages.problem(
            400, "Nothing was changed",
            "This undo has expired or was not offered to you here. To receive our emails again, write to us.",
        )
    elif isinstance(exc, BadToken):
        response = pages.problem(
            400, "This unsubscribe link is not valid",
            "It may have been cut off or changed on its way to you, or it is too old.",
        )
    elif isinstance(exc, StoreUnavailable):
        response = pages.problem(503, "Please try again in a minute", "We could not save your choice just now; nothing was changed.")
    elif failure.status == 413:
        response = pages.problem(413, "Nothing was changed", "The request was too large.")
    elif failure.status < 500:
        response = pages.problem(failure.status, "Nothing was changed", "We could not understand this request.")
    else:
        response = pages.problem(500, "Something went wrong", "Nothing was changed; we have been told about it.")
    response.headers.update(failure.headers)
    return response

