"""Where a person is named in stored mail, however the address is spelled or encoded.

Erasure and the right of access look for a person, not for bytes: ERASE.TARGET@BÜCHER.DE,
its decomposed (NFD) form, erase.target@xn--bcher-kva.de, an RFC 2047 base64 `Cc:`, a
quoted-printable body or a base64 body in another charset all name the same person, and so
does a token of ours that carries the address (a link's, a come-back confirmation's): with the
signing key, which is kept beside the data, it reads as the address. Every text is decoded
(headers' encoded words, each part's transfer encoding and charset, HTML character
references, %-escapes) and folded (Unicode compatibility caseless matching: NFKD,
case folding, ideographic full stops as dots) before it is searched.

Pure functions, bytes and strings in: the service runs them in a child process
(suppression/subject_search.py), never on its event loop, because their cost grows with the mail.
"""

import base64
import binascii
import html
import json
import quopri
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator
from email.message import Message
from functools import lru_cache

import idna

from suppression.inbound.decode import codec_of, parse
from suppression.tokens import email_in_token, token_candidates

# UTS #46 reads the ideographic full stop as the dot between labels (NFKD maps U+FF0E to ".",
# and U+FF61 to this one).
_IDEOGRAPHIC_STOP = "\u3002"
_MAX_PARTS = 10_000  # parts of one message searched; a message with more is an attack, not a letter
# The match must not start inside a longer local part ("majane@" is not "jane@"): letters, digits,
# dot, plus, hyphen and underscore. RFC 5322 allows more (= ? / ! ...), but in mail those mostly
# stand before an address ("mailto:?to=jane@..."), and finding a person once too often is the safe side.
_BEFORE = r"(?<![\w.+-])"
# Nor end inside a longer domain ("example.com.evil.org", "example.community").
_AFTER = r"(?![\w-]|\.[\w-])"
# RFC 2047 encoded words, and the white space between adjacent ones (which is not text).
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t]*(?:\r?\n[ \t]+)?[ \t]*(=\?)")


def fold(text: str) -> str:
    """A text in the form two spellings of one address share: compatibility-decomposed,
    case-folded, with every dot a dot."""
    if text.isascii():
        return text.lower()  # the same, at a fraction of the cost (raw mail is mostly ASCII)
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return folded.replace(_IDEOGRAPHIC_STOP, ".") if _IDEOGRAPHIC_STOP in folded else folded


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    return fold(char)


class Person:
    """Finds one person in texts: an address (canonical, as addresses.normalise_address gives
    it) in any of its spellings, or an erased address's keyed hash ("erased:..."); with the
    signing keys, also in the tokens of ours that name the address."""

    def __init__(self, forms: tuple[str, ...], signing_keys: tuple[str, ...] = ()):
        self.forms = forms
        self._keys = signing_keys
        alternatives = set()
        self._needles = set()  # a plain substring every match holds: most texts are ruled out by it alone
        for form in forms:
            local, at, domain = form.rpartition("@")
            if not at:
                alternatives.add(re.escape(fold(form)))
                self._needles.add(fold(form))
                continue
            self._needles.update((fold(local) + "@", fold(local) + '"@'))
            domains = {fold(domain)}
            try:
                domains.add(fold(idna.decode(domain)) if "xn--" in domain else fold(idna.encode(domain).decode()))
            except (idna.IDNAError, UnicodeError):
                pass
            # The local part bare, or quoted ("jane.doe"@example.com is jane.doe@example.com).
            local_part = f'(?:{re.escape(fold(local))}|"{re.escape(fold(local))}")'
            alternatives.add(local_part + "@(?:" + "|".join(map(re.escape, sorted(domains))) + ")")
        self.pattern = re.compile(_BEFORE + "(?:" + "|".join(sorted(alternatives)) + ")" + _AFTER)
        # A keyed hash is only ever written into columns by an erasure, never sent in mail.
        self._in_raw = any("@" in form for form in forms)

    def named_in(self, text: str | None) -> bool:
        if not text:
            return False
        items = _json_list(text)
        if items is not None:
            # A column kept as a JSON list writes other than ASCII as escapes ("j\u00fcrgen"):
            # read as it is, an address with any of it was never found, and never scrubbed.
            return any(self.named_in(item) for item in items if isinstance(item, str))
        folded = fold(text)
        if any(n in folded for n in self._needles) and self.pattern.search(folded) is not None:
            return True
        return bool(self._tokens_naming(text))

    def _tokens_naming(self, text: str) -> list[str]:
        """The tokens in the text that carry the person's address (read with the signing keys)."""
        if not self._keys or not self._in_raw:  # a keyed hash is in no token
            return []
        return [t for t in token_candidates(text) if email_in_token(self._keys, t) in self.forms]

    def is_key(self, text: str) -> bool:
        """Whether a stored key (a rate-limit row's sender, a reply's address) is this person."""
        return self.pattern.fullmatch(fold(text.strip().strip("<>"))) is not None

    def named_in_message(self, raw: bytes | None, columns: tuple[str | None, ...]) -> bool:
        """Whether a stored message names the person: in its raw text, decoded every way, or in
        any of the columns read from it."""
        if any(self.named_in(column) for column in columns):
            return True
        return raw is not None and self._in_raw and any(self.named_in(text) for text in message_texts(raw))

    def scrub(self, text: str | None, record: str) -> str | None:
        """The text with every spelling of the person replaced by `record`; a JSON list stays one."""
        if not text or not self.named_in(text):
            return text
        items = _json_list(text)
        if items is not None:
            return json.dumps([self.scrub(i, record) if isinstance(i, str) else i for i in items])
        scrubbed = self._replace(text, record)
        for token in self._tokens_naming(scrubbed):
            scrubbed = scrubbed.replace(token, record)
        # A spelling the span mapping could not place (marks out of canonical order): the whole
        # value goes rather than the trace staying.
        return record if self.named_in(scrubbed) else scrubbed

    def _replace(self, text: str, record: str) -> str:
        """Replace matches found in the folded text at their places in the original one."""
        folded, origin = [], []
        for position, char in enumerate(text):
            piece = _fold_char(char)
            folded.append(piece)
            origin.extend([position] * len(piece))
        spans = [(origin[m.start()], origin[m.end() - 1] + 1) for m in self.pattern.finditer("".join(folded))]
        out, last = [], 0
        for start, end in spans:
            if start >= last:
                out.extend((text[last:start], record))
                last = end
        out.append(text[last:])
        return "".join(out)


def _json_list(text: str) -> list | None:
    """The items of a column kept as a JSON list (the inbox's reasons, addresses, found); None
    for any other text."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):  # a stranger's "[[[[...]" is text, not a column of ours
        return None
    return items if isinstance(items, list) else None


def message_texts(raw: bytes) -> Iterator[str]:
    """Every text a message holds, each decoded as a reader would see it: the raw text, its
    encoded words decoded, and each part's payload after its transfer encoding and charset."""
    text = raw.decode("utf-8", "replace")
    yield from _with_escapes_read(text)
    if "=?" in text:
        yield from _with_escapes_read(decode_encoded_words(text))
    try:
        message = parse(raw)
        for count, part in enumerate(_leaves(message)):
            if count >= _MAX_PARTS:
                break
            yield from _with_escapes_read(_payload_text(part))
    except (RecursionError, LookupError, ValueError, TypeError, AssertionError):
        return  # a message the parser cannot take apart is still searched as text above


def _with_escapes_read(text: str) -> Iterator[str]:
    yield text
    if "&" in text:
        yield html.unescape(text)
    if "%" in text:
        yield urllib.parse.unquote(text)


def _leaves(message: Message) -> Iterator[Message]:
    """The non-multipart parts, depth first, without recursion (a deep nesting is no stack risk)."""
    stack = [message]
    while stack:
        part = stack.pop()
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            forwarded = _encoded_message(part, payload)
            if forwarded is None:
                stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
            else:
                whole = Message()  # its headers and text, as a part of its own
                whole.set_payload(forwarded, "utf-8")
                yield whole
                stack.append(parse(forwarded))  # and its parts, each decoded
        else:
            yield part


def _encoded_message(part: Message, payload: list) -> bytes | None:
    """A forwarded message sent in base64 or quoted-printable, decoded, which RFC 2046 does not
    allow for message/rfc822 and some mail programs send all the same: the parser took its
    encoded text for a message of its own, so the address inside was never read. None for any
    other part."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if part.get_content_maintype() != "message" or encoding not in ("base64", "quoted-printable"):
        return None
    text = "".join(p.as_string() for p in payload if isinstance(p, Message))
    try:
        if encoding == "base64":
            return base64.b64decode("".join(text.split()))
        return quopri.decodestring(text.encode("utf-8", "replace"))
    except (binascii.Error, ValueError):
        return None


def _payload_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    for codec in (codec_of(charset), "utf-8"):
        try:
            return payload.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", "replace")


def decode_encoded_words(text: str) -> str:
    """Text with RFC 2047 encoded words decoded; adjacent words are joined first (the space
    between them is not text, and one character may be split across two)."""
    text = _BETWEEN_WORDS.sub(r"\1\2", text)
    out, last = [], 0
    pending: list[tuple[str, bytes]] = []

    def flush():
        if pending:
            charset = pending[0][0]
            out.append(b"".join(chunk for _, chunk in pending).decode(codec_of(charset), "replace"))
            pending.clear()

    for word in _ENCODED_WORD.finditer(text):
        if word.start() != last:
            flush()
            out.append(text[last:word.start()])
        charset = word.group(1).split("*", 1)[0]  # RFC 2231 adds *language
        chunk = _word_bytes(word.group(2), word.group(3))
        if pending and pending[0][0].lower() != charset.lower():
            flush()
        pending.append((charset, chunk))
        last = word.end()
    flush()
    out.append(text[last:])
    return "".join(out)


def _word_bytes(encoding: str, data: str) -> bytes:
    if encoding in "bB":
        try:
            return base64.b64decode(data + "=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            return data.encode("ascii", "replace")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  data.replace("_", " ").encode("utf-8", "replace"))


# What a child process is handed, and answers: plain data, so it pickles.
def messages_naming(forms: tuple[str, ...], rows: list[tuple[int, bytes | None, tuple[str | None, ...]]],
                    signing_keys: tuple[str, ...] = ()) -> list[int]:
    """The ids of the (id, raw, columns) rows that name the person (in a token too, with the keys)."""
    person = _person(forms, signing_keys)
    return [message_id for message_id, raw, columns in rows if person.named_in_message(raw, columns)]


def keys_naming(forms: tuple[str, ...], keys: list[str]) -> list[str]:
    """The stored keys (rate-limit senders, reply addresses) that are the person."""
    person = _person(forms)
    return [key for key in keys if person.is_key(key)]


def forget_people() -> None:
    """Drop the people searched for, their addresses and the keys that read their tokens: the
    child that searched is kept, idle, for the next search (suppression/subject_search.py)."""
    _person.cache_clear()


@lru_cache(maxsize=8)  # one search hands its child many pages for the same person
def _person(forms: tuple[str, ...], signing_keys: tuple[str, ...] = ()) -> Person:
    return Person(forms, signing_keys)
