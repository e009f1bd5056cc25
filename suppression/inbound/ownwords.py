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
_REPLY_HEADER = re.compile(r"^\s*(?:" + "|".join(_REPLY_HEADERS) + r")\s*$", _I)

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
_SEPARATOR = re.compile(r"^\s*(?:" + "|".join(_SEPARATORS) + r")\s*$", _I)

# Outlook's header block: a From line followed closely by a Sent/Date line.
_FROM_LINE = re.compile(r"^\s*\*?(from|de|von|da|van|från|fra|发件人|寄件者|差出人)\s*\*?\s*[:：]", _I)
_SENT_LINE = re.compile(
    r"^\s*\*?(sent|date|envoyé|gesendet|datum|enviado|fecha|data|inviato|verzonden|skickat|"
    r"发送时间|發送時間|日期|送信日時|日付)\s*\*?\s*[:：]", _I,
)

# Signatures and the lines phones and apps add.
_SIGNATURE = re.compile(
    r"^\s*(--\s*|"
    r"sent from my\b.*|sent from (mail|outlook|yahoo|gmail)\b.*|get outlook for\b.*|"
    r"enviado desde mi\b.*|envoyé de mon\b.*|envoyé depuis mon\b.*|von meinem\b.*gesendet.*|"
    r"enviado do meu\b.*|enviado a partir do\b.*|inviato da\b.*|verzonden (vanaf|met) mijn\b.*|"
    r".*から送信|发自我的.*|從我的.*傳送|sent via\b.*)$",
    _I,
)


def own_words(text: str) -> str:
    """The part of a plain-text body that the sender wrote for this message."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for number, line in enumerate(lines):
        if _starts_earlier_message(lines, number):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _starts_earlier_message(lines: list[str], number: int) -> bool:
    line = lines[number]
    if _SEPARATOR.match(line) or _SIGNATURE.match(line) or _REPLY_HEADER.match(line):
        return True
    following = lines[number + 1] if number + 1 < len(lines) else ""
    # Clients wrap a long "On ... wrote:" line in two.
    if following and _REPLY_HEADER.match(f"{line} {following}") and not _REPLY_HEADER.match(following):
        return True
    if _FROM_LINE.match(line):
        return any(_SENT_LINE.match(nearby) for nearby in lines[number + 1: number + 5])
    return False
