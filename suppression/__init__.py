"""A self-hosted email unsubscribe and suppression-list service: the domain.

What a mailing tool written in Python may import.
"""

from suppression.addresses import normalise_address

__all__ = ["normalise_address"]
