
"""Malformed and random MIME never stops the reader or the intake task (hypothesis)."""

import pytest
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.state import INTAKE, SERVICE
from suppression.inbound.classify import Decision, classify_message

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores
from suppression.tokens import LinkClaim

CORPUS = sorted((Path(__file__).parent.parent / "corpus").glob("*.eml"))
SEEDS = [path.read_bytes() for path in CORPUS]
REQUEST = frozenset({"plusinfo@plusnxt.com"})


def refuse_tokens(token: str) -> LinkClaim:
    from suppression.errors import BadToken

    raise BadToken("not in this test")


_header_names = st.sampled_from([
    b"From", b"To", b"Subject", b"Content-Type", b"Content-Transfer-Encoding", b"MIME-Version",
    b"Auto-Submitted", b"Content-Disposition", b"Message-ID", b"Precedence",
])
_header_values = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([
        b"multipart/mixed; boundary=x", b"multipart/report; report-type=delivery-status; boundary=b",
        b"multipart/report; report-type=feedback-report", b"message/rfc822", b"text/html; charset=bogus",
        b"text/plain; charset=iso-2022-jp", b"base64", b"quoted-printable", b"=?utf-8?B?////?=",
        b"=?x-unknown?Q?=FF=FE?=", b"<>", b"\"unterminated", b"a@b@c",
    ]),
)
_messages = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda headers, body: b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n" + body,
        st.lists(st.tuples(_header_names, _header_values), max_size=8),
        st.binary(max_size=1500),
    ),
    st.builds(
        lambda seed, at, junk: seed[:at] + junk + seed[at:],
        st.sampled_from(SEEDS), st.integers(0, 3000), st.binary(min_size=1, max_size=200),
    ),
    st.builds(lambda seed, cut: seed[:cut], st.sampled_from(SEEDS), st.integers(0, 3000)),
)


@settings(max_examples=750, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_messages, st.sampled_from(["", "sender@example.com", "<>", "\udcff@x"]))
def test_classify_never_raises_and_always_says_why(raw, mail_from):
    decision = classify_message(raw, mail_from, REQUEST, refuse_tokens)
    assert isinstance(decision, Decision)
    assert decision.kind in ("request", "automatic", "bounce", "complaint", "review")
    assert decision.reasons


def _mutations(count: int, seed: int = 1234) -> list[bytes]:
    """Corpus messages with bytes cut, inserted and flipped: a seeded, repeatable batch."""
    rng = random.Random(seed)
    batch = []
    for _ in range(count):
        raw = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(raw) + 1)
            action = rng.random()
            if action < 0.3:
                del raw[at: at + rng.randint(1, 40)]
            elif action < 0.6:
                raw[at:at] = rng.randbytes(rng.randint(1, 40))
            elif raw:
                raw[min(at, len(raw) - 1)] ^= 1 << rng.randrange(8)
        batch.append(bytes(raw))
    return batch


async def test_the_intake_keeps_every_mangled_message_and_keeps_running(client):
    service, intake = client.app[SERVICE], client.app[INTAKE]
    ids = [await intake.receive(raw, "fuzz@example.com", ["PLUSinfo@plusnxt.com"]) for raw in _mutations(300)]
    await intake.handle_pending()
    stored, _ = await service.review.inbox(None, None, 1000)
    assert [m.id for m in stored] == ids  # nothing dropped
    assert all(m.status != "pending" and m.reasons for m in stored)
    # And the intake still honours a good request afterwards.
    good = await intake.receive(SEEDS[0], "x@example.com", ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    assert (await service.store.get_message(good)).status != "pending"
