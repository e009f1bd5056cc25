"""A self-hosted email unsubscribe and suppression-list service: the domain.

What a mailing tool written in Python may import.
"""

__all__ = ["mint_link", "normalise_address", "UnsubscribeLink"]


def __getattr__(name: str):
    # Read on first use (PEP 562), not when any module of the package is imported: the mail
    # reader's child, `python -m suppression` and every CLI command would otherwise read the
    # link signer and its configuration first, and NumPy before `serve` has limited its threads.
    if name == "normalise_address":
        from suppression.addresses import normalise_address
        return normalise_address
    if name in ("mint_link", "UnsubscribeLink"):
        from suppression import links
        return getattr(links, name)
    raise AttributeError(f"module 'suppression' has no attribute {name!r}")
