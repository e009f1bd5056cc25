"""MIME to text: every part decoded whatever its charset or transfer encoding.

Parsing uses the compat32 policy, which never raises on malformed input; header and body
decoding fall back step by step instead of failing.
"""

import codecs
import email
import email.header
import email.policy
import email.utils
import re
from email.message import Message
from html.parser import HTMLParser

# Labels that mail software writes for charsets it means more broadly.
_CHARSET_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "chinese": "gb18030",
    "iso-2022-jp": "iso2022_jp_ext", "shift_jis": "cp932", "x-sjis": "cp932", "sjis": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "iso-8859-1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252", "windows-874": "cp874", "iso-8859-8-i": "iso-8859-8",
}
MAX_TEXT_CHARS = 200_000  # what we read of a body; requests are short
# What we read of one header: RFC 5322 lines are at most 998 characters, and the standard
# library's RFC 2047 decoder and address parser are quadratic (or recurse) on longer hostile ones.
MAX_HEADER_CHARS = 4000
_MAX_ADDRESS_HEADER_CHARS = 1000


class _BoundedMessage(Message):
    """A Message whose header parameters (Content-Type's boundary and report-type, a
    disposition's filename) are read from the first MAX_HEADER_CHARS of the header only: the
    standard library's parameter parser is quadratic, and the parser itself asks for the
    boundary, so a 63 KB Content-Type of folded ";" held the reader for 2.7 s."""

    def _get_params_preserve(self, failobj, header):
        value = self.get(header, None)
        if value is not None and len(str(value)) > MAX_HEADER_CHARS:
            head = Message()
            head[header] = str(value)[:MAX_HEADER_CHARS]
            return head._get_params_preserve(failobj, header)
        return super()._get_params_preserve(failobj, header)


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, _class=_BoundedMessage, policy=email.policy.compat32)


def header(message: Message, name: str) -> str:
    """A header's value decoded from RFC 2047 words, on one line; '' if absent or unreadable."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        # A Header object carries raw 8-bit bytes (SMTPUTF8 mail); decode it as it is.
        parts = email.header.decode_header(
            value if isinstance(value, email.header.Header) else str(value)[:MAX_HEADER_CHARS]
        )
        text = "".join(
            chunk.decode(codec_of(charset), "replace") if isinstance(chunk, bytes) else chunk
            for chunk, charset in parts
        )
    except (LookupError, ValueError, email.errors.HeaderParseError):
        text = str(value)
    return " ".join(text[:MAX_HEADER_CHARS].split())


def address_of(value: str) -> str:
    """The address part of a From-like header value ('' if none)."""
    try:
        return email.utils.parseaddr(value[:_MAX_ADDRESS_HEADER_CHARS])[1]
    except RecursionError:  # nested comments "((((...": no address a person wrote
        return ""


def part_text(part: Message) -> str:
    """A leaf part's payload as text, whatever its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    for codec in (codec_of(charset), "utf-8", "cp1252"):
        try:
            return payload[: MAX_TEXT_CHARS * 4].decode(codec)[:MAX_TEXT_CHARS]
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", "replace")[:MAX_TEXT_CHARS]


def codec_of(charset: str | None) -> str:
    """The Python codec for a MIME charset label, read as mail software means it (utf-8 if unknown)."""
    name = (charset or "utf-8").strip().strip('"').lower()
    name = _CHARSET_SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def body_text(message: Message) -> str:
    """The text the sender wrote in the message body (not attachments or forwarded originals).

    text/plain is preferred; an HTML-only message is turned into text, dropping what mail
    clients mark as quoted.
    """
    plain, html = [], []
    _collect(message, plain, html, depth=0)
    # MAX_TEXT_CHARS in all, not a part: fifty parts of it were 10 MB for every pattern after.
    if plain:
        return "\n".join(plain)[:MAX_TEXT_CHARS]
    texts, length = [], 0
    for part in html:
        if length >= MAX_TEXT_CHARS:
            break
        texts.append(html_to_text(part))
        length += len(texts[-1]) + 1
    return "\n".join(texts)[:MAX_TEXT_CHARS]


def _collect(part: Message, plain: list[str], html: list[str], depth: int) -> None:
    if depth > 20:
        return  # a nesting this deep is an attack, not a letter
    kind = part.get_content_type()
    if part.is_multipart():
        children = [p for p in (part.get_payload() or []) if isinstance(p, Message)]
        if kind == "multipart/alternative":
            preferred = [c for c in children if c.get_content_type() == "text/plain"] or children[-1:]
            children = preferred
        for child in children:
            _collect(child, plain, html, depth + 1)
        return
    if kind == "message/rfc822" or _is_attachment(part):
        return
    if kind == "text/plain":
        plain.append(part_text(part))
    elif kind == "text/html":
        html.append(part_text(part))


def _is_attachment(part: Message) -> bool:
    disposition = header(part, "Content-Disposition").split(";")[0].strip().lower()
    return disposition == "attachment"


_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "blockquote", "pre"}
_SKIP_TAGS = {"style", "script", "head", "title"}
# Elements with no end tag: one of them hidden hides nothing after it.
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Inline styles that hide an element from the reader of the mail: a newsletter's preheader, or
# words a stranger wants read but not seen ("unsubscribe" in white on white is still seen here).
_HIDDEN_STYLE = re.compile(
    r"display:none|visibility:hidden|mso-hide:all|(?<![\w-])(font-size|max-height|height|opacity):0*\.?0+(px|pt|em|rem|%)?(?![\w.])")


class _TextExtractor(HTMLParser):
    """HTML to text; drops scripts, styles and what clients mark as quoted.

    Quoted: <blockquote> (Apple Mail's type="cite", Thunderbird, Gmail inside its quote),
    Gmail's <div class="gmail_quote">, Yahoo's "yahoo_quoted", Outlook's divRplyFwdMsg and
    everything after it.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        # Inside a dropped element: its tag and how deep in nested tags of that name we are.
        # Only that tag is counted, so unclosed <p>s in quoted HTML cannot swallow the rest.
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.stopped = False

    def handle_starttag(self, tag, attrs):
        if self.stopped:
            return
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        element_id = attributes.get("id") or ""
        if element_id in ("divRplyFwdMsg", "appendonsend") or "moz-forward-container" in classes:
            self.stopped = True  # Outlook and Thunderbird put the earlier message after these
            return
        if tag in _SKIP_TAGS or tag == "blockquote" or any(
            c in ("gmail_quote", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote") for c in classes
        ) or (tag not in _VOID_TAGS and _hidden(attributes)):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.stopped and self.skip_tag is None:
            self.parts.append(data)


def _hidden(attributes: dict) -> bool:
    if "hidden" in attributes:
        return True
    style = attributes.get("style")
    return bool(style) and _HIDDEN_STYLE.search("".join(style[:1000].lower().split())) is not None


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(html[:MAX_TEXT_CHARS])
        extractor.close()
    except (AssertionError, ValueError):
        pass  # keep what was read before the markup broke
    lines = ("".join(extractor.parts)).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines).strip()
