"""API keys: minted with a secure random source, kept only as a SHA-256 hash, compared in constant time.

A key reads `sk_<id>_<secret>`: the id finds the row, the secret is checked against its hash.
Keys carry 256 random bits, so a fast hash is enough (no password stretching needed).
"""

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from suppression.model import Role

# A key's role (called its `scope` outside: the CLI's --scope, the api_keys table); each includes
# those before it (suppression/model.py, Role).
ROLES = tuple(role.value for role in Role)  # plain strings: argparse shows their repr


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: str
    secret_hash: str

    def allows(self, role: str) -> bool:
        """True when this key may do what `role` needs (admin includes sync, sync includes check)."""
        if self.role not in ROLES or role not in ROLES:
            return False
        return ROLES.index(self.role) >= ROLES.index(role)

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


class RecentKeys:
    """The keys read from the store lately, by id, with when each was read and the full key that
    last verified against its stored hash: a repeated key costs a constant-time compare, neither
    a read nor a hash (SHA-256 and splitting the key cost 1.5 µs a request here, bench/README.md).

    Bounded: at most `size` ids (only ids the store knows get in; past the bound the one read
    longest ago goes). Looked up by the key's public id, never by its secret, so no comparison
    but hmac.compare_digest ever sees a secret.
    """

    def __init__(self, size: int = 1000):
        self._size = size
        self._keys: OrderedDict[str, tuple[ApiKey, float, str]] = OrderedDict()  # the oldest read first

    def __len__(self) -> int:
        return len(self._keys)

    def read_at(self, key_id: str) -> float | None:
        """When the key with this id was read from the store, or None if it is not held."""
        held = self._keys.get(key_id)
        return None if held is None else held[1]

    def put(self, key: ApiKey, read_at: float) -> None:
        """Hold a key as the store has it now (a changed hash forgets what verified before)."""
        before = self._keys.pop(key.key_id, None)  # re-inserted last: the oldest read stays first
        while len(self._keys) >= self._size:
            self._keys.popitem(last=False)
        verified = before[2] if before is not None and before[0].secret_hash == key.secret_hash else ""
        self._keys[key.key_id] = (key, read_at, verified)

    def recent(self, presented: str, since: float) -> ApiKey | None:
        """The key `presented` is, if it is the one that last verified and its key was read from the
        store at `since` or later: one dict look-up by the public id and a constant-time compare."""
        held = self._keys.get(presented[3:15])  # the id's place in sk_<id>_<secret>
        if held is None or held[1] < since or not held[2] or not presented.isascii():
            return None
        return held[0] if hmac.compare_digest(presented, held[2]) else None

    def verified(self, key_id: str, secret: str, presented: str) -> ApiKey | None:
        """The held key with this id if `presented` (its full text, of which `secret` is the secret
        part) is that key, by its hash (compared in constant time)."""
        held = self._keys.get(key_id)
        if held is None:
            return None
        key, read_at, _ = held
        if not key.matches(secret):
            return None
        if presented.isascii():  # as every key we mint is; compare_digest takes only ASCII text
            self._keys[key_id] = (key, read_at, presented)
        return key

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def forget_name(self, name: str) -> None:
        """Drop the key of this name (revoked here: refused from the next request on)."""
        for key_id in [i for i, held in self._keys.items() if held[0].name == name]:
            del self._keys[key_id]
