"""Errors the domain raises; the edges (handlers/, cli.py) map each to a status."""


class SuppressionError(Exception):
    """Base of every error the domain raises on purpose."""


class ConfigError(SuppressionError):
    """The configuration cannot be used; the message names the key or file."""


class InvalidAddress(SuppressionError):
    """The text is not an email address."""


class UnknownTopic(SuppressionError):
    """A topic that the configuration does not list."""


class InvalidValue(SuppressionError):
    """A reason, cursor or other argument outside what the domain accepts."""


class BadToken(SuppressionError):
    """An unsubscribe token that is forged, damaged, too old or signed with an unknown key."""


class BadUndo(BadToken):
    """An undo that this address's own unsubscribe did not hand out, or that has expired."""


class BadReturn(BadToken):
    """A come-back confirmation that is forged, damaged, not one, or older than a week."""


class BadImport(SuppressionError):
    """A CSV file that cannot be imported; nothing of it was written."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


class StoreUnavailable(SuppressionError):
    """The database cannot take the work now (locked, full, read-only); try again later."""


class Conflict(SuppressionError):
    """The thing to create exists already."""


class NotFound(SuppressionError):
    """The thing asked for does not exist."""


class MailStorageFull(SuppressionError):
    """The raw mail kept has reached its configured total; new mail is refused for now."""
