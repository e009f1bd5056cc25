"""The review desk over real HTTP (CONTRACT §6): sign-in, sessions, CSRF, and deciding messages."""

import re

import pytest

from handlers.app import build_app
from handlers.desk import DESK, SESSION_SECONDS
from handlers.state import INTAKE, SERVICE
from tests.support.settings import make_settings

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

REQUEST = (b"Authentication-Results: mx.plusnxt.com; dmarc=fail\r\nFrom: Jane <jane@example.com>\r\n"
           b"Subject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n\r\nOn Mon, Jan 1, 2024 PLUS wrote:\r\n"
           b"> Our newsletter. Click here to unsubscribe.\r\n")


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data", smtp={"trusted_authserv_ids": ["mx.plusnxt.com"]})


async def under_review(client, raw: bytes = REQUEST, sender: str = "jane@example.com") -> int:
    intake = client.app[INTAKE]
    message_id = await intake.receive(raw, sender, ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"
    return message_id


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def sign_in(client, key: str):
    page = await client.get("/admin/")
    return await client.post("/admin/signin", data={"csrf": csrf_of(await page.text()), "key": key},
                             allow_redirects=False)


async def signed_in(client, key: str) -> str:
    """Sign in and return the desk's CSRF token."""
    answer = await sign_in(client, key)
    assert answer.status == 303
    desk = await client.get("/admin/")
    assert "Sign out" in await desk.text()
    return csrf_of(await desk.text())


async def test_the_session_cookie_is_httponly_strict_and_scoped(client):
    page = await client.get("/admin/")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # base_url is http here
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"


async def test_under_https_the_cookie_is_secure(aiohttp_client, tmp_path):
    client = await aiohttp_client(build_app(make_settings(tmp_path / "d", service={"base_url": "https://u.example"})))
    assert "Secure" in (await client.get("/admin/")).headers["Set-Cookie"]


async def test_signing_in_needs_the_forms_token_and_an_admin_key(client, admin_key, check_key):
    page = await client.get("/admin/")
    assert (await client.post("/admin/signin", data={"key": admin_key})).status == 403  # no token
    assert (await client.post("/admin/signin", data={"key": admin_key, "csrf": "forged"})).status == 403
    token = csrf_of(await page.text())
    wrong = await client.post("/admin/signin", data={"key": "sk_nothing", "csrf": token})
    assert wrong.status == 401 and "not valid" in await wrong.text()
    checker = await client.post("/admin/signin", data={"key": check_key, "csrf": token})
    assert checker.status == 403 and "needs an admin key" in await checker.text()
    assert "Sign out" not in await (await client.get("/admin/")).text()


async def test_an_admin_decides_messages_oldest_first(client, admin_key):
    first = await under_review(client)
    second = await under_review(client, b"From: Ann <ann@example.com>\r\nSubject: hours\r\n\r\nWhen are you open?\r\n",
                                "ann@example.com")
    token = await signed_in(client, admin_key)
    html = await (await client.get("/admin/")).text()
    assert html.index(f"#{first}:") < html.index(f"#{second}:")
    assert "Please unsubscribe me." in html and "Our newsletter" not in html  # their own words, not the quote
    assert "failed authentication" in html
    answer = await client.post(f"/admin/messages/{first}/resolve", allow_redirects=False, data={
        "csrf": token, "action": "suppress", "emails": "jane@example.com\nj.doe@example.com", "topic": "newsletters"})
    assert answer.status == 303
    message = await client.app[SERVICE].review.inbox_message(first)
    assert (message.status, message.addresses, message.resolved_by) == (
        "resolved", ["jane@example.com", "j.doe@example.com"], "desk:admin-tests")
    refused = await client.post(f"/admin/messages/{second}/resolve", data={"csrf": token, "action": "dismiss"})
    assert refused.status == 400 and "note" in await refused.text()
    await client.post(f"/admin/messages/{second}/resolve", data={"csrf": token, "action": "dismiss", "note": "a question"})
    assert (await client.app[SERVICE].review.inbox_message(second)).status == "dismissed"
    assert "Nothing to decide" in await (await client.get("/admin/")).text()


async def test_a_decision_without_the_session_or_its_token_changes_nothing(client, aiohttp_client, settings, admin_key):
    message_id = await under_review(client)
    token = await signed_in(client, admin_key)
    for data in ({"action": "dismiss", "note": "x"}, {"action": "dismiss", "note": "x", "csrf": "forged"}):
        assert (await client.post(f"/admin/messages/{message_id}/resolve", data=data)).status == 403
    # Another browser, signed in itself, cannot use this one's token either.
    other = await aiohttp_client(client.server)
    await signed_in(other, admin_key)
    answer = await other.post(f"/admin/messages/{message_id}/resolve", data={"action": "dismiss", "note": "x", "csrf": token})
    assert answer.status == 403
    client.session.cookie_jar.clear()  # no cookie at all
    answer = await client.post(f"/admin/messages/{message_id}/resolve", data={"action": "dismiss", "note": "x", "csrf": token})
    assert answer.status == 403
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"


async def test_an_expired_session_is_refused(client, admin_key):
    message_id = await under_review(client)
    token = await signed_in(client, admin_key)
    desk = client.app[DESK]
    started = desk.clock()
    desk.clock = lambda: started + SESSION_SECONDS + 1
    assert "Sign in" in await (await client.get("/admin/")).text()
    answer = await client.post(f"/admin/messages/{message_id}/resolve", data={"csrf": token, "action": "dismiss", "note": "x"})
    assert answer.status == 403
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"


async def test_revoking_the_key_ends_its_sessions(client, admin_key):
    await signed_in(client, admin_key)
    await client.app[SERVICE].api_keys.revoke_api_key("admin-tests")
    assert "Sign in" in await (await client.get("/admin/")).text()


async def test_an_empty_or_shortened_csrf_token_is_refused(client, admin_key):
    message_id = await under_review(client)
    token = await signed_in(client, admin_key)
    for forged in ("", token[:1], token[:-1], token + "x"):
        answer = await client.post(f"/admin/messages/{message_id}/resolve", data={"csrf": forged, "action": "dismiss",
                                                                                  "note": "x"})
        assert answer.status == 403, forged
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"


async def test_bidirectional_controls_are_named_on_the_desk_not_obeyed(client, admin_key):
    # U+202E would show "moc.elpmaxe@evil" as "live@example.com" to the person deciding.
    raw = ("Authentication-Results: mx.plusnxt.com; dmarc=fail\r\nFrom: <x@example.com>\r\nSubject: =?utf-8?b?" + __import__("base64").b64encode(
        "Re: \u202emoc.elpmaxe@evil".encode()).decode() + "?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello \u202eereh kcilc\u202c and \u200bhidden\r\n").encode()
    await under_review(client, raw, "x@example.com")
    await signed_in(client, admin_key)
    html = await (await client.get("/admin/")).text()
    for hidden in ("\u202e", "\u202c", "\u200b"):
        assert hidden not in html
    assert "[U+202E]moc.elpmaxe@evil" in html and "[U+200B]hidden" in html


async def test_failed_sign_ins_from_one_address_are_throttled_but_a_right_key_still_signs_in(client, admin_key):
    """Behind a TLS proxy every client has the proxy's address: a stranger's wrong keys must not
    keep the admins out (ten of them every ten minutes did, until 2026-12-07)."""
    page = await client.get("/admin/")
    token = csrf_of(await page.text())
    for _ in range(10):
        assert (await client.post("/admin/signin", data={"key": "sk_guess", "csrf": token})).status == 401
    throttled = await client.post("/admin/signin", data={"key": "sk_guess", "csrf": token}, allow_redirects=False)
    assert throttled.status == 429 and "Too many failed sign-ins" in await throttled.text()
    token = csrf_of(await (await client.get("/admin/")).text())
    admitted = await client.post("/admin/signin", data={"key": admin_key, "csrf": token}, allow_redirects=False)
    assert admitted.status == 303 and admitted.headers["Location"] == "/admin/"


async def test_regression_a_signed_out_session_is_refused_even_with_its_old_cookie(client, admin_key):
    # Before: sign-out only deleted the cookie; a copy of it and its CSRF token still resolved
    # messages for 8 hours.
    message_id = await under_review(client)
    token = await signed_in(client, admin_key)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/admin/"))["desk_session"].value
    assert (await client.post("/admin/signout", data={"csrf": token}, allow_redirects=False)).status == 303
    replayed = await client.post(f"/admin/messages/{message_id}/resolve",
                                 data={"csrf": token, "action": "dismiss", "note": "x"},
                                 cookies={"desk_session": cookie}, allow_redirects=False)
    assert replayed.status == 403
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"


async def test_a_note_that_is_not_text_is_a_400_and_leaves_the_message_and_erasure_as_they_were(client, admin_key):
    """Before: a note sent as a file, or as a multipart part of another type, was stored as bytes;
    from then on the message's API answers and every erasure and access export were 500s."""
    from tests.support.http import bearer

    message_id = await under_review(client)
    token = await signed_in(client, admin_key)
    for note_part in ('name="note"\r\nContent-Type: application/octet-stream', 'name="note"; filename="note.txt"'):
        body = "".join(f'--b\r\nContent-Disposition: form-data; {part}\r\n\r\n{value}\r\n' for part, value in (
            ('name="csrf"', token), ('name="action"', "dismiss"), (note_part, "a question"))) + "--b--\r\n"
        answer = await client.post(f"/admin/messages/{message_id}/resolve", data=body.encode(), allow_redirects=False,
                                   headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert answer.status == 400, note_part
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"
    for path in (f"/v1/inbox/{message_id}", "/v1/subjects/jane@example.com"):
        assert (await client.get(path, headers=bearer(admin_key))).status == 200
    assert (await client.post("/v1/subjects/jane@example.com/erase", headers=bearer(admin_key))).status == 200


@pytest.mark.parametrize("message_id", ["99999999999999999999999", "%D9%A3"])
async def test_a_desk_decision_for_an_id_no_message_can_have_changes_nothing(client, admin_key, message_id):
    await under_review(client)
    await under_review(client)
    await under_review(client)
    token = await signed_in(client, admin_key)
    answer = await client.post(f"/admin/messages/{message_id}/resolve", data={"csrf": token, "action": "dismiss",
                                                                               "note": "x"})
    assert answer.status in (400, 404)
    assert [m.status for m in (await client.app[SERVICE].review.inbox("review", "0", 10))[0]] == ["review"] * 3


def test_only_signed_in_sessions_are_kept_as_ended_and_only_while_their_cookie_could_be_used():
    # Before: anyone's not-signed-in session was kept 8 hours at sign-out, and each sign-out
    # rebuilt the whole list: 50,000 of a stranger's sign-outs took 15 ms each of the loop.
    from handlers.desk import DeskSessions

    now = [1_000_000.0]
    desk = DeskSessions(("k" * 40,), secure=False, clock=lambda: now[0])
    stranger, stranger_cookie = desk.start()
    for _ in range(1000):
        desk.end(desk.start()[0])
    desk.end(stranger)
    assert desk._ended == {}
    assert desk.read(stranger_cookie) == stranger  # it opens nothing more than a new one would
    admin, admin_cookie = desk.start("admin-key-id")
    desk.end(admin)
    assert desk.read(admin_cookie) is None
    now[0] += SESSION_SECONDS + 1
    later, later_cookie = desk.start("admin-key-id")
    desk.end(later)
    assert list(desk._ended) == [later.nonce]  # the first had expired, and went
    assert desk.read(admin_cookie) is None and desk.read(later_cookie) is None
