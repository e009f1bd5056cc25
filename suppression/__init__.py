"""A self-hosted email unsubscribe and suppression-list service: the domain.

What a mailing tool written in Python may import.
"""

from suppression.addresses import normalise_address
from suppression.links import UnsubscribeLink, mint_link

__all__ = ["mint_link", "normalise_address", "UnsubscribeLink"]
