"""The review desk in a browser (CONTRACT §6): people sign in with an admin key and decide the
messages under review, oldest first.

Server-rendered forms, no JavaScript. The session is a signed cookie (HttpOnly, SameSite=Strict,
Secure under https, ending after SESSION_SECONDS) naming the key and a random nonce; every POST,
the sign-in's included, carries a CSRF token derived from that nonce, and signing in starts a
new nonce. Each request checks the key again, so a revoked key ends its sessions.
"""

import asyncio
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web
from itsdangerous import BadSignature, Signer, URLSafeSerializer

from handlers.bodies import form_of, message_id_of
from handlers.errors import classify
from markupsafe import Markup

from handlers.locale import DEFAULT_LANGUAGE, N_
from handlers.pages import LANG, PAGES, Pages, as_page
from handlers.state import SERVICE
from handlers.workers import client_address
from suppression.apikeys import ApiKey
from suppression.errors import SuppressionError
from suppression.model import Actor, Role, Scope, Status
from suppression.ratelimit import SlidingWindow
from suppression.service import SuppressionService

SESSION_COOKIE = "desk_session"
SESSION_SECONDS = 8 * 3600
_SESSION_SALT = "suppression.desk-session.v1"
_CSRF_SALT = "suppression.desk-csrf.v1"
_SHOWN = 200  # messages on one page of the desk; the oldest first
SIGN_IN_FAILURES = 10  # failed sign-ins from one client address in SIGN_IN_WINDOW_SECONDS; then 429
SIGN_IN_WINDOW_SECONDS = 600


@dataclass(frozen=True)
class DeskSession:
    key_id: str  # "" before signing in
    nonce: str
    issued: float


class DeskSessions:
    """Signs and reads session cookies and their CSRF tokens; `clock` is the time source."""

    def __init__(self, signing_keys: tuple[str, ...], secure: bool, clock: Callable[[], float] = time.time):
        # Failed sign-ins per client address: an admin key cannot be guessed, but the hashing of
        # each try is work anyone could ask of us without end.
        self.failures = SlidingWindow(SIGN_IN_FAILURES, SIGN_IN_WINDOW_SECONDS)
        # Ours are newest first; itsdangerous signs with the last of its list.
        self._cookies = URLSafeSerializer(list(signing_keys[::-1]), salt=_SESSION_SALT)
        self._csrf = Signer(list(signing_keys[::-1]), salt=_CSRF_SALT)
        self.secure = secure
        self.clock = clock
        # Sessions signed out before their time: their cookies are refused from then on, though
        # a copy kept elsewhere is still signed. Kept by this process, pruned as they expire.
        self._ended: dict[str, float] = {}  # nonce -> issued, in the order they ended

    def start(self, key_id: str = "") -> tuple[DeskSession, str]:
        """A new session (signed in as `key_id`, or not yet) and its cookie value."""
        session = DeskSession(key_id, secrets.token_urlsafe(16), self.clock())
        return session, self._cookies.dumps([session.key_id, session.nonce, session.issued])

    def read(self, cookie: str | None) -> DeskSession | None:
        """The session a cookie holds, if we signed it and it has not ended."""
        if not cookie or len(cookie) > 1000:
            return None
        try:
            key_id, nonce, issued = self._cookies.loads(cookie)
        except (BadSignature, ValueError, TypeError):
            return None
        if not (isinstance(key_id, str) and isinstance(nonce, str) and isinstance(issued, (int, float))):
            return None
        if not 0 <= self.clock() - issued <= SESSION_SECONDS or nonce in self._ended:
            return None
        return DeskSession(key_id, nonce, issued)

    def end(self, session: DeskSession) -> None:
        """Refuse this session's cookie from now on (signing out). Only a signed-in one needs it:
        a cookie signed in as no one opens nothing, and anyone may have as many as they ask for
        (50,000 such sign-outs were each kept 8 hours, and each rebuilt the whole list)."""
        if not session.key_id:
            return
        # Those at the front that have expired go; one behind a live one waits its turn, which
        # bounds the list by the sign-outs of admins in SESSION_SECONDS, with no walk through it.
        now = self.clock()
        while self._ended and now - next(iter(self._ended.values())) > SESSION_SECONDS:
            del self._ended[next(iter(self._ended))]
        self._ended[session.nonce] = session.issued

    def csrf(self, session: DeskSession) -> str:
        return self._csrf.get_signature(session.nonce).decode("ascii")

    def csrf_ok(self, session: DeskSession, token) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self.csrf(session).encode())

    def set_cookie(self, response: web.StreamResponse, value: str) -> None:
        response.set_cookie(
            SESSION_COOKIE, value, max_age=SESSION_SECONDS, path="/admin", httponly=True,
            samesite="Strict", secure=self.secure,
        )


DESK = web.AppKey("desk", DeskSessions)


def add_desk_routes(app: web.Application, signing_keys: tuple[str, ...], secure: bool) -> None:
    app[DESK] = DeskSessions(signing_keys, secure)
    app.router.add_get("/admin", as_desk_page(_to_the_desk))
    app.router.add_get("/admin/", as_desk_page(show_desk))
    app.router.add_post("/admin/signin", as_desk_page(sign_in))
    app.router.add_post("/admin/signout", as_desk_page(sign_out))
    app.router.add_post("/admin/messages/{id}/resolve", as_desk_page(resolve))


async def _to_the_desk(request: web.Request) -> web.Response:
    return _redirect("/admin/")


class Refused(Exception):
    """A desk request without a valid session or CSRF token; nothing was changed."""


def as_desk_page(handler):
    """A desk page: as a recipients' page, but a refused session leads back to the sign-in."""
    return as_page(handler, problem=_desk_problem)


async def _desk_problem(request: web.Request, exc: BaseException) -> web.Response:
    if isinstance(exc, Refused):
        return await sign_in_page(request, str(exc), status=403)
    failure = classify(request, exc)
    return request.app[PAGES].problem(failure.status, N_("Nothing was changed"), failure.message,
                                      request.get(LANG, DEFAULT_LANGUAGE), offer_email=False)


async def show_desk(request: web.Request) -> web.StreamResponse:
    session, key = await signed_in(request)
    if key is None:
        return await sign_in_page(request)
    done = request.query.get("done", "")
    return await _desk_page(request, session, key, done=f"Message #{done} is settled." if done.isdigit() else "")


async def sign_in(request: web.Request) -> web.StreamResponse:
    desk, service = request.app[DESK], request.app[SERVICE]
    form = await form_of(request)
    session = desk.read(request.cookies.get(SESSION_COOKIE))
    if session is None or not desk.csrf_ok(session, form.get("csrf")):
        raise Refused(N_("The sign-in form had expired. Please sign in again."))
    client = client_address(request)  # a worker's peer, for a sign-in a worker passed on
    presented = form.get("key")
    presented = presented.strip() if isinstance(presented, str) else ""
    key = await service.api_keys.authenticate(presented) if presented else None
    if key is None:
        # Wrong keys are limited, a right one never: behind the TLS proxy the docs ask for, every
        # client has the proxy's address, and a stranger's ten wrong keys kept every admin out.
        if not desk.failures.allows(client):
            return await sign_in_page(request, N_("Too many failed sign-ins from here. Please wait a few minutes."),
                                       status=429)
        desk.failures.record(client)
        return await sign_in_page(request, N_("That key is not valid."), status=401)
    if not key.allows(Role.ADMIN):
        return await sign_in_page(request, N_("This key may not use the desk: it needs an admin key."), status=403)
    _, cookie = desk.start(key.key_id)  # a new nonce: nothing from before signing in carries over
    response = _redirect("/admin/")
    desk.set_cookie(response, cookie)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    desk = request.app[DESK]
    session = desk.read(request.cookies.get(SESSION_COOKIE))
    form = await form_of(request)
    if session is None or not desk.csrf_ok(session, form.get("csrf")):
        raise Refused(N_("Your session had ended."))
    desk.end(session)
    response = _redirect("/admin/")
    response.del_cookie(SESSION_COOKIE, path="/admin")
    return response


async def resolve(request: web.Request) -> web.StreamResponse:
    desk, service = request.app[DESK], request.app[SERVICE]
    session, key = await signed_in(request)
    form = await form_of(request)
    if key is None or not desk.csrf_ok(session, form.get("csrf")):
        raise Refused(N_("Your session had ended, or the form was not ours: nothing was changed. Please sign in."))
    message_id = message_id_of(request.match_info["id"])
    action, note = form.get("action"), form.get("note") or None
    scope = Scope.of_topic(str(form.get("topic") or ""))  # the form's "" is all emails
    emails = [e.strip(",;") for e in str(form.get("emails") or "").split() if e.strip(",;")]
    try:
        await service.review.resolve(message_id, str(action or ""), Actor.of_desk(key.name),
                              emails if action == "suppress" and emails else None, scope, note)
    except SuppressionError as exc:
        failure = classify(request, exc)
        return await _desk_page(request, session, key, error=f"Message #{message_id}: {failure.message}",
                                status=failure.status)
    return _redirect(f"/admin/?done={message_id}")


async def signed_in(request: web.Request) -> tuple[DeskSession | None, ApiKey | None]:
    """The session and its key, if the cookie is valid and the key is still an admin key."""
    session = request.app[DESK].read(request.cookies.get(SESSION_COOKIE))
    if session is None or not session.key_id:
        return session, None
    key = await request.app[SERVICE].store.find_api_key(session.key_id)
    if key is None or not key.allows(Role.ADMIN):
        return session, None
    return session, key


async def sign_in_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    desk, pages = request.app[DESK], request.app[PAGES]
    session = desk.read(request.cookies.get(SESSION_COOKIE))
    cookie = None
    if session is None or session.key_id:
        session, cookie = desk.start()
    lang = request.get(LANG, DEFAULT_LANGUAGE)
    response = pages.render(
        "desk_signin.html", status, lang=lang, title=N_("Review desk"), csrf=desk.csrf(session),
        error=pages.catalogues.gettext(lang)(error) if error else "", hours=SESSION_SECONDS // 3600,
        command=Markup("<code>suppression apikey create NAME --scope admin</code>"),
    )
    if cookie is not None:
        desk.set_cookie(response, cookie)
    return response


async def _desk_page(request, session: DeskSession, key: ApiKey, done: str = "", error: str = "",
                     status: int = 200) -> web.Response:
    service: SuppressionService = request.app[SERVICE]
    pages: Pages = request.app[PAGES]
    messages, _ = await service.review.inbox(Status.REVIEW, None, _SHOWN)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    csrf = request.app[DESK].csrf(session)

    def page() -> web.Response:
        rows = []
        for m in messages:
            due = service.review.due(m)
            rows.append({
                "id": m.id, "subject": shown(m.subject), "sender": shown(m.sender), "mail_from": shown(m.mail_from),
                "received": m.received_at, "due": due, "overdue": due < now, "words": shown(m.words or ""),
                "reasons": [shown(r) for r in m.reasons],
                "addresses": m.found or [a for a in [m.sender or m.mail_from] if a],
            })
        return pages.render(
            "desk.html", status, lang=DEFAULT_LANGUAGE, switcher=False, title="Review desk", main_class="wide",
            csrf=csrf, who=key.name, messages=rows, overdue=sum(r["overdue"] for r in rows), done=done, error=error,
            topics=list(service.settings.topics.items()),
        )

    # In a thread: 200 rows of a stranger's words, 9 MB of page, took 83-115 ms to build and
    # render; there the loop takes its turns between (the interpreter switches every few ms).
    return await asyncio.to_thread(page)


# Bidirectional controls and invisible format characters make a text read as another to the
# person deciding ("moc.elpmaxe@" shown as "@example.com"); on the desk they are named instead.
_HIDDEN = {c: f"[U+{c:04X}]" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C,
                                       0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)}
_ANY_HIDDEN = re.compile("[%s]" % "".join(map(chr, _HIDDEN)))


def shown(text: str | None) -> str | None:
    """Text as the desk shows it: what would hide or reorder characters is spelled out. Looked for
    in C first: str.translate reads its table in Python for each character of a text that is not
    all ASCII, 15 times slower on ordinary non-ASCII words (the page is built in a thread too)."""
    if not text or _ANY_HIDDEN.search(text) is None:
        return text
    return text.translate(_HIDDEN)


def _redirect(location: str) -> web.Response:
    # 303: the browser follows with a GET, so a reload never posts a decision twice.
    return web.Response(status=303, headers={"Location": location})
