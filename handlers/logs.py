"""The log: its format and levels, for the service and its workers, and the libraries that
would otherwise write personal data or noise into it."""

import logging


class OneLine(logging.Formatter):
    """Each record's message on one line, its control characters escaped: a client's text in it
    (a JSON field's name, a query parameter) cannot begin a line that reads as the service's own.
    A traceback, which is ours, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.translate(_ESCAPED)
        return super().formatMessage(record)


_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(9), *range(10, 32), 127, 0x85)} | {
    0x2028: "\\u2028", 0x2029: "\\u2029"}


def configure_logging(settings, who: str = "") -> None:
    """The log's format and levels, for the service and its workers (`who` names a worker)."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLine("%(asctime)s %(levelname)s " + (f"[{who}] " if who else "") + "%(name)s: %(message)s"))
    logging.basicConfig(
        force=bool(who),  # a forked worker replaces the first process's handler, with its name in it
        level=settings.service.log_level.upper(),
        handlers=[handler],
    )
    # aiosmtpd logs every sender and recipient address at INFO, and at WARNING the first word of
    # each line a client sends out of turn (an address, as often as not); addresses are personal data.
    logging.getLogger("mail.log").setLevel(max(logging.ERROR, logging.getLogger().level))
    # aioimaplib logs every line it sends and receives at DEBUG: messages, and so addresses.
    logging.getLogger("aioimaplib").setLevel(max(logging.WARNING, logging.getLogger().level))
    # aiosqlite logs every statement with its parameters at DEBUG: addresses among them.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger().level))
    # psycopg's pool logs every failed connection attempt with the driver's multi-line text;
    # the store reports the one reason that matters.
    logging.getLogger("psycopg.pool").setLevel(max(logging.ERROR, logging.getLogger().level))
