"""The corpus of received mail (tests/corpus/): each message's decision matches its expected outcome."""

import tomllib
from pathlib import Path

import pytest

from suppression.addresses import normalise_address
from suppression.config import DEFAULT_TOPICS
from suppression.inbound.classify import classify_message
from suppression.inbound.decode import address_of, header, parse
from suppression.tokens import verify_token

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
KEY = EXPECTED.pop("_keys")["signing_key"]
REQUEST_ADDRESSES = frozenset({normalise_address("PLUSinfo@plusnxt.com")})


def envelope_sender(raw: bytes, expected: dict) -> str:
    if expected["mail_from"] != "sender":
        return expected["mail_from"]
    return address_of(header(parse(raw), "From")) or "someone@example.com"


def decide(name: str):
    raw = (CORPUS / f"{name}.eml").read_bytes()
    expected = EXPECTED[name]
    return classify_message(raw, envelope_sender(raw, expected), REQUEST_ADDRESSES,
                            lambda token: verify_token([KEY], token), topics=DEFAULT_TOPICS), expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_gets_its_expected_outcome(name):
    decision, expected = decide(name)
    assert (decision.kind, list(decision.addresses), decision.scope.stored) == (
        expected["kind"], expected["addresses"], expected["topic"],
    ), decision.reasons
    assert decision.reasons, "every decision says why"


def test_corpus_covers_every_outcome_and_language():
    kinds = {expected["kind"] for expected in EXPECTED.values()}
    assert kinds == {"request", "review", "automatic", "bounce", "complaint"}
    assert len(EXPECTED) >= 40
    for language in ("es_", "fr_", "de_", "pt_", "it_", "nl_", "ja_", "zh_"):
        assert any(name.startswith(language) for name in EXPECTED), language
