"""API keys: minted with a secure random source, kept only as a SHA-256 hash, compared in constant time.

A key reads `sk_<id>_<secret>`: the id finds the row, the secret is checked against its hash.
Keys carry 256 random bits, so a fast hash is enough (no password stretching needed).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

# Each scope includes those before it: check reads one address at a time (and the bulk check),
# sync also reads the whole list (the change feed, the history), admin also writes.
SCOPES = ("check", "sync", "admin")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: str
    secret_hash: str

    def allows(self, scope: str) -> bool:
        """True when this key may do what `scope` needs (admin includes sync, sync includes check)."""
        if self.scope not in SCOPES or scope not in SCOPES:
            return False
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


def mint_api_key() -> tuple[str, str, str]:
    """Return (full key to show once, id, hash of the secret to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"sk_{key_id}_{secret}", key_id, hash_secret(secret)


def split_api_key(presented: str) -> tuple[str, str] | None:
    """(id, secret) of a presented key, or None if it is not shaped like one of ours."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "sk" or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
