"""Signed tokens and links: round trip, rotation, expiry, and no altered token ever accepted."""

from urllib.parse import unquote

import itsdangerous.timed
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suppression import mint_link
from suppression.errors import BadToken
from suppression.tokens import LinkClaim, mint_token, verify_token

OLD, NEW = "old-key-" * 6, "new-key-" * 6


def test_round_trip_names_the_canonical_address_and_topic():
    token = mint_token([NEW], "Jane@Bücher.de", "newsletters")
    assert verify_token([NEW], token) == LinkClaim("jane@xn--bcher-kva.de", "newsletters")
    assert verify_token(NEW, mint_token(NEW, "jane@example.com")) == LinkClaim("jane@example.com", None)


def test_rotation_old_links_verify_while_their_key_is_listed():
    old_link = mint_token([OLD], "jane@example.com")
    assert verify_token([NEW, OLD], old_link).email == "jane@example.com"
    with pytest.raises(BadToken):
        verify_token([NEW], old_link)  # dropped from the list: refused


def test_rotation_new_links_are_signed_with_the_newest_key():
    token = mint_token([NEW, OLD], "jane@example.com")
    assert verify_token([NEW], token).email == "jane@example.com"
    with pytest.raises(BadToken):
        verify_token([OLD], token)


def test_a_token_of_another_namespace_is_refused():
    other = itsdangerous.URLSafeTimedSerializer(NEW, salt="some.other.purpose").dumps(["jane@example.com", None])
    with pytest.raises(BadToken):
        verify_token([NEW], other)


def test_links_keep_working_unless_a_maximum_age_is_set(monkeypatch):
    real_time = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() - 400 * 86400)
    token = mint_token([NEW], "jane@example.com")  # signed 400 days ago
    monkeypatch.setattr(itsdangerous.timed.time, "time", real_time)
    assert verify_token([NEW], token).email == "jane@example.com"
    with pytest.raises(BadToken):
        verify_token([NEW], token, max_age_seconds=365 * 86400)


@pytest.mark.parametrize(
    "token",
    ["", "x", "a.b.c", "." * 50, "ä" * 10, "A" * 5000, "<script>alert(1)</script>", "%00%0a", "..//..//etc/passwd"],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(BadToken):
        verify_token([NEW], token)


def test_payloads_that_are_not_an_address_claim_are_refused():
    serializer = itsdangerous.URLSafeTimedSerializer(
        [NEW], salt="suppression.unsubscribe-link.v1", signer_kwargs={"digest_method": __import__("hashlib").sha256}
    )
    for payload in ({"email": "a@example.com"}, ["not an address", None], ["a@example.com", 5], ["a@example.com"]):
        with pytest.raises(BadToken):
            verify_token([NEW], serializer.dumps(payload))


_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ %"
VALID = mint_token([NEW], "jane.doe@example.com", "newsletters")


@settings(max_examples=3000)
@given(st.data())
def test_no_altered_token_is_ever_accepted(data):
    chars = list(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate", "swap"]))
        at = data.draw(st.integers(0, max(len(chars) - 1, 0)))
        if kind == "replace" and chars:
            chars[at] = data.draw(st.sampled_from(_alphabet))
        elif kind == "delete" and chars:
            del chars[at]
        elif kind == "insert":
            chars.insert(at, data.draw(st.sampled_from(_alphabet)))
        elif kind == "truncate":
            chars = chars[:at]
        elif kind == "swap" and len(chars) > at + 1:
            chars[at], chars[at + 1] = chars[at + 1], chars[at]
    altered = "".join(chars)
    if altered == VALID:
        return
    with pytest.raises(BadToken):
        verify_token([NEW], altered)


def test_every_last_character_variant_is_refused():
    # Base64's spare bits: a changed last character can decode to the same bytes.
    for position in (len(VALID) - 1, VALID.index(".") - 1, VALID.rindex(".") - 1):
        for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
            altered = VALID[:position] + char + VALID[position + 1:]
            if altered != VALID:
                with pytest.raises(BadToken):
                    verify_token([NEW], altered)


def test_mint_link_gives_ready_header_values():
    link = mint_link("Jane@Example.com", "promotions", base_url="https://u.example.com/",
                     secret_keys=[NEW], request_address="PLUSinfo@plusnxt.com")
    token = link.url.rsplit("/", 1)[1]
    assert link.url.startswith("https://u.example.com/u/")
    assert link.list_unsubscribe == f"<{link.url}>, <{link.mailto}>"  # https first, then mailto
    assert link.mailto.startswith("mailto:PLUSinfo@plusnxt.com?subject=")
    assert unquote(link.mailto.split("subject=", 1)[1]) == f"unsubscribe {token}"
    assert link.list_unsubscribe_post == "List-Unsubscribe=One-Click"
    assert verify_token([NEW], token) == LinkClaim("jane@example.com", "promotions")
