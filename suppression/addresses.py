"""The one owner of "same address": validation, the canonical form and the index key.

The canonical form is the local part in lower case, "@", and the ASCII (punycode) form of
the domain. Local parts are case-sensitive in theory and never in practice; for a
suppression list, matching too much is the safe direction. The ASCII domain makes the
canonical form of every plain ASCII address its lower-cased text, which lets bulk checks
skip the full validator.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import email_validator
import idna
from email_validator import ValidatedEmail
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from email_validator.syntax import (
    split_email,
    validate_email_domain_name,
    validate_email_length,
    validate_email_local_part,
)
import xxhash

from suppression.errors import InvalidAddress

# NumPy is read by the bulk functions below when first called, not here: a mail reader's child
# needs this module (the addresses in mail) and never NumPy, and reading it was 65 ms of each
# child's start.
if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "normalise_address", "address_key", "key_of_canonical", "lookup_form", "keys_of_block", "keys_of_texts",
    "forms_of_block", "forms_of_texts", "keys_of_forms", "lines_of_block", "is_clean_block", "clean_forms", "forms_of_lines",
    "forms_within", "line_form", "text_form",
    "clean_lines_where",
    "mask_address", "mask_addresses_in", "sender_key", "unicode_form", "normalise_entry", "domain_entry",
    "DOMAIN_PREFIX", "HASHES", "hashed_key", "keys_of_hashed_block",
]

# A conservative subset of addresses whose canonical form is their lower-cased text; a
# property test proves the validator agrees on everything this accepts. Domains with
# punycode labels, or two letters before "--", go the long way because the validator
# checks their IDNA rules.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SIMPLE = re.compile(rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@((?:{_LABEL}\.)+[a-z]{{2,63}})", re.ASCII)
_RESERVED_LABEL = re.compile(r"(?:^|\.)..--")
_SPECIAL_USE = re.compile(
    r"(?:^|\.)(?:" + "|".join(map(re.escape, email_validator.SPECIAL_USE_DOMAIN_NAMES)) + r")$"
)

# The ASCII characters str.strip() removes (what a single check strips), so that a line of a
# bulk check is read as the same address: bytes.strip() leaves \x1c-\x1f in place.
_ASCII_SPACE = bytes(c for c in range(128) if chr(c).isspace())

_MAX_ADDRESS = 254
_LONGEST_LINE = 4096  # bytes of a bulk check's line read as a possible address ("Name <address>" included)
_MAX_LOCAL = 64


def normalise_address(text: str) -> str:
    """Return the canonical form of an address, or raise InvalidAddress saying why.

    Accepts surrounding white space and the `Name <address>` form.
    """
    if not isinstance(text, str):
        raise InvalidAddress("an address must be a string")
    text = text.strip()
    canonical = _canonical(text)
    if canonical.startswith("*@"):
        # "*" is a legal local part, and no one's mailbox: "*@domain" is only ever a domain
        # entry, made by normalise_entry, never by a link, a From header or a named address.
        raise InvalidAddress(f"{text[:100]!r} is a domain entry, not an address")
    return canonical


def _canonical(text: str) -> str:
    simple = _simple_canonical(text)
    if simple is None:
        simple = _unicode_canonical(text)
    if simple is not None:
        return simple
    if len(text) > 1000:
        # The validator's cost grows with the input; nothing this long is an address.
        raise InvalidAddress(f"{text[:40]!r}... is not an email address: it is far too long")
    try:
        valid = _validated(text)
    except email_validator.EmailNotValidError as exc:
        raise InvalidAddress(f"{text[:100]!r} is not an email address: {exc}") from None
    return f"{valid.local_part.lower()}@{valid.ascii_domain}"


def _validated(text: str) -> ValidatedEmail:
    """email_validator.validate_email(text, check_deliverability=False, allow_display_name=True,
    allow_quoted_local=True, allow_smtputf8=True), step by step as the library does it, with
    the domain's validation remembered: IDNA is 130 of its 170 µs, and a bulk check of a million
    addresses has a few thousand domains. A property test holds it to the library's answers."""
    if text.count("@") == 1 and not _SPLIT_SPECIALS.intersection(text):
        local, _, domain = text.partition("@")  # what split_email finds, without its character loop
        display_name, original_local, quoted = None, local, False
    else:
        display_name, original_local, local, quoted, domain = split_email(text)
    if domain.startswith("["):
        return email_validator.validate_email(text, check_deliverability=False, allow_display_name=True,
                                              allow_quoted_local=True, allow_smtputf8=True)
    valid = ValidatedEmail()
    valid.original = f"{original_local}@{domain}"
    valid.display_name = unicodedata.normalize("NFC", display_name) if display_name else display_name
    info = validate_email_local_part(local, allow_smtputf8=True, allow_empty_local=False, quoted_local_part=quoted)
    valid.smtputf8 = info["smtputf8"]
    normalized = unicodedata.normalize("NFC", local)
    if normalized != local:
        try:
            info = validate_email_local_part(normalized, allow_smtputf8=True, allow_empty_local=False,
                                             quoted_local_part=quoted)
        except email_validator.EmailSyntaxError as exc:
            raise email_validator.EmailSyntaxError("After Unicode normalization: " + str(exc)) from exc
    valid.local_part, valid.ascii_local_part = info["local_part"], info["ascii_local_part"]
    if valid.ascii_local_part is not None and valid.ascii_local_part.lower() in CASE_INSENSITIVE_MAILBOX_NAMES \
            and valid.local_part is not None:
        valid.ascii_local_part, valid.local_part = valid.ascii_local_part.lower(), valid.local_part.lower()
    if not domain:
        raise email_validator.EmailSyntaxError("There must be something after the @-sign.")
    valid.domain, valid.ascii_domain = _domain(domain)
    valid.normalized = f"{valid.local_part}@{valid.domain}"
    valid.ascii_email = (f"{valid.ascii_local_part}@{valid.ascii_domain}" if valid.ascii_local_part and valid.ascii_domain
                         else None)
    validate_email_length(valid)
    return valid


_SPLIT_SPECIALS = frozenset('"<>\\()[],;:')


def _domain(domain: str) -> tuple[str, str]:
    """(domain, ascii_domain) as the validator gives them, or its EmailSyntaxError."""
    known = _domain_outcome(domain)
    if isinstance(known, str):
        raise email_validator.EmailSyntaxError(known)  # a fresh one: see _domain_outcome
    return known


@functools.lru_cache(maxsize=8192)
def _domain_outcome(domain: str) -> tuple[str, str] | str:
    """(domain, ascii_domain), or why it is no domain: the reason's text, not the exception. A
    remembered exception kept the validator's frames alive, 8,192 of them, and gathered another
    traceback at every raise; the collector walked all of it in each full collection, and a
    bulk check of new invalid international domains held every answer 45-202 ms at a time."""
    try:
        info = validate_email_domain_name(domain, test_environment=False, globally_deliverable=True)
    except email_validator.EmailSyntaxError as exc:
        return str(exc)
    return info["domain"], info["ascii_domain"]


def _simple_canonical(text: str) -> str | None:
    if len(text) > _MAX_ADDRESS or not text.isascii():
        return None
    lowered = text.lower()
    match = _SIMPLE.fullmatch(lowered)
    if match is None:
        return None
    local, domain = match.groups()
    if len(local) > _MAX_LOCAL or _RESERVED_LABEL.search(domain):
        return None
    if _SPECIAL_USE.search(domain):
        return None
    return lowered


# An unquoted local part of letters and digits in any script and the ASCII atext: what the
# validator accepts unchanged once it is in NFC. `\w` matches only Unicode categories L and N
# and "_" (a test runs every code point through the validator's own category check), so no
# mark, space, format or control character, nor any character split_email treats specially.
_INTL_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_INTL_LOCAL = re.compile(rf"{_INTL_ATOM}(?:\.{_INTL_ATOM})*")


def _unicode_canonical(text: str) -> str | None:
    """The canonical form of `local@domain` with a plain local part in any script (most non-ASCII
    addresses) without the validator's step by step work, or None to take the normal path.

    It is what _validated gives for such text, checked for checked: the validator would split it
    at its one "@" (no character split_email treats specially), find the local part valid and safe
    as it is (dot-atom, letters and digits, NFC), take the domain's remembered outcome, and hold
    the address, its normalised and its ASCII-domain forms to 254 octets each. A property test
    holds it to email-validator's answers."""
    local, at, domain = text.partition("@")
    if not at or "@" in domain or _SPLIT_SPECIALS.intersection(domain) or _INTL_LOCAL.fullmatch(local) is None:
        return None
    if not unicodedata.is_normalized("NFC", local):
        return None
    known = _domain_outcome(domain)
    if isinstance(known, str):
        return None  # the normal path says why
    unicode_domain, ascii_domain = known
    local_octets = len(local.encode("utf-8"))
    if local_octets + 1 + max(len(domain.encode("utf-8")), len(unicode_domain.encode("utf-8")),
                              len(ascii_domain)) > _MAX_ADDRESS:
        return None
    return f"{local.lower()}@{ascii_domain}"


def key_of_canonical(canonical: str) -> int:
    """The index key of a canonical address: a stable 64-bit hash, unsigned."""
    return xxhash.xxh3_64_intdigest(canonical.encode("utf-8"))


def address_key(text: str) -> int:
    """The index key of any form of an address; raises InvalidAddress."""
    return key_of_canonical(normalise_address(text))


def lookup_form(line: bytes) -> bytes | None:
    """The canonical bytes to look up for one line of a bulk check, or None if it is no address.

    Plain ASCII lines are only stripped and lower-cased (an invalid one simply matches
    nothing, since only valid addresses are ever stored); anything else is validated.
    """
    line = line.strip(_ASCII_SPACE)
    if line.isascii() and b"<" not in line and b'"' not in line:
        return line.lower()
    if len(line) > _LONGEST_LINE:
        return None  # no address, and the patterns' and the validator's work grows with it
    try:
        return normalise_address(line.decode("utf-8")).encode("utf-8")
    except (UnicodeDecodeError, InvalidAddress):
        return None


def keys_of_block(block: bytes) -> tuple[list[bytes], np.ndarray]:
    """Split a block of whole lines (each ending in a newline) into lines and their keys.

    A line that is no address gets the key of the empty string, which is never stored.
    """
    lines, forms = forms_of_block(block)
    return lines, keys_of_forms(forms)


def forms_of_block(block: bytes) -> tuple[list[bytes], list[bytes]]:
    """A block of whole lines and each line's lookup form (b"" for a line that is no address)."""
    lines = lines_of_block(block)
    if is_clean_block(block):
        return lines, clean_forms(block, len(lines))
    return lines, forms_of_lines(lines)


def lines_of_block(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def is_clean_block(block: bytes) -> bool:
    """Whether every line is plain ASCII with nothing to strip or unwrap: the common case."""
    return block.isascii() and not any(bytes([c]) in block for c in b'<"' + _ASCII_SPACE.replace(b"\n", b""))


def clean_forms(block: bytes, count: int) -> list[bytes]:
    """The lookup forms of a clean block's lines: one C-level pass for all."""
    return block.lower().split(b"\n")[:count]


def clean_lines_where(block: bytes, mask: np.ndarray) -> bytes:
    """The lines of a clean block (is_clean_block: no \r to strip) where `mask` is true, as given,
    each ending in a newline: cut from the block in one vectorised pass, no object a line."""
    import numpy as np

    if not block.endswith(b"\n"):
        block += b"\n"
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10) + 1  # one past each line's newline
    return data[np.repeat(mask, np.diff(ends, prepend=0))].tobytes()


def forms_of_lines(lines: list[bytes]) -> list[bytes]:
    """Each line's lookup form, one by one (b"" for a line that is no address): up to ~10 µs a
    non-ASCII line, so callers on an event loop take them in slices (forms_within)."""
    return [line_form(line) for line in lines]


def line_form(line: bytes) -> bytes:
    return lookup_form(line) or b""


def text_form(text: str) -> bytes:
    return lookup_form(text.encode("utf-8", "surrogatepass")) or b""


def forms_within(items: Sequence, start: int, stop: int, form: Callable[[object], bytes],
                 deadline: float) -> list[bytes]:
    """The forms of items[start:stop] from the first, until time.perf_counter() passes `deadline`
    (at least one): an item costs a microsecond, or a millisecond when its domain is new and
    international, so a caller on an event loop takes them by time, not by count."""
    forms = []
    for index in range(start, stop):
        forms.append(form(items[index]))
        if time.perf_counter() >= deadline:
            break
    return forms


def keys_of_texts(texts: list[str]) -> np.ndarray:
    """The lookup keys of a list of strings (addresses or not)."""
    return keys_of_forms(forms_of_texts(texts))


def forms_of_texts(texts: list[str]) -> list[bytes]:
    return [text_form(text) for text in texts]


def keys_of_forms(forms: list[bytes]) -> np.ndarray:
    import numpy as np

    return np.fromiter(map(xxhash.xxh3_64_intdigest, forms), dtype=np.uint64, count=len(forms))


def unicode_form(canonical: str) -> str:
    """The address with its domain in Unicode (jane@bücher.de), as people write it."""
    local, _, domain = canonical.rpartition("@")
    try:
        return f"{local}@{idna.decode(domain)}" if "xn--" in domain else canonical
    except idna.IDNAError:
        return canonical


def mask_address(canonical: str) -> str:
    """An address as shown to whoever holds a link: j•••@bücher.de (enough to recognise, not to harvest)."""
    local, _, domain = canonical.rpartition("@")
    if "xn--" in domain:
        try:
            domain = idna.decode(domain)
        except idna.IDNAError:
            pass  # shown as stored; it was valid when stored
    return f"{local[:1]}\u2022\u2022\u2022@{domain}"


# A run of characters that may belong to an address: one class repeated, found in one pass.
# Quotes and backslashes belong to it: a refused address's local part may hold them ('"jane"@',
# or 'jane\u200b@' as repr writes a zero-width space), and a run cut there left the rest readable.
_RUN = re.compile(r"[^\s<>()\[\]{},;:`/|]+")
_LEADING_QUOTES = "'\"\\"


# What people (and their tools) write for "@": the compatibility forms (full-width ＠, small ﹫),
# which NFKC makes "@", and the percent-encoded one of a URL's path.
_AT_SIGNS = re.compile(r"[\uff20\ufe6b]|%40", re.IGNORECASE)


def mask_addresses_in(text: str) -> str:
    """Text with every address-like run masked, for logs: "named x@example.com" -> "named x•••@example.com";
    written with a full-width ＠, a small ﹫ or %40, it is masked as with "@"."""
    if "@" not in text and _AT_SIGNS.search(text) is None:
        return text  # no run to mask (most of the intake's lines, one a message on the loop)
    return _RUN.sub(_masked_run, text)


def _masked_run(run: re.Match) -> str:
    text = _AT_SIGNS.sub("@", run.group())
    if "@" not in text:
        return text
    lead = len(text) - len(text.lstrip(_LEADING_QUOTES))  # the quote repr puts around it stays shown
    return text[:lead] + mask_address(text[lead:])


def sender_key(address: str) -> str:
    """Who a sender is, for counting: lower case, without <> and without a +tag ('' for the null sender).

    jane+1@example.com and jane+2@example.com are one sender: a tag per message must not
    buy a fresh allowance.
    """
    address = address.strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local.split('+', 1)[0]}@{domain}"


# For partners who must not see addresses: a canonical address's digest, lower-case hex.
HASHES = {"sha256": hashlib.sha256, "md5": hashlib.md5}
_HEX = re.compile(rb"[0-9a-f]+")


def hashed_key(canonical: str, algorithm: str) -> int:
    """The lookup key of an address's digest: its first 64 bits (collisions as for key_of_canonical)."""
    return int.from_bytes(HASHES[algorithm](canonical.encode("utf-8")).digest()[:8], "big")


def keys_of_hashed_block(block: bytes, algorithm: str) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Lines of hex digests: the lines, their keys, and which lines are digests at all."""
    import numpy as np

    width = HASHES[algorithm]().digest_size * 2
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    forms = [line.strip(_ASCII_SPACE).lower() for line in lines]
    valid = np.fromiter((len(f) == width and _HEX.fullmatch(f) is not None for f in forms), dtype=bool, count=len(forms))
    keys = np.fromiter((int(f[:16], 16) if ok else 0 for f, ok in zip(forms, valid)), dtype=np.uint64, count=len(forms))
    return lines, keys, valid


# A suppression of every address at one exact domain: "*@example.com" (CONTRACT §5).
DOMAIN_PREFIX = "*@"


def normalise_entry(text: str) -> str:
    """An address's canonical form, or for "*@DOMAIN" the canonical domain entry ("*@xn--bcher-kva.de")."""
    if isinstance(text, str) and text.strip().startswith(DOMAIN_PREFIX):
        domain = text.strip()[len(DOMAIN_PREFIX):]
        try:
            canonical = normalise_address(f"x@{domain}")
        except InvalidAddress as exc:
            raise InvalidAddress(f"{text.strip()[:100]!r} is not a domain entry: {str(exc).split(': ', 1)[-1]}") from None
        return DOMAIN_PREFIX + canonical.rpartition("@")[2]
    return normalise_address(text)


def domain_entry(canonical: str) -> str:
    """The domain entry an address falls under: jane@example.com -> *@example.com."""
    return DOMAIN_PREFIX + canonical.rpartition("@")[2]
