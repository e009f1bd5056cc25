"""Unsubscribe tokens: who (canonical address) and what (a topic, or all emails), and for which
campaign, if any: unreadable.

A token is `CIPHERTEXT.TIMESTAMP.SIGNATURE`: the address, topic and campaign, padded and encrypted with
AES-256-GCM under a key derived from the signing key (HKDF-SHA256), then signed with
itsdangerous (HMAC-SHA256, a salt of its own), which does the key rotation, the timestamp
and the signature. Proxies, scanners and browser histories keep URLs; nobody without the key
reads the address out of one. The newest key signs; every listed key verifies. Tokens of the
earlier, readable form (a signed base64 JSON payload) still verify while their key is listed.
"""

import dataclasses
import functools
import hashlib
import json
import os
import re
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from suppression.addresses import normalise_address
from suppression.campaigns import campaign_id, is_campaign
from suppression.errors import BadReturn, BadToken, BadUndo, InvalidAddress
from suppression.model import ALL_EMAILS, Scope

SALT = "suppression.unsubscribe-link.v1"  # the earlier, readable form
PRIVATE_SALT = "suppression.unsubscribe-link.v2"
_CIPHER_INFO = b"suppression.unsubscribe-link.v2 encryption"
_PAD = 32  # plaintexts are padded to a multiple of this, so a token's length says little of the address
UNDO_SALT = "suppression.undo.v1"
UNDO_MAX_AGE_SECONDS = 86400  # an undo offered on a confirmation page works for a day
RETURN_SALT = "suppression.return.v1"  # the confirmation mailed to a person who asks to come back
_RETURN_CIPHER_INFO = b"suppression.return.v1 encryption"
RETURN_MAX_AGE_SECONDS = 7 * 86400  # a confirmation mailed to a person who asks to come back works for a week
MAX_TOKEN_CHARS = 1024  # real tokens are about 100; longer ones are refused unread
# What a token looks like in text: payload.timestamp.signature in URL-safe base64 (a leading
# dot when compressed), not inside a longer run of such characters.
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_.-])\.?[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,12}\.[A-Za-z0-9_-]{20,}")
_MAX_CANDIDATES = 20  # verified in one text; a flood of look-alikes is not read further


@dataclass(frozen=True)
class LinkClaim:
    email: str  # canonical
    scope: Scope
    campaign: str | None = None  # the send the link was minted for, if the tool named one


@dataclass(frozen=True)
class ReturnClaim:
    """What a come-back confirmation names: whose opt-outs, asked when, from which campaign's link."""

    email: str  # canonical
    asked_at: str  # utc_iso: opt-outs made after it are not the ones the person asked to lift
    campaign: str | None
    lang: str  # the language of the page it was asked on


def mint_token(
    secret_keys: str | Sequence[str], email: str, scope: Scope = ALL_EMAILS, campaign: str | None = None,
) -> str:
    """A token naming an address (normalised here), a scope (its topic, or null for all emails)
    and, if given, a campaign (a third element of the payload: tokens without one keep their
    earlier two), which only the key reads."""
    keys = _keys(secret_keys)
    payload = [normalise_address(email), scope.topic]
    if campaign is not None:
        payload.append(campaign_id(campaign))
    plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    plain += b" " * (-len(plain) % _PAD)  # JSON allows the trailing spaces
    nonce = os.urandom(12)
    sealed = nonce + _cipher(keys[0]).encrypt(nonce, plain, None)
    return _signer(keys).sign(base64_encode(sealed)).decode("ascii")


def mint_return(secret_keys: Sequence[str], claim: ReturnClaim, now: float | None = None) -> str:
    """The token of a come-back confirmation: sealed like a link's (a URL in a mailbox is read by
    scanners too), under a salt and cipher of its own, so no link, undo or other token is one.
    `now` (seconds since the epoch) stands in for the clock in tests."""
    keys = _keys(secret_keys)
    plain = json.dumps([claim.email, claim.asked_at, claim.campaign, claim.lang], ensure_ascii=False,
                       separators=(",", ":")).encode()
    plain += b" " * (-len(plain) % _PAD)
    nonce = os.urandom(12)
    sealed = nonce + _cipher(keys[0], _RETURN_CIPHER_INFO).encrypt(nonce, plain, None)
    return _signer(keys, RETURN_SALT, now).sign(base64_encode(sealed)).decode("ascii")


def verify_return(secret_keys: Sequence[str], token: str, now: float | None = None,
                  max_age_seconds: int | None = RETURN_MAX_AGE_SECONDS) -> ReturnClaim:
    """The claim of a come-back confirmation; BadReturn if it is forged, damaged, not one or older than a week
    (or `max_age_seconds`; None: any age)."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or not _canonical(token):
        raise BadReturn("the confirmation is damaged or incomplete")
    keys = _keys(secret_keys)
    try:
        payload = _open(keys, _signer(keys, RETURN_SALT, now).unsign(token, max_age=max_age_seconds),
                        _RETURN_CIPHER_INFO)
    except (BadData, BadToken):
        raise BadReturn("the confirmation is damaged, not ours or has expired") from None
    if (
        not isinstance(payload, list) or len(payload) != 4 or not all(isinstance(p, str) for p in payload[:2])
        or not (payload[2] is None or isinstance(payload[2], str)) or not isinstance(payload[3], str)
    ):
        raise BadReturn("the confirmation does not name an address")
    try:
        email = normalise_address(payload[0])
    except InvalidAddress:
        raise BadReturn("the confirmation does not name a valid address") from None
    return ReturnClaim(email, payload[1], payload[2], payload[3])


def mint_readable_token(secret_keys: str | Sequence[str], email: str, scope: Scope = ALL_EMAILS) -> str:
    """The earlier form, whose payload anyone can decode: only to test that such links still work."""
    return _serializer(secret_keys).dumps([normalise_address(email), scope.topic])


def verify_token(
    secret_keys: str | Sequence[str], token: str, max_age_seconds: int | None = None
) -> LinkClaim:
    """The claim a token carries; BadToken if it is forged, damaged, too old or unknown."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise BadToken("the link is damaged or incomplete")
    keys = _keys(secret_keys)
    remembered_as = (keys, hashlib.sha256(token.encode("ascii")).digest())
    known = _RECENT_LINKS.get(remembered_as, max_age_seconds)
    if known is not None:
        return known
    if not _canonical(token):
        raise BadToken("the link is damaged or incomplete")
    signed_at = None  # only links of the private form are remembered
    try:
        sealed, signed_at = _signer(keys).unsign(token, max_age=max_age_seconds, return_timestamp=True)
        payload = _open(keys, sealed)
    except BadData as exc:
        if not _signature_mismatch(exc):
            raise BadToken("the link is damaged, incomplete or no longer valid") from None
        try:  # not of the private form: perhaps of the earlier, readable one
            payload = _serializer(keys).loads(token, max_age=max_age_seconds)
        except BadData:
            raise BadToken("the link is damaged, incomplete or no longer valid") from None
    if (
        not isinstance(payload, list)
        or len(payload) not in (2, 3)
        or not isinstance(payload[0], str)
        or not (payload[1] is None or isinstance(payload[1], str))
        or (len(payload) == 3 and not is_campaign(payload[2]))
    ):
        raise BadToken("the link does not name an address")
    try:
        email = normalise_address(payload[0])
    except InvalidAddress:
        raise BadToken("the link does not name a valid address") from None
    claim = LinkClaim(email, Scope.of_topic(payload[1]), payload[2] if len(payload) == 3 else None)
    if signed_at is not None:
        _RECENT_LINKS.put(remembered_as, claim, int(signed_at.timestamp()))
    return claim


def token_candidates(text: str) -> list[str]:
    """The distinct token-shaped strings of a text, the first few: what is worth verifying."""
    return list(dict.fromkeys(TOKEN_SHAPE.findall(text)))[:_MAX_CANDIDATES]


def email_in_token(secret_keys: Sequence[str], token: str) -> str | None:
    """The address a token of ours names, however old it is (a link's, or a come-back
    confirmation's); None for anything else. Undo tokens name only an address's hash.
    For finding a person in stored mail: with the key, a token is the address."""
    try:
        return verify_token(secret_keys, token).email
    except BadToken:
        pass
    try:
        return verify_return(secret_keys, token, max_age_seconds=None).email
    except BadReturn:
        return None


class _RecentLinks:
    """Links verified lately, so that each is verified once (HMAC and AES-GCM, 20-40 µs): the page's
    GET and then its POST, a mail provider's repeated one-click POST. A link is found again by its
    SHA-256 (never compared as text) under the same keys, and answers only while young enough
    for the age asked, by the signer's own clock, as itsdangerous would judge it. Bounded: the
    oldest goes first; a forged or damaged link is never kept."""

    def __init__(self, size: int = 4096):
        self._size = size
        # Ordered, so the oldest goes in O(1): a dict's first item is found past every slot
        # emptied before it (1-3 µs a link once full, when every new link drops one).
        self._links: OrderedDict[tuple[tuple[str, ...], bytes], tuple[LinkClaim, int]] = OrderedDict()

    def get(self, link: tuple[tuple[str, ...], bytes], max_age_seconds: int | None) -> LinkClaim | None:
        """The claim of a link (its keys and its SHA-256) verified before, if it is young enough."""
        known = self._links.get(link)
        if known is None:
            return None
        claim, signed_at = known
        if max_age_seconds is not None and not 0 <= _signer(link[0]).get_timestamp() - signed_at <= max_age_seconds:
            return None  # verified again, and refused as expired there
        return claim

    def put(self, link: tuple[tuple[str, ...], bytes], claim: LinkClaim, signed_at: int) -> None:
        while len(self._links) >= self._size:
            self._links.popitem(last=False)
        self._links[link] = (claim, signed_at)

    def clear(self) -> None:
        self._links.clear()


_RECENT_LINKS = _RecentLinks()


def read_claim(
    secret_keys: Sequence[str], token: str, max_age_seconds: int | None, topics: Collection[str]
) -> LinkClaim:
    """verify_token, and a topic no longer configured read as all emails.

    The topic was dropped from the config after the mail was sent; the person still wants
    less mail, and all emails is the safe reading.
    """
    claim = verify_token(secret_keys, token, max_age_seconds)
    if claim.scope.topic is not None and claim.scope.topic not in topics:
        return dataclasses.replace(claim, scope=ALL_EMAILS)
    return claim


def mint_undo(secret_keys: Sequence[str], email: str, scope: Scope, since: str) -> str:
    """The undo of one suppression a page just made: the address (as a hash), scope and time it was made.

    Only the POST that created the suppression can hand this out, so holding a link (or a
    key that mints links) is never enough to lift a suppression that was already there.
    """
    return _serializer(secret_keys, UNDO_SALT).dumps([_address_hash(email), scope.stored, since])


def verify_undo(secret_keys: Sequence[str], token: str, email: str) -> tuple[Scope, str]:
    """(scope, when it was made) of the suppression an undo token names; BadUndo unless it is this address's."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or not _canonical(token):
        raise BadUndo("the undo is damaged")
    try:
        payload = _serializer(secret_keys, UNDO_SALT).loads(token, max_age=UNDO_MAX_AGE_SECONDS)
    except BadData:
        raise BadUndo("the undo is damaged or has expired") from None
    if (
        not isinstance(payload, list) or len(payload) != 3 or payload[0] != _address_hash(email)
        or not isinstance(payload[1], str) or not isinstance(payload[2], str)
    ):
        raise BadUndo("the undo is for another address")
    return Scope.of_stored(payload[1]), payload[2]


def _address_hash(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


def _canonical(token: str) -> bool:
    """Each segment is base64 as we write it: the spare bits of a last character could
    otherwise be changed without changing the decoded bytes, so an altered token would verify.

    Read without decoding (decoding and encoding each segment again was 12 µs of a link's
    60 under load): URL-safe letters only, no length that leaves a lone character, and a last
    character whose bits past the encoded bytes are zero. A property test holds it to the
    decode-and-encode it replaces."""
    for segment in token.split("."):
        if not segment:
            continue  # the leading dot of a compressed payload
        tail = len(segment) % 4
        if tail == 1 or _BASE64URL.fullmatch(segment) is None:
            return False
        if tail and _BASE64URL_VALUE[segment[-1]] & _SPARE_BITS[tail]:
            return False
    return True


_BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_BASE64URL = re.compile("[A-Za-z0-9_-]+")
_BASE64URL_VALUE = {c: i for i, c in enumerate(_BASE64URL_ALPHABET)}
_SPARE_BITS = {2: 0b1111, 3: 0b11}  # a last group of 2 characters holds 1 byte, of 3 holds 2


def _keys(secret_keys: str | Sequence[str]) -> tuple[str, ...]:
    keys = (secret_keys,) if isinstance(secret_keys, str) else tuple(secret_keys)
    if not keys:
        raise ValueError("at least one signing key is needed")
    return keys


def _open(keys: tuple[str, ...], sealed_text: bytes, info: bytes = _CIPHER_INFO):
    """The payload of a private token's signed ciphertext, under whichever listed key sealed it."""
    try:
        sealed = base64_decode(sealed_text)
    except (BadData, ValueError):
        raise BadToken("the link is damaged") from None
    for key in keys:
        try:
            return json.loads(_cipher(key, info).decrypt(sealed[:12], sealed[12:], None))
        except (InvalidTag, ValueError):
            continue
    raise BadToken("the link is damaged or its key is no longer listed")


def _signature_mismatch(exc: BadData) -> bool:
    """A signature that no key of this form made (maybe one of the earlier form), not an expiry:
    itsdangerous checks the age only of a token whose signature is good."""
    return not isinstance(exc, SignatureExpired)


@functools.lru_cache(maxsize=8)
def _cipher(key: str, info: bytes = _CIPHER_INFO) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key.encode("utf-8"))
    return AESGCM(derived)


def _signer(keys: tuple[str, ...], salt: str = PRIVATE_SALT, now: float | None = None) -> TimestampSigner:
    if now is None:
        return _signer_of(keys, salt)
    clocked = _ClockedSigner(list(keys[::-1]), salt=salt, digest_method=hashlib.sha256)
    clocked.now = int(now)
    return clocked


@functools.lru_cache(maxsize=8)
def _signer_of(keys: tuple[str, ...], salt: str) -> TimestampSigner:
    # Ours are newest first; itsdangerous signs with the last of its list.
    return TimestampSigner(list(keys[::-1]), salt=salt, digest_method=hashlib.sha256)


class _ClockedSigner(TimestampSigner):
    """A signer whose clock is given (tests of expiry); itsdangerous asks get_timestamp for both ends."""

    now = 0

    def get_timestamp(self) -> int:
        return self.now


def _serializer(secret_keys: str | Sequence[str], salt: str = SALT) -> URLSafeTimedSerializer:
    return _serializer_of(_keys(secret_keys), salt)


@functools.lru_cache(maxsize=8)
def _serializer_of(keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    # Ours are newest first; itsdangerous signs with the last of its list.
    return URLSafeTimedSerializer(list(keys[::-1]), salt=salt, signer_kwargs={"digest_method": hashlib.sha256})
