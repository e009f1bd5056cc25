"""The one table of what each domain error becomes at the edges: an HTTP status for the API and
the pages (handlers/errors.py), and an SMTP reply for mail (handlers/smtp.py)."""

from suppression.errors import (
    BadImport,
    BadToken,
    Conflict,
    InvalidAddress,
    InvalidValue,
    MailStorageFull,
    NotFound,
    StoreUnavailable,
    SuppressionError,
    UnknownTopic,
)

# error: (HTTP status, SMTP reply). SMTP replies are temporary (4xx) where trying again later
# can succeed, so a sender's mail server keeps the message and retries.
ANSWERS: dict[type[SuppressionError], tuple[int, str]] = {
    InvalidAddress: (400, "553 5.1.3 Recipient address is not valid"),
    UnknownTopic: (400, "550 5.7.1 Unknown topic"),
    InvalidValue: (400, "501 5.5.4 Invalid argument"),
    BadImport: (400, "554 5.6.0 Message refused"),
    BadToken: (400, "554 5.7.1 Invalid token"),
    NotFound: (404, "550 5.1.1 Not found"),
    Conflict: (409, "451 4.3.0 Temporary failure, please try again later"),
    StoreUnavailable: (503, "451 4.3.0 Temporary failure, please try again later"),
    MailStorageFull: (507, "452 4.3.1 Insufficient system storage, please try again later"),
}
_DEFAULT = (400, "554 5.0.0 Message refused")


def answer_of(exc: SuppressionError) -> tuple[int, str]:
    """(HTTP status, SMTP reply) for a domain error, by its nearest listed kind."""
    for kind in type(exc).__mro__:
        if kind in ANSWERS:
            return ANSWERS[kind]
    return _DEFAULT


def http_status(exc: SuppressionError) -> int:
    return answer_of(exc)[0]


def smtp_reply(exc: SuppressionError) -> str:
    return answer_of(exc)[1]
