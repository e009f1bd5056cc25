"""Log records from the HTTP library made fit for our log: one line for a client's malformed request."""

import logging

from aiohttp.http_exceptions import HttpProcessingError


class ProtocolErrorsInOneLine(logging.Filter):
    """aiohttp logs a malformed request (bad header bytes, bad framing) with a traceback at
    ERROR, though it is the client's fault and answered 400: anyone could fill the log so."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
            error = record.exc_info[1]
            record.msg = "malformed HTTP request refused with %s: %s"
            record.args = (error.code, str(error.message).splitlines()[0][:200] if error.message else "")
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


def quiet_protocol_errors() -> None:
    logging.getLogger("aiohttp.server").addFilter(ProtocolErrorsInOneLine())
