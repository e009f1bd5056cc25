"""Erasure matches people, not bytes (issue 21, item 4), on both stores.

Before: after erasing erase.target@bücher.de, other people's stored mail still held
ERASE.TARGET@BÜCHER.DE, its NFD form, an RFC 2047 base64 `Cc:`, a quoted-printable body and a
base64 body in another charset (the stores searched with SQL `lower()`, ASCII only, in the
undecoded bytes), and the access export missed those messages too. The per-sender limit's row
of a request sent from ERASE.TARGET@BÜCHER.DE kept the address (its key is the lower-cased
envelope sender, Unicode domain and all, and only the punycode form was replaced).
"""

import base64
import json
import quopri
import re
import unicodedata

import pytest

from handlers.state import INTAKE, SERVICE
from suppression.addresses import sender_key
from tests.support.http import bearer
from tests.support.outside import execute_from_outside

pytestmark = pytest.mark.both_stores

TARGET = "erase.target@bücher.de"
CANONICAL = "erase.target@xn--bcher-kva.de"
REQUEST = "PLUSinfo@plusnxt.com"


def base64_body(text: str, charset: str) -> str:
    encoded = base64.encodebytes(text.encode(charset)).decode().replace("\n", "\r\n")
    return (f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}")


def encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# Each a question from someone else (kept for review), naming the person only in one spelling.
SPELLINGS = {
    "upper case": "From: bob@example.org\r\nCc: ERASE.TARGET@BÜCHER.DE\r\nSubject: hours\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n\r\nWhen are you open?\r\n",
    "NFD": "From: carl@example.org\r\nSubject: hours\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           f"When are you open? Ask {unicodedata.normalize('NFD', TARGET)} too.\r\n",
    "RFC 2047 base64 Cc": f"From: dora@example.org\r\nCc: {encoded_word('Erase Target <Erase.Target@Bücher.de>')}\r\n"
                          "Subject: hours\r\n\r\nWhen are you open?\r\n",
    "quoted-printable body": "From: emil@example.org\r\nSubject: hours\r\nMIME-Version: 1.0\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
                             "\r\n\r\n" + quopri.encodestring(f"When are you open? My wife is {TARGET}.".encode())
                             .decode().replace("\n", "\r\n") + "\r\n",
    "quoted local part": 'From: hugo@example.org\r\nSubject: hours\r\nContent-Type: text/plain; charset=utf-8'
                         '\r\n\r\nWhen are you open? Ask "Erase.Target"@bücher.de too.\r\n',
    "base64 latin-1 body": "From: fritz@example.org\r\nSubject: hours\r\n"
                           + base64_body("Wann haben Sie offen? Fragen Sie ERASE.TARGET@BÜCHER.DE.", "iso-8859-1"),
}
# A forward in base64, which RFC 2046 does not allow for message/rfc822 and some mail programs send.
SPELLINGS["forwarded in base64"] = (
    "From: ida@example.org\r\nSubject: Fw: hours\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
    "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(f"From: {TARGET}\r\nSubject: hours\r\n\r\nWhen are you open?\r\n".encode())
    .decode().replace("\n", "\r\n") + "--b--\r\n")
# Not the person: a longer local part, a longer domain, someone else at that domain.
OTHERS = ("From: gina@example.org\r\nSubject: hours\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
          "When are you open? Ask xerase.target@bücher.de, erase.target@bücher.dev or other@bücher.de.\r\n")


# The person, in text folded by NFC and case folding (not the code's own folding, on purpose).
PERSON = re.compile(r"(?<![\w.+-])(?:erase\.target|\"erase\.target\")@(?:bücher|xn--bcher-kva)\.de(?![\w-]|\.\w)")


def names_person(text: str) -> bool:
    return PERSON.search(unicodedata.normalize("NFC", text).casefold()) is not None


async def receive_all(client, raws: list[tuple[str, str]]) -> list[int]:
    intake = client.app[INTAKE]
    ids = [await intake.receive(raw.encode(), mail_from, [REQUEST]) for raw, mail_from in raws]
    await intake.handle_pending()
    return ids


def held_anywhere(settings, names=None) -> list[str]:
    """Every inbox column and rate-limit or reply key that still names the person in any spelling
    (folded), a column kept as JSON also as it reads (JSON writes other than ASCII as escapes)."""
    names = names or names_person
    columns = ("sender", "mail_from", "rcpt_to", "subject", "message_id", "authentication", "reasons", "addresses",
               "found", "note", "resolved_by", "words")
    found = []
    for row in execute_from_outside(settings, f"SELECT id, {', '.join(columns)} FROM inbox"):
        for name, value in zip(columns, row[1:]):
            if value and (names(value) or names(_as_read(value))):
                found.append(f"message {row[0]} {name}")
    for table, column in (("sender_requests", "sender"), ("replies", "email")):
        for (value,) in execute_from_outside(settings, f"SELECT {column} FROM {table}"):
            if names(value):
                found.append(f"{table}: {value}")
    return found


def _as_read(value: str) -> str:
    try:
        return json.dumps(json.loads(value), ensure_ascii=False)
    except (ValueError, RecursionError):
        return value


def raw_of(settings, message_id: int):
    return execute_from_outside(settings, f"SELECT raw FROM inbox WHERE id = {int(message_id)}")[0][0]


async def test_every_spelling_and_encoding_of_an_address_in_stored_mail_is_found_and_scrubbed(
        client, admin_key, settings):
    ids = await receive_all(client, [(raw, "someone@example.org") for raw in SPELLINGS.values()])
    (other,) = await receive_all(client, [(OTHERS, "gina@example.org")])
    naming = dict(zip(SPELLINGS, ids, strict=True))
    assert all(raw_of(settings, i) is not None for i in [*ids, other])

    # The access export finds exactly those messages, whichever spelling is asked for.
    for asked in (TARGET, CANONICAL, "Erase.Target@BÜCHER.de"):
        record = await (await client.get(f"/v1/subjects/{asked}", headers=bearer(admin_key))).json()
        assert {m["id"] for m in record["messages"]} == set(ids), (asked, naming)

    erased = await client.post(f"/v1/subjects/{TARGET}/erase", headers=bearer(admin_key))
    assert erased.status == 200
    for spelling, message_id in naming.items():
        assert raw_of(settings, message_id) is None, spelling
    assert held_anywhere(settings) == []
    assert raw_of(settings, other) is not None  # someone else's mail is left as it was
    # After the erasure the export finds, by the keyed hash that replaced the address, those
    # whose columns named it (the others held it only in their raw text, now gone), without text.
    record = await (await client.get(f"/v1/subjects/{TARGET}", headers=bearer(admin_key))).json()
    assert {m["id"] for m in record["messages"]} <= set(ids) and record["messages"]
    assert all(m["raw"] is None and m["words"] is None for m in record["messages"])


async def test_an_erasure_scrubs_the_senders_rate_limit_rows_and_its_replies(client, admin_key, settings):
    # A request from the person naming someone else: counted against their daily limit under
    # their envelope sender as sent (upper case, Unicode domain).
    request = ("From: ERASE.TARGET@BÜCHER.DE\r\nSubject: unsubscribe\r\nContent-Type: text/plain; charset=utf-8"
               "\r\n\r\nPlease unsubscribe friend.one@example.com from your list.\r\n")
    await receive_all(client, [(request, "ERASE.TARGET@BÜCHER.DE")])
    service = client.app[SERVICE]
    assert await service.store.claim_reply(sender_key(CANONICAL), "2026-11-25")  # as handlers/replies.py keys it
    before = await (await client.get(f"/v1/subjects/{TARGET}", headers=bearer(admin_key))).json()
    assert [r["addresses"] for r in before["rate_limits"]] == [1]
    assert [r["day"] for r in before["replies"]] == ["2026-11-25"]
    assert held_anywhere(settings)  # the test can see it while it is there

    assert (await client.post(f"/v1/subjects/{TARGET}/erase", headers=bearer(admin_key))).status == 200
    assert held_anywhere(settings) == []
    assert execute_from_outside(settings, "SELECT count(*) FROM replies")[0][0] == 0
    # The count stays (the limit still holds for that sender), under the keyed hash.
    rows = execute_from_outside(settings, "SELECT sender, addresses FROM sender_requests")
    assert [(sender.startswith("erased:"), n) for sender, n in rows] == [(True, 1)]
    after = await (await client.get(f"/v1/subjects/{TARGET}", headers=bearer(admin_key))).json()
    assert [r["addresses"] for r in after["rate_limits"]] == [1] and after["replies"] == []


async def test_tokens_of_ours_that_carry_the_address_are_found_and_scrubbed(client, admin_key, settings):
    """A token of ours is the address to whoever holds the signing key, which is kept beside the
    data: a mailto sent by someone else's mail program and an out-of-office reply to a message we
    sent name the person in their tokens alone, and an erasure leaves no such token behind."""
    links = client.app[SERVICE].links
    link = links.mint_link(TARGET)
    token = link.url.rsplit("/", 1)[1]
    other = links.mint_link("someone.else@example.com").url.rsplit("/", 1)[1]
    mailto = (f"From: other@mailbox.example.com\r\nTo: {REQUEST}\r\nSubject: unsubscribe {token}\r\n\r\n"
              "unsubscribe\r\n")
    out_of_office = (f"From: assistant@office.example.com\r\nTo: {REQUEST}\r\nAuto-Submitted: auto-replied\r\n"
                     f"In-Reply-To: {link.message_id}\r\nReferences: {link.message_id}\r\nSubject: Away\r\n\r\n"
                     "I am away until Monday.\r\n")
    someone_elses = (f"From: assistant@office.example.com\r\nTo: {REQUEST}\r\nAuto-Submitted: auto-replied\r\n"
                     f"In-Reply-To: <unsubscribe={other}@plusnxt.com>\r\nSubject: Away\r\n\r\nAway.\r\n")
    ids = await receive_all(client, [(mailto, "other@mailbox.example.com"),
                                     (out_of_office, "assistant@office.example.com")])
    (not_theirs,) = await receive_all(client, [(someone_elses, "assistant@office.example.com")])
    record = await (await client.get(f"/v1/subjects/{TARGET}", headers=bearer(admin_key))).json()
    assert {m["id"] for m in record["messages"]} == set(ids)
    assert any(token in (value or "") for row in execute_from_outside(settings, "SELECT subject FROM inbox")
               for value in row)  # the test can see it while it is there

    assert (await client.post(f"/v1/subjects/{TARGET}/erase", headers=bearer(admin_key))).status == 200
    assert [raw_of(settings, i) for i in ids] == [None, None]
    for row in execute_from_outside(settings, "SELECT * FROM inbox"):
        assert not any(isinstance(value, str) and token in value for value in row), row
    (subject,) = execute_from_outside(settings, f"SELECT subject FROM inbox WHERE id = {int(ids[0])}")[0]
    assert re.fullmatch(r"unsubscribe erased:\S+", subject), subject  # the token alone replaced
    assert raw_of(settings, not_theirs) is not None  # a token naming someone else is theirs


async def test_an_address_with_more_than_ascii_in_its_local_part_is_scrubbed_from_the_json_columns(
        client, admin_key, settings):
    # Before: the inbox's reasons, addresses and found are JSON lists, which write "ü" as
    # "\u00fc"; the erasure searched them as written, and left jürgen.qq@example.com in all three.
    request = ("From: helper@example.org\r\nSubject: please\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               "Please unsubscribe J\u00fcrgen.QQ@example.com from your list.\r\n")
    await receive_all(client, [(request, "helper@example.org")])

    def names_juergen(text: str) -> bool:
        return "jürgen.qq@example.com" in unicodedata.normalize("NFC", text).casefold()

    assert held_anywhere(settings, names_juergen)  # the test can see it while it is there
    erased = await client.post("/v1/subjects/j%C3%BCrgen.qq%40example.com/erase", headers=bearer(admin_key))
    assert erased.status == 200
    assert held_anywhere(settings, names_juergen) == []


async def test_a_message_of_nested_brackets_leaves_access_and_erasure_working(client, admin_key, settings):
    # Before: reading the JSON columns as JSON read any text that began with "[" so, and a
    # stranger's body of nested brackets (RecursionError) made every access export and erasure a 500.
    nested = "[" * 5_000 + "]" * 5_000  # a body part that is exactly that, once its base64 is read
    await receive_all(client, [("From: odd@example.org\r\nSubject: hours\r\n" + base64_body(nested, "utf-8"),
                                "odd@example.org"),
                               (SPELLINGS["upper case"], "someone@example.org")])
    record = await client.get(f"/v1/subjects/{TARGET}", headers=bearer(admin_key))
    assert record.status == 200 and len((await record.json())["messages"]) == 1
    assert (await client.post(f"/v1/subjects/{TARGET}/erase", headers=bearer(admin_key))).status == 200
    assert held_anywhere(settings) == []
