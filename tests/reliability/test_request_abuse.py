"""Abuse of the request path: one sender naming many other people's addresses, forged senders."""

import email.message
from unittest import mock

import pytest
from hypothesis import given, settings as examples, strategies as st

from handlers.state import INTAKE, SERVICE, SMTP_SERVER
from suppression.inbound import authresults
from suppression.inbound.authresults import (
    MOST_FIELDS, MOST_HEADER_BYTES, HeaderTooLarge, TooManyResults, disowned, sender_verdict,
)
from suppression.inbound.classify import REQUEST, REVIEW, classify_message
from suppression.links import mint_link
from suppression.model import ALL_EMAILS, Scope
from suppression.tokens import verify_token
from tests.support.http import bearer
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, send, wait_until

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

KEY = "request-abuse-tests-key-0123456789abcdef"
MX = "mx.plusnxt.com"


@pytest.fixture
def settings(tmp_path):
    return make_settings(
        tmp_path / "data",
        signing={"secret_keys": [KEY]},
        smtp={"sender_requests_per_day": 3, "trusted_authserv_ids": [MX]},
    )


def mail(sender: str, body: str, auth: str | None = None, n: int = 0) -> bytes:
    head = f"Authentication-Results: {auth}\r\n" if auth else ""
    return (
        f"{head}From: <{sender}>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n"
        f"Message-ID: <{n}.{sender}>\r\n\r\n{body}\r\n"
    ).encode()


async def deliver(client, raw: bytes, sender: str) -> None:
    code, reply = await in_thread(send, client.app[SMTP_SERVER].port, raw, mail_from=sender)
    assert code == 250, reply


async def all_handled(client, count: int) -> list:
    store = client.app[SERVICE].store

    async def done():
        return len(await store.list_messages(None, 0, 1000)) == count and not await store.list_messages("pending", 0, 10)

    assert await wait_until(done)
    return await store.list_messages(None, 0, 1000)


async def test_one_sender_naming_many_others_is_limited_per_day_and_kept_for_review(client, check_key):
    for n in range(6):
        await deliver(client, mail("mallory@example.com", f"Please unsubscribe victim{n}@example.com", n=n), "mallory@example.com")
    await deliver(client, mail("alice@example.com", "Please unsubscribe bob@example.com"), "alice@example.com")
    for n in range(5):  # asking for oneself is never limited
        await deliver(client, mail("carol@example.com", "Unsubscribe me please", n=n), "carol@example.com")
    messages = await all_handled(client, 12)
    mallory = [m for m in messages if m.sender == "mallory@example.com"]
    assert [m.status for m in mallory] == [REQUEST] * 3 + [REVIEW] * 3
    assert all("rate limit" in m.reasons[-1] and m.addresses == [] for m in mallory[3:])
    checked = await client.post(
        "/v1/check", json={"emails": [f"victim{n}@example.com" for n in range(6)] + ["bob@example.com", "carol@example.com"]},
        headers=bearer(check_key),
    )
    assert (await checked.json())["suppressed"] == [
        "victim0@example.com", "victim1@example.com", "victim2@example.com", "bob@example.com", "carol@example.com",
    ]


async def test_the_limit_is_counted_in_the_database_not_in_memory(client):
    intake = client.app[INTAKE]
    for n in range(3):
        await deliver(client, mail("mallory@example.com", f"unsubscribe v{n}@example.com", n=n), "mallory@example.com")
    await all_handled(client, 3)
    # The count lives in the database, not in memory: re-reading a stored message sees it.
    message_id = await client.app[SERVICE].store.add_message(
        mail("mallory@example.com", "unsubscribe v9@example.com", n=9), "mallory@example.com", ["PLUSinfo@plusnxt.com"]
    )
    decision = await intake.handle(message_id, mail("mallory@example.com", "unsubscribe v9@example.com", n=9), "mallory@example.com")
    assert decision.kind == REVIEW


async def test_a_forged_sender_is_recorded_with_the_verdict_and_kept_for_review(client, admin_key):
    forged = f"{MX}; spf=fail smtp.mailfrom=bank.example; dkim=none; dmarc=fail header.from=bank.example"
    await deliver(client, mail("ceo@bank.example", "Unsubscribe me", forged), "ceo@bank.example")
    # The same claim under another server's name is the sender's own text, and is ignored.
    untrusted = "mx.evil.example; dmarc=pass header.from=bank.example"
    await deliver(client, mail("ops@bank.example", "Unsubscribe me", untrusted, n=1), "ops@bank.example")
    passed = f"{MX}; spf=pass smtp.mailfrom=shop.example; dkim=pass header.d=shop.example; dmarc=pass"
    await deliver(client, mail("jane@shop.example", "Unsubscribe me", passed, n=2), "jane@shop.example")
    first, second, third = await all_handled(client, 3)
    assert first.status == REVIEW and "failed authentication" in first.reasons[-1]
    assert first.authentication == f"dmarc=fail spf=fail dkim=none (by {MX})"
    assert (second.status, second.authentication) == (REQUEST, None)
    assert (third.status, third.authentication) == (REQUEST, f"dmarc=pass spf=pass dkim=pass (by {MX})")
    shown = await (await client.get(f"/v1/inbox/{first.id}", headers=bearer(admin_key))).json()
    assert shown["authentication"] == first.authentication


def test_a_link_token_is_honoured_whatever_the_sender_verdict():
    link = mint_link("jane@example.com", Scope("newsletters"), base_url="https://u.example", secret_keys=KEY,
                     request_address="PLUSinfo@plusnxt.com")
    raw = mail("someone@forwarder.example", f"unsubscribe\r\n\r\n> {link.url}",
               f"{MX}; dmarc=fail header.from=forwarder.example")
    decision = classify_message(raw, "someone@forwarder.example", {"plusinfo@plusnxt.com"},
                                lambda t: verify_token(KEY, t), [MX])
    # The token vouches for the address; a bare "unsubscribe" is unclear about scope: all emails.
    assert (decision.kind, decision.addresses, decision.scope) == (REQUEST, ("jane@example.com",), ALL_EMAILS)
    assert decision.authentication.startswith("dmarc=fail")


def _with_results(*values: str) -> email.message.Message:
    message = email.message.Message()
    for value in values:
        message["Authentication-Results"] = value
    return message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([f"{MX}; dmarc=fail header.from=a.example"], (True, "dmarc=fail spf=none dkim=none")),
        ([f"{MX}; spf=fail smtp.mailfrom=a.example; dkim=pass header.d=a.example"], (False, "dmarc=none spf=fail dkim=pass")),
        ([f"{MX}; spf=fail smtp.mailfrom=a.example"], (True, "dmarc=none spf=fail dkim=none")),
        ([f"{MX.upper()}; dmarc=pass", f"{MX}; dmarc=fail"], (False, "dmarc=pass spf=none dkim=none")),  # topmost wins
        (["not a header at all ;;;", f"{MX}; dmarc=fail"], (True, "dmarc=fail spf=none dkim=none")),
        (["mx.other.example; dmarc=fail"], None),
        ([f"{MX}; none"], (False, "dmarc=none spf=none dkim=none")),
        ([], None),
        # Ours on top but too long, or unreadable: no verdict, and never the forged one below it.
        ([f"{MX}; " + "dkim=fail header.d=d.example; " * 200 + "dmarc=fail", f"{MX}; dmarc=pass"], None),
        ([f"{MX}; dmarc=fail header.from=\u00e9xample.com", f"{MX}; dmarc=pass"], None),
    ],
)
def test_sender_verdict_believes_only_the_trusted_topmost_header(headers, expected):
    verdict = sender_verdict(_with_results(*headers), [MX])
    if expected is None:
        assert verdict is None
    else:
        assert (verdict.forged, verdict.summary.rsplit(" (by", 1)[0]) == expected


def test_mail_not_relayed_has_every_authentication_results_field_of_its_header_renamed():
    raw = (b"Authentication-Results: mx.plusnxt.com; dmarc=pass\r\n"
           b"From: <a@example.com>\r\nAUTHENTICATION-RESULTS : mx.plusnxt.com;\r\n\tdmarc=pass\r\n"
           b"X-Authentication-Results: other\r\nSubject: authentication-results: in a value\r\n\r\n"
           b"Authentication-Results: in the body\r\n")
    assert disowned(raw) == (
        b"X-Disowned-Authentication-Results: mx.plusnxt.com; dmarc=pass\r\n"
        b"From: <a@example.com>\r\nX-Disowned-AUTHENTICATION-RESULTS : mx.plusnxt.com;\r\n\tdmarc=pass\r\n"
        b"X-Authentication-Results: other\r\nSubject: authentication-results: in a value\r\n\r\n"
        b"Authentication-Results: in the body\r\n")
    parsed = email.message_from_bytes(disowned(raw))
    assert parsed.get_all("Authentication-Results") is None and sender_verdict(parsed, [MX]) is None
    for untouched in (b"From: <a@example.com>\r\n\r\nAuthentication-Results: x\r\n", b"\r\nAuthentication-Results: x"):
        assert disowned(untouched) is untouched


def test_a_field_after_a_bare_cr_is_renamed_too_and_a_flood_of_them_is_refused():
    # The email parser ends a line at a bare CR as well; a reviewing helper's forged dmarc=pass
    # after one was believed, and suppressed three people past a budget of one.
    raw = (b"From: <v@example.net>\r\nSubject: unsubscribe\rAuthentication-Results: " + MX.encode()
           + b"; dmarc=pass header.from=example.net\r\n\r\nunsubscribe\r\n")
    assert sender_verdict(email.message_from_bytes(raw), [MX]).passed
    assert sender_verdict(email.message_from_bytes(disowned(raw)), [MX]) is None
    fields = b"".join(b"Authentication-Results: x%d\r\n" % n for n in range(MOST_FIELDS))
    assert disowned(fields + b"\r\nbody").count(b"X-Disowned-") == MOST_FIELDS
    with pytest.raises(TooManyResults):  # each one more was a Python step on the loop
        disowned(fields + b"authentication-results and not even a field\r\n\r\nbody")


def test_the_header_ends_at_its_first_blank_line_of_any_kind_and_may_not_pass_its_size():
    # The email parser ends the header at the first blank line, whatever its line breaks: a field
    # after it is the body's, and is left as it is; one before it is renamed.
    for blank in (b"\r\r", b"\n\n", b"\r\n\r\n"):
        raw = b"From: <a@example.com>\r\nAuthentication-Results: x" + blank + b"Authentication-Results: y\r\n\r\nz"
        assert disowned(raw).count(b"X-Disowned-") == 1, blank
    field = b"Authentication-Results: mx.plusnxt.com; dmarc=pass\r\n"
    padding = b"X-Pad: " + b"a" * (MOST_HEADER_BYTES - len(field) - 20) + b"\r\n"
    assert disowned(padding + field + b"\r\n" + b"b" * 10_000_000).count(b"X-Disowned-") == 1
    with pytest.raises(HeaderTooLarge):  # each byte of it was lowered and searched on the loop
        disowned(padding + b"X-More: " + b"a" * 40 + b"\r\n" + field + b"\r\nbody")
    with pytest.raises(HeaderTooLarge):  # no blank line: the whole message is its header
        disowned(padding * 2)


def test_a_header_whose_body_follows_at_once_ends_where_the_parser_ends_it():
    # No blank line: the email parser ends the header at the first line that cannot be a field
    # (MissingHeaderBodySeparatorDefect). Such a request, its quoted newsletter past 256 KB, was
    # refused as a header too large (a reviewing helper); it is read, and its own header's field
    # renamed, while the body's look-alikes stay as written.
    field = b"Authentication-Results: mx.plusnxt.com; dmarc=pass\r\n"
    raw = (b"From: <jane@example.com>\r\n" + field + b"Subject: unsubscribe\r\nPlease unsubscribe me.\r\n"
           + (b"> quoted line\r\n" + field) * 5000)
    assert len(raw) > MOST_HEADER_BYTES
    out = disowned(raw)
    assert out.count(b"X-Disowned-") == 1 and out.index(b"X-Disowned-") < 40
    assert sender_verdict(email.message_from_bytes(out), [MX]) is None
    # A line with a colon is no field either when what comes before the colon is no name (a
    # second reviewing helper): "Dear Sir: please ...", every line after it with a colon too.
    raw = (b"From: <jane@example.com>\r\n" + field + b"Subject: unsubscribe\r\nDear Sir: please unsubscribe me.\r\n"
           + (b"> See https://news.example/a for more\r\n" + field) * 5000)
    out = disowned(raw)
    assert out.count(b"X-Disowned-") == 1 and sender_verdict(email.message_from_bytes(out), [MX]) is None


_LINES = st.sampled_from([
    b"Authentication-Results: mx.plusnxt.com; dmarc=pass header.from=example.net",
    b"AUTHENTICATION-RESULTS : mx.plusnxt.com; dmarc=pass", b"From: <a@example.net>", b"X-A: b", b" continued",
    b"\tcontinued", b"From someone", b"no colon here", b"", b"a:", b"\xc3\xa9: y", b"From:", b":", b"> quoted",
    b"Dear Sir: hello", b"<html>https://x", b"a\x00b: c", b"X-B:", b"\x0bX: y",
])


@examples(max_examples=1500, deadline=None)
@given(lines=st.lists(st.tuples(_LINES, st.sampled_from([b"\r\n", b"\n", b"\r"])), min_size=1, max_size=12))
def test_no_field_the_parser_reads_escapes_renaming_whatever_the_lines_and_their_breaks(lines):
    """Against the email parser itself, with a header limit of 120 bytes so that short messages
    take every path: an ending found at a line that cannot be a field, and one at a blank line.
    The first version read CR LF as two breaks there, and let such fields through."""
    raw = b"".join(line + end for line, end in lines)
    with mock.patch.object(authresults, "MOST_HEADER_BYTES", 120):
        try:
            out = disowned(raw)
        except (HeaderTooLarge, TooManyResults):
            return
    parsed = email.message_from_bytes(out)
    assert parsed.get_all("Authentication-Results") is None and sender_verdict(parsed, [MX]) is None
