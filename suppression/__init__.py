"""A self-hosted email unsubscribe and suppression-list service: the domain.

What a mailing tool written in Python may import.
"""

import os

__all__ = ["mint_link", "normalise_address", "UnsubscribeLink"]

# NumPy's BLAS starts a thread a core when NumPy is imported, and nothing here multiplies
# matrices. Every process of ours imports this package before NumPy: the service (a single
# thread until its loop starts, as [http] workers forks it: handlers/workers.py), each CLI
# command, and each mail reader's child, where those threads cost 80 ms of CPU a start.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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
