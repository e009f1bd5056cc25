"""The in-memory index of suppressed addresses: its sorted arrays of keys (keys.py), the
live state that follows the change log (live.py), and its snapshot on disk (snapshot.py).
The stores read their rows into ScopeRows, named here so they need not know the layout."""

from suppression.index.keys import KeySet, ScopeRows, SuppressionIndex

__all__ = ["KeySet", "ScopeRows", "SuppressionIndex"]
