"""The log: its format and levels, for the service and its workers, and the libraries that
would otherwise write personal data or noise into it."""

import logging


def configure_logging(settings, who: str = "") -> None:
    """The log's format and levels, for the service and its workers (`who` names a worker)."""
    logging.basicConfig(
        force=bool(who),  # a forked worker replaces the first process's handler, with its name in it
        level=settings.service.log_level.upper(),
        format="%(asctime)s %(levelname)s " + (f"[{who}] " if who else "") + "%(name)s: %(message)s",
    )
    # aiosmtpd logs every sender and recipient address at INFO; addresses are personal data.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
    # aioimaplib logs every line it sends and receives at DEBUG: messages, and so addresses.
    logging.getLogger("aioimaplib").setLevel(max(logging.WARNING, logging.getLogger().level))
    # aiosqlite logs every statement with its parameters at DEBUG: addresses among them.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger().level))
    # psycopg's pool logs every failed connection attempt with the driver's multi-line text;
    # the store reports the one reason that matters.
    logging.getLogger("psycopg.pool").setLevel(max(logging.ERROR, logging.getLogger().level))
