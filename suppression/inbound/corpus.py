"""The reader's labelled corpus: written records made into the mail a client would send.

Each record (one JSON object a line, in batch files) holds what a person wrote and how their
client sent it (`shape`); `render` builds the raw message, so that training, evaluation and
tests read mail through the same code as the service: decode, quotes, signatures, then the
judgement. The split is by writing batch, fixed here, so the test split stays unseen.
"""

import base64
import json
import quopri
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, parseaddr
from pathlib import Path

from suppression.model import Status

# Which batches train the model, which choose its threshold, which report on it. The test
# batches are frozen: nothing is tuned on them, and they were written by writers who never
# saw the other batches. Batches an operator exports from the desk (`inbox export-labels`)
# are named otherwise and train.
# batch_35 was written as a fresh test batch; read once (on mail it had never seen the judge
# took 12 of its 126 other messages as requests, 5 after training on batches 33-34), its
# mistakes were read, so it now only chooses thresholds. batch_36, written by another writer
# after that, is the fresh test. batch_41, written later by a writer who saw no other, joined the
# test split unread (the judge then shipped made no wrong opt-out on its 123 other messages and
# decided 95.2% of its requests alone); batches 39-40, written at the same time by two other
# writers, train. Batches 42-44, three more writers', were read once by the judge of the time
# (5 wrong opt-outs of their 378 other messages: docs/email.md) and then train. Batches 45-47
# and 48-50, six more writers', were each read once the same way (3 and 4 of 378) and train.
# Batches 53-55 are mail taking a request back, or about another channel, beside requests in
# the same words (three writers'; 53 was a probing helper's, first in tests/corpus/refusals/);
# they train. Two more such batches, in tests/corpus/refusals/, only ever measure. Batches 56-57
# are mail about the newsletter that does not ask to leave (to subscribe, to come back, missing
# issues, its content) beside requests that talk as much of it, and 58-59 mail taking a request
# back or about another channel beside requests in the same words, four writers'; batch_s asks to
# be added or to be put on a do-not-mail list (first measured in tests/corpus/named/). They train.
# Two more writers' batches of their kinds, tests/corpus/named/batch_u and batch_v, only measure.
# Batches 60-61 (mail full of the words of leaving that does not ask yet: warnings, refusals under
# a subject that asks, questions, someone else's leaving; read once, the source of WARNINGS) choose
# thresholds: the development split held none of these kinds, and the threshold chosen without
# them let a judge trained on batches 62-63 (two more writers' of those kinds) take a message of
# the test split as a request. Batches X and Y of those kinds, two more writers', only measure.
DEVELOPMENT_BATCHES = ("batch_05", "batch_06", "batch_35", "batch_60", "batch_61")
TEST_BATCHES = ("batch_07", "batch_08", "batch_36", "batch_41")
# The addresses' model (asked_about.py) trains on the train split and on these batches of
# tests/corpus/named/: mail that names addresses, to remove and to keep, each batch read once
# before (their mistakes were read: docs/email.md). The judge does not train on them: with 64-65
# it decided fewer of the test split's English requests alone than the suite holds.
ADDRESS_BATCHES = ("batch_64", "batch_65", "batch_m", "batch_n", "batch_o")
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "ja", "zh")
REQUEST, STAY = "request", "stay"
SHAPES = ("plain", "html", "base64", "qp", "reply_top", "reply_bottom", "forward", "calendar", "auto_reply")
_FIELDS = {"id", "lang", "label", "kind", "from", "subject", "body", "shape", "quoted", "names"}
REQUEST_ADDRESS = "PLUSinfo@plusnxt.com"
_NEWSLETTER = "PLUS <news@plusnxt.com>"


@dataclass(frozen=True)
class Record:
    id: str
    lang: str
    label: str  # REQUEST or STAY
    kind: str
    sender: str  # the From header value
    subject: str
    body: str
    shape: str
    quoted: str
    names: tuple[str, ...]
    batch: str

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]


def read_batches(folder: Path) -> list[Record]:
    """Every record of every batch file (*.jsonl) in a folder, in order."""
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        records.extend(read_batch(path))
    return records


def read_batch(path: Path) -> Iterator[Record]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if set(row) != _FIELDS or row["label"] not in (REQUEST, STAY) or row["shape"] not in SHAPES:
            raise ValueError(f"{path.name}:{number}: not a corpus record (fields {sorted(_FIELDS)})")
        if row["shape"] == "auto_reply" and row["label"] == REQUEST:
            # The contract: automatic mail is never taken as a request. A record that says
            # otherwise asks for what the service must not do, so it is not read.
            continue
        yield Record(row["id"], row["lang"], row["label"], row["kind"], row["from"], row["subject"],
                     row["body"], row["shape"], row["quoted"], tuple(row["names"]), path.stem)


def split(records: Iterable[Record]) -> dict[str, list[Record]]:
    parts: dict[str, list[Record]] = {"train": [], "development": [], "test": []}
    for record in records:
        if record.batch in TEST_BATCHES:
            parts["test"].append(record)
        elif record.batch in DEVELOPMENT_BATCHES:
            parts["development"].append(record)
        else:
            parts["train"].append(record)
    return parts


def desk_label(message_id: int, status: str, sender: str | None, words: str | None,
               addresses: Iterable[str]) -> dict | None:
    """A decision a person made at the desk as a corpus record (None: nothing to learn from it):
    `resolved` taught that the words ask, `dismissed` that they do not. The words are the
    reader's own-words text, so the record is plain text with no quote; its language is not
    known (it counts in the overall figures only)."""
    if status not in (Status.RESOLVED, Status.DISMISSED) or not (words or "").strip():
        return None
    own = (sender or "").lower()
    names = [a for a in addresses if a.lower() != own] if status == Status.RESOLVED else []
    return {"id": f"desk-{message_id}", "lang": "", "label": REQUEST if status == Status.RESOLVED else STAY,
            "kind": f"desk-{status}", "from": sender or "unknown@invalid.example", "subject": "", "body": words,
            "shape": "plain", "quoted": "", "names": names}


# -- rendering ----------------------------------------------------------------------------

_ATTRIBUTION = {
    "en": "On Tue, 3 Nov 2026 at 10:12, {who} wrote:",
    "es": "El mar, 3 nov 2026 a las 10:12, {who} escribió:",
    "fr": "Le mar. 3 nov. 2026 à 10:12, {who} a écrit :",
    "de": "Am Di., 3. Nov. 2026 um 10:12 Uhr schrieb {who}:",
    "pt": "Em ter., 3 de nov. de 2026 às 10:12, {who} escreveu:",
    "it": "Il giorno mar 3 nov 2026 alle ore 10:12 {who} ha scritto:",
    "nl": "Op di 3 nov 2026 om 10:12 schreef {who}:",
    "ja": "2026年11月3日(火) 10:12 {who}:",
    "zh": "在 2026年11月3日 10:12，{who} 写道：",
}
_OUTLOOK = {
    "en": ("-----Original Message-----", "From", "Sent", "To", "Subject"),
    "es": ("-----Mensaje original-----", "De", "Enviado", "Para", "Asunto"),
    "fr": ("-----Message d'origine-----", "De", "Envoyé", "À", "Objet"),
    "de": ("-----Ursprüngliche Nachricht-----", "Von", "Gesendet", "An", "Betreff"),
    "pt": ("-----Mensagem original-----", "De", "Enviado", "Para", "Assunto"),
    "it": ("-----Messaggio originale-----", "Da", "Inviato", "A", "Oggetto"),
    "nl": ("-----Oorspronkelijk bericht-----", "Van", "Verzonden", "Aan", "Onderwerp"),
    "ja": ("-----元のメッセージ-----", "差出人", "送信日時", "宛先", "件名"),
    "zh": ("-----原始邮件-----", "发件人", "发送时间", "收件人", "主题"),
}
_FORWARD = "---------- Forwarded message ---------"


def _variant(record: Record, salt: str) -> int:
    """A stable choice per record (not Python's salted hash): the same mail on every run."""
    return zlib.crc32(f"{record.id}:{salt}".encode())


def _quote_block(record: Record) -> str:
    if _variant(record, "outlook") % 3 == 0:
        rule, sender, sent, to, subject = _OUTLOOK[record.lang]
        return (f"{rule}\n{sender}: {_NEWSLETTER}\n{sent}: Tuesday, November 3, 2026 10:12 AM\n"
                f"{to}: {record.sender}\n{subject}: {record.subject.split(':', 1)[-1].strip()}\n\n{record.quoted}")
    cited = "\n".join(f"> {line}" if line else ">" for line in record.quoted.splitlines())
    return f"{_ATTRIBUTION[record.lang].format(who=_NEWSLETTER)}\n{cited}"


def _text(record: Record) -> str:
    if record.shape == "reply_top" or (record.shape == "html" and record.quoted):
        return f"{record.body}\n\n{_quote_block(record)}\n" if record.quoted else record.body
    if record.shape == "reply_bottom":
        cited = "\n".join(f"> {line}" if line else ">" for line in record.quoted.splitlines())
        return f"{_ATTRIBUTION[record.lang].format(who=_NEWSLETTER)}\n{cited}\n\n{record.body}\n"
    if record.shape == "forward":
        return (f"{record.body}\n\n{_FORWARD}\nFrom: {_NEWSLETTER}\nDate: Tue, 3 Nov 2026 10:12\n"
                f"Subject: {record.subject.split(':', 1)[-1].strip()}\nTo: {record.sender}\n\n{record.quoted}\n")
    return record.body


def _html(record: Record) -> str:
    def paragraphs(text: str) -> str:
        return "".join(f"<p>{_escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p.strip())

    quoted = ""
    if record.quoted:
        # Nested, as Apple Mail and Gmail cite a reply to a reply.
        inner = f'<blockquote type="cite">{paragraphs(record.quoted)}</blockquote>'
        quoted = (f'<div>{_escape(_ATTRIBUTION[record.lang].format(who=_NEWSLETTER))}</div>'
                  f'<blockquote type="cite"><div>PLUS</div>{inner}</blockquote>')
    return f"<html><body><div dir=\"ltr\">{paragraphs(record.body)}</div>{quoted}</body></html>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _calendar(record: Record) -> str:
    description = record.body.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Example//Calendar//EN", "VERSION:2.0", "METHOD:REQUEST", "BEGIN:VEVENT",
             f"UID:{record.id}@example.com", "DTSTART:20261110T140000Z", "DTEND:20261110T150000Z",
             f"SUMMARY:{record.subject or 'Meeting'}", f"ORGANIZER:mailto:{record.sender_address}",
             f"ATTENDEE;RSVP=TRUE:mailto:{REQUEST_ADDRESS}", f"DESCRIPTION:{description}", "END:VEVENT", "END:VCALENDAR"]
    folded = []
    for line in lines:  # RFC 5545: lines of at most 75 octets, continued with a space
        while len(line.encode()) > 75:
            cut = 60
            folded.append(line[:cut])
            line = " " + line[cut:]
        folded.append(line)
    return "\r\n".join(folded) + "\r\n"


def render(record: Record) -> bytes:
    """The raw message (RFC 5322, CRLF) the record's client would have sent."""
    headers = [
        ("From", record.sender), ("To", REQUEST_ADDRESS), ("Subject", record.subject),
        ("Date", "Tue, 3 Nov 2026 10:15:00 +0100"), ("Message-ID", f"<{record.id}@mail.example.com>"),
        ("MIME-Version", "1.0"),
    ]
    if record.shape in ("reply_top", "reply_bottom") or (record.shape == "html" and record.quoted):
        headers.append(("In-Reply-To", "<newsletter-2026-11@plusnxt.com>"))
    if record.shape == "auto_reply":
        headers += [("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes")]
    text = _text(record)
    if record.shape == "calendar":
        boundary = f"cal-{record.id}"
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                f"{_base64(record.body)}--{boundary}\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n{_base64(_calendar(record))}--{boundary}--\r\n")
    elif record.shape == "html":
        headers += [("Content-Type", "text/html; charset=utf-8"), ("Content-Transfer-Encoding", "base64")]
        body = _base64(_html(record))
    elif record.shape == "qp":
        headers += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")]
        body = quopri.encodestring(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    elif record.shape == "base64" or not text.isascii():
        headers += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "base64")]
        body = _base64(text)
    else:
        headers += [("Content-Type", "text/plain; charset=us-ascii"), ("Content-Transfer-Encoding", "7bit")]
        body = text.replace("\n", "\r\n")
    head = "".join(f"{name}: {_header_value(name, value)}\r\n" for name, value in headers)
    return (head + "\r\n" + body).encode("ascii")


def _base64(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")


def _header_value(name: str, value: str) -> str:
    if value.isascii():
        return value
    if name == "From":
        display, address = parseaddr(value)
        return formataddr((display, address), charset="utf-8")
    return Header(value, "utf-8").encode()
