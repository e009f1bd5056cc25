"""The sender's own words: a body without quoted earlier messages, forwards and signatures.

Everything from the first line that starts a quote, a forward or a signature is dropped,
and so is every line quoted with ">". The patterns are those the common clients write
(Gmail, Outlook, Apple Mail, Thunderbird, Yahoo, phones) in the common languages.
"""

import re

_I = re.IGNORECASE

# Lines that introduce a quoted earlier message ("On <date>, <who> wrote:").
_REPLY_HEADERS = [
    r"on\b.{0,250}\bwrote\s*:",
    r"el\b.{0,250}\bescribi[oó]\s*:",
    r"le\b.{0,250}\ba [ée]crit\s*:",
    r"am\b.{0,250}\bschrieb\b.{0,250}:",
    r".{0,250}\bschrieb\s*:",
    r"em\b.{0,250}\bescreveu\s*:",
    r"(il giorno\b)?.{0,250}\bha scritto\s*:",
    r"op\b.{0,250}\bschreef\b.{0,250}:",
    r".{0,250}のメッセージ\s*[:：]",
    r"\d{4}年\d{1,2}月\d{1,2}日.{0,250}[:：]",
    r"在\s?.{0,250}写道\s*[:：]",
    r".{0,250}(写道|寫道)\s*[:：]",
]
# Matched against stripped lines with fullmatch: a leading \s* before a pattern that starts
# with .{0,250} made each blank line cost its length times 250.
_REPLY_HEADER = re.compile("(?:" + "|".join(_REPLY_HEADERS) + ")", _I)

# Separator lines of quoted or forwarded messages.
_SEPARATORS = [
    r"-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"mensagem original|messaggio originale|oorspronkelijk bericht|原始邮件|原始郵件|元のメッセージ)\s*-{2,}",
    r"-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"mensagem encaminhada|messaggio inoltrato|doorgestuurd bericht|转发的邮件|轉寄的郵件|転送されたメッセージ)\s*-{2,}",
    r"(begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié|"
    r"inicio del mensaje reenviado|início da mensagem reencaminhada|inizio messaggio inoltrato|"
    r"begin doorgestuurd bericht)\s*:",
    r"_{10,}",  # Outlook's rule above its header block
]
_SEPARATOR = re.compile("(?:" + "|".join(_SEPARATORS) + ")", _I)

# Outlook's header block: a From line followed closely by a Sent/Date line.
_FROM_LINE = re.compile(r"\*?(from|de|von|da|van|från|fra|发件人|寄件者|差出人)\s*(?:\*\s*)?[:：]", _I)
_SENT_LINE = re.compile(
    r"\*?(sent|date|envoyé|gesendet|datum|enviado|fecha|data|inviato|verzonden|skickat|"
    r"发送时间|發送時間|日期|送信日時|日付)\s*(?:\*\s*)?[:：]", _I,
)

# Signatures and the lines phones and apps add.
_SIGNATURE = re.compile(
    r"(--|"
    r"sent from my\b.*|sent from (mail|outlook|yahoo|gmail)\b.*|get outlook for\b.*|"
    r"enviado desde mi\b.*|envoyé de mon\b.*|envoyé depuis mon\b.*|von meinem\b.*gesendet.*|"
    r"enviado do meu\b.*|enviado a partir do\b.*|inviato da\b.*|verzonden (vanaf|met) mijn\b.*|"
    r".*から送信|发自我的.*|從我的.*傳送|sent via\b.*)",
    _I,
)
# Lines longer than this start no quote, forward or signature; they are only kept. Every
# pattern above then costs at most this many steps a line, whatever the text.
_MAX_MARKER_LINE = 600


def own_words(text: str) -> str:
    """The part of a plain-text body that the sender wrote for this message."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    stripped = [line.strip() if len(line) <= _MAX_MARKER_LINE else "" for line in lines]
    kept: list[str] = []
    for number, line in enumerate(lines):
        if stripped[number] and _starts_earlier_message(stripped, number):
            if _introduces_cited_lines(stripped, number):
                # Bottom-posting: "On ... wrote:", the quote in ">" lines, and the answer below.
                continue
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _introduces_cited_lines(lines: list[str], number: int) -> bool:
    """Whether line `number` is an "On ... wrote:" whose quote follows in ">" lines (or is the
    first of two such lines, wrapped)."""
    if not (_REPLY_HEADER.fullmatch(lines[number]) or _REPLY_HEADER.fullmatch(" ".join(lines[number:number + 2]))):
        return False
    following = [line for line in lines[number + 1: number + 4] if line]
    return bool(following) and (following[0].startswith(">") or len(following) > 1 and following[1].startswith(">"))


def _starts_earlier_message(lines: list[str], number: int) -> bool:
    """Whether stripped line `number` starts a quote, a forward or a signature ("" for overlong lines)."""
    line = lines[number]
    if _SEPARATOR.fullmatch(line) or _SIGNATURE.fullmatch(line) or _REPLY_HEADER.fullmatch(line):
        return True
    following = lines[number + 1] if number + 1 < len(lines) else ""
    # Clients wrap a long "On ... wrote:" line in two.
    if following and _REPLY_HEADER.fullmatch(f"{line} {following}") and not _REPLY_HEADER.fullmatch(following):
        return True
    if _FROM_LINE.match(line):
        return any(_SENT_LINE.match(nearby) for nearby in lines[number + 1: number + 5])
    return False
