"""Keyed hashes for erased addresses: what keeps an opt-out after the person is forgotten.

An erased address is kept only as `erased:` + HMAC-SHA256 under a secret generated once in
data_dir (erasure.key, 0600): enough to recognise the address when someone presents it
again, nothing to read it back from. Checks match it by a keyed 64-bit index key, xxh3 over
the secret and the address: as fast as the plain key, which a bulk check of millions needs,
and useless without the key file. Hashed checks match by keyed keys of its SHA-256 and MD5.
"""

import hashlib
import hmac

import numpy as np
import xxhash

from suppression.addresses import HASHES
from suppression.keyfile import load_or_create_key
from suppression.shared_secrets import ERASURE, shared_secret

KEY_FILE_NAME = "erasure.key"  # on SQLite; on PostgreSQL the key is in the database (shared_secrets.py)
RECORD_PREFIX = "erased:"


class ErasureKeys:
    def __init__(self, secret: str):
        self._secret = secret.encode("utf-8")

    @classmethod
    def of_data_dir(cls, data_dir) -> "ErasureKeys":
        return cls(load_or_create_key(data_dir / KEY_FILE_NAME))

    @classmethod
    def of_settings(cls, settings) -> "ErasureKeys":
        """The key file in data_dir on SQLite; on PostgreSQL the one key every instance shares."""
        if settings.store.url:
            return cls(shared_secret(settings.store.url, ERASURE, settings.service.data_dir / KEY_FILE_NAME))
        return cls.of_data_dir(settings.service.data_dir)

    def record(self, canonical: str) -> str:
        """How an erased address is kept: its keyed hash, never the address."""
        return RECORD_PREFIX + self.keyed_hash(canonical)

    def keyed_hash(self, text: str) -> str:
        """HMAC-SHA256 under the erasure key, in hex: how a table that must never hold an address names one."""
        return hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def index_key(self, canonical: str) -> int:
        return xxhash.xxh3_64_intdigest(self._secret + canonical.encode("utf-8"))

    def index_keys(self, forms: list[bytes]) -> np.ndarray:
        """The keyed keys of a bulk check's lookup forms (as addresses.keys_of_block gives them)."""
        secret = self._secret
        return np.fromiter((xxhash.xxh3_64_intdigest(secret + f) for f in forms), dtype=np.uint64, count=len(forms))

    def digest_key(self, algorithm: str, digest: bytes) -> int:
        """The keyed key of an address's digest (HASHES), for partners' hashed checks."""
        return xxhash.xxh3_64_intdigest(self._secret + algorithm.encode() + digest)

    def digest_keys(self, canonical: str) -> dict[str, int]:
        data = canonical.encode("utf-8")
        return {name: self.digest_key(name, fn(data).digest()) for name, fn in HASHES.items()}


def is_record(email: str) -> bool:
    return email.startswith(RECORD_PREFIX)

