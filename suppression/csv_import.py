"""Reading suppression CSV files: ours and the exports of the common email services.

The address column is found by its header (SendGrid `email`, Mailchimp `Email Address`,
Mailgun `address`, Postmark `Recipient`/`EmailAddress`, Amazon SES `EmailAddress`, ...).
A file without a known header is accepted when it is a plain list: one address a line.
A reason column, when present, maps onto our reasons; a `topic` column scopes a row.
"""

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import BinaryIO, TextIO

from suppression.erasure import RECORD_PREFIX
from suppression.addresses import key_of_canonical, normalise_address, normalise_entry
from suppression.errors import BadImport, InvalidAddress
from suppression.model import ALL_EMAILS, ImportRow, Reason, Scope, signed64

# Headers compared in lower case with everything but letters and digits removed; the
# first of these a file has is its address column.
ADDRESS_HEADERS = (
    "email", "emailaddress", "address", "recipient", "recipientemail", "recipientaddress",
    "emailaddr", "mail", "destination",
)
REASON_HEADERS = ("reason", "suppressionreason", "suppressiontype", "type", "category")
TOPIC_HEADERS = ("topic",)

# What the services write in their reason or type columns, to our reasons.
_REASON_WORDS = (
    ("block", Reason.BLOCK),  # ours: never mail this address, receipts included
    ("bounce", Reason.BOUNCE), ("hard", Reason.BOUNCE), ("cleaned", Reason.BOUNCE),
    ("complain", Reason.COMPLAINT), ("spam", Reason.COMPLAINT), ("abuse", Reason.COMPLAINT),
    ("unsub", Reason.UNSUBSCRIBE), ("optout", Reason.UNSUBSCRIBE), ("opt-out", Reason.UNSUBSCRIBE),
    ("manual", Reason.MANUAL),
)

CSV_FIELD_LIMIT = 64 * 1024  # a longer field is a damaged file, not data


def opened(binary: BinaryIO) -> TextIO:
    """A CSV file's text as read_import_rows reads it: UTF-8, a byte-order mark skipped, and a
    byte that is not UTF-8 kept as a stand-in that read_import_rows refuses with its line. Read
    strictly, 8 KB were decoded at once, and the error named the line where they began."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


def read_import_rows(
    lines: Iterable[str],
    topics: Mapping[str, str],
    reason: str | None = None,
    on_invalid: Callable[[int, str, str], None] | None = None,
    on_erased: Callable[[int], None] | None = None,
) -> Iterator[ImportRow]:
    """Yield one ImportRow a suppression in the file; raise BadImport at the first bad line.

    `reason` overrides what the file says for every row. With `on_invalid`, a row whose
    address is not valid is reported to it (line, text, why) and skipped instead. An erased
    entry (`export` writes its keyed hash, "erased:...") is reported to `on_erased` and left:
    only the database that erased it holds what recognises the address, and it keeps it.
    """
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(lines, strict=True)
    try:
        header = _next_row(reader)
    except StopIteration:
        raise BadImport("the file is empty", line=1) from None
    columns = _columns(header)
    if columns is None:
        raise BadImport(
            "no address column: the header needs a column such as email, Email Address, "
            f"address, EmailAddress or Recipient (found: {', '.join(header)[:200]})",
            line=reader.line_num,
        )
    address_at, reason_at, topic_at = columns
    if address_at is None:
        # A plain list of addresses: the first line is data, not a header.
        address_at, rows = 0, _chain_first(header, reader)
    else:
        rows = _rows(reader)
    for row in rows:
        line = reader.line_num
        if not "".join(row).strip():
            continue  # a blank line
        text = row[address_at].strip() if address_at < len(row) else ""
        if not text:
            raise BadImport("the address column is empty", line=line)
        if text.startswith(RECORD_PREFIX):
            if on_erased is not None:
                on_erased(line)
            continue
        try:
            email = normalise_entry(text)  # an address, or "*@domain" for all of a domain
        except InvalidAddress as exc:
            if on_invalid is None:
                raise BadImport(str(exc), line=line) from None
            on_invalid(line, text, str(exc))
            continue
        scope = _scope(row, topic_at, topics, line)
        row_reason = reason or _reason(row, reason_at)
        yield ImportRow(email, scope, row_reason, signed64(key_of_canonical(email)), line)


def _columns(header: list[str]) -> tuple[int | None, int | None, int | None] | None:
    names = [re.sub(r"[^a-z0-9]", "", h.lower()) for h in header]
    address_at = _first_of(names, ADDRESS_HEADERS)
    if address_at is None:
        if len(header) == 1 and _is_address(header[0]):
            return None, None, None
        return None
    return address_at, _first_of(names, REASON_HEADERS), _first_of(names, TOPIC_HEADERS)


def _first_of(names: list[str], wanted: tuple[str, ...]) -> int | None:
    for candidate in wanted:
        if candidate in names:
            return names.index(candidate)
    return None


def _is_address(text: str) -> bool:
    try:
        normalise_address(text)
    except InvalidAddress:
        return False
    return True


def _scope(row: list[str], topic_at: int | None, topics: Mapping[str, str], line: int) -> Scope:
    """A row's topic cell: empty (as `export` writes all emails) or a configured topic."""
    if topic_at is None or topic_at >= len(row) or not row[topic_at].strip():
        return ALL_EMAILS
    topic = row[topic_at].strip()
    if topic not in topics:
        # Not read as all emails, nor kept as it is: a misspelt topic would suppress nobody. A
        # topic taken out of the config since the export goes back into [topics] to restore it.
        raise BadImport(f"unknown topic {topic[:64]!r} (known: {', '.join(topics)}; a topic taken out of"
                        " the config since the file was written goes back into [topics] to import it)", line=line)
    return Scope.of_topic(topic)


def _reason(row: list[str], reason_at: int | None) -> str:
    if reason_at is None or reason_at >= len(row):
        return Reason.IMPORT
    text = row[reason_at].strip().lower()
    for word, reason in _REASON_WORDS:
        if word in text:
            return reason
    return Reason.IMPORT


def _next_row(reader) -> list[str]:
    while True:
        row = _read(reader)
        if row is None:
            raise StopIteration
        if any(field.strip() for field in row):
            return [field.lstrip("\ufeff") for field in row]


def _rows(reader) -> Iterator[list[str]]:
    while (row := _read(reader)) is not None:
        yield row


def _chain_first(first: list[str], reader) -> Iterator[list[str]]:
    yield first
    yield from _rows(reader)


def _read(reader) -> list[str] | None:
    try:
        row = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise BadImport(f"not valid CSV ({exc})", line=reader.line_num) from None
    except UnicodeDecodeError:  # a file opened strictly, not by opened(): the line is a guess
        raise BadImport("not valid UTF-8 text", line=reader.line_num + 1) from None
    text = "".join(row)
    if not text.isascii():
        try:
            text.encode("utf-8")  # opened() kept a byte that is not UTF-8 as a lone surrogate
        except UnicodeEncodeError:
            raise BadImport("not valid UTF-8 text", line=reader.line_num) from None
    return row
