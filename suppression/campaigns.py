"""Campaigns: the name a mailing tool gives one send, carried hidden in its links (tokens.py) and
recorded with each suppression made through them; and how many a send reached."""

import re

from suppression.errors import InvalidValue

CAMPAIGN_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_SENT = 2**53  # a count of recipients; JSON numbers are exact up to here


def campaign_id(value) -> str:
    """A campaign id as given, if it is 1 to 64 characters of A-Za-z0-9._-; else InvalidValue."""
    if not isinstance(value, str) or not CAMPAIGN_PATTERN.fullmatch(value):
        shown = repr(value)[:80] if isinstance(value, str) else type(value).__name__
        raise InvalidValue(f"a campaign is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-' (got {shown})")
    return value


def is_campaign(value) -> bool:
    return isinstance(value, str) and CAMPAIGN_PATTERN.fullmatch(value) is not None


def sent_count(value) -> int:
    """How many a campaign was sent to: a whole number from 0; else InvalidValue."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SENT:
        raise InvalidValue(f"`sent` must be a whole number from 0 to {MAX_SENT}")
    return value
