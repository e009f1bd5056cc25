"""Train the reader's judge: `python -m suppression.inbound.train` (needs scikit-learn:
`pip install -e '.[train]'`; the service itself needs only numpy to use the result). With
`--addresses`, train instead the model of which named addresses are asked about
(asked_about.py; see train_addresses below).

Fits a logistic regression on the corpus's train split (and any desk exports given with
--labels), chooses the regularisation and the threshold on the development split, and writes
judge.npz. The threshold is the least probability at which no message of the development split
that does not ask to unsubscribe would be taken as a request: zero wrong opt-outs there, and
below it a person decides. The test split is never read here.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suppression.addresses import normalise_address
from suppression.errors import InvalidAddress
from suppression.inbound.classify import REQUEST, words_of
from suppression.inbound.named import named_addresses
from suppression.inbound.corpus import REQUEST as ASKS
from suppression.inbound.corpus import ADDRESS_BATCHES, REQUEST_ADDRESS, Record, read_batch, read_batches, render, split
from suppression.inbound.decode import header, parse
from suppression.inbound.evaluate import DEFAULT_CORPUS, expected_addresses, read
from suppression.inbound.intent import find_intent
from suppression.inbound import asked_about
from suppression.inbound.judge import DIMENSIONS, MODEL_FILE, Judge, features

# Log-odds added above the highest-scoring development message that does not ask, so that
# it is itself below the threshold (a wider margin sends more requests to a person).
SAFETY_MARGIN = 0.1
# And never below even odds: when every development trap of a group scores low, the threshold
# would follow it down, and the next trap is unseen.
FLOOR = 0.5
STRENGTHS = (64.0, 256.0, 1024.0)  # the inverse regularisation tried, chosen on the development split
# The addresses' model: its development split holds 29 addresses not asked about, scored 0.15 at
# most, so its threshold is its floor, chosen with its regularisation on batch Z
# (tests/corpus/named/, never trained on) and the reviewers' requests of tests/test_named.py:
# of C 4, 16, 64 and 256 and thresholds 0.1 to 0.5, C=64 from 0.3 took Z's 10 wrong opt-outs to
# one and sent 4 of those 52 requests to a person (docs/email.md). Batches AA and AB, written
# after, measure it. Since it reads no punctuation, its development split's highest address not
# asked about sets the threshold above the floor: 0.363 (0.367 before addresses written with no
# space in Chinese or Japanese were read alone, 2026-12-08).
ADDRESS_STRENGTHS = (64.0,)
ADDRESS_FLOOR = 0.3
NAMED_CORPUS = DEFAULT_CORPUS.parent / "named"


@dataclass
class Example:
    record: Record
    indices: list[int]  # its hashed features (features())
    reaches_judge: bool  # structure (automatic mail, an invitation, a token) did not decide it first
    addresses_right: bool  # taken as a request, it would suppress exactly whom the record names
    no_one_else: bool  # taken as a request, it would suppress no one the record does not name
    names_addresses: bool  # its own words name addresses (the judge's second threshold)


def example(record: Record, open_judge: Judge) -> Example:
    message = parse(render(record))
    text, subject_only = words_of(message, header(message, "Subject"))
    decision = read(record, open_judge, open_judge)  # judges that take everything: what structure leaves to them
    named, _, _, _ = named_addresses(text, {normalise_address(REQUEST_ADDRESS)})
    expected = expected_addresses(record)
    return Example(record, features(text, find_intent(text), subject_only), decision.kind == REQUEST,
                   set(decision.addresses) == expected, set(decision.addresses) <= expected, bool(named))


@dataclass
class NamedExample:
    """An address other than the sender's, named in a record's own words."""

    record: Record
    address: str
    indices: list[int]  # its hashed features (asked_about.features())
    asked: bool  # the record's writer named it as one to remove


def named_examples(record: Record) -> list[NamedExample]:
    """Each address the reader would weigh with asked_about.py (those of the text, the sender's
    own left out, as classify_message does)."""
    message = parse(render(record))
    text, _ = words_of(message, header(message, "Subject"))
    named, _, places, _ = named_addresses(text, {normalise_address(REQUEST_ADDRESS)})
    own = _own(record)
    others = [address for address in named if address != own]
    return [NamedExample(record, address, found, address in expected_addresses(record))
            for address, found in asked_about.weighed(text, places, others)]


def _own(record: Record) -> str | None:
    try:
        return normalise_address(record.sender_address)
    except InvalidAddress:  # classify_message then has no own address to leave out either
        return None


def matrix(examples: list[Example] | list[NamedExample]):
    from scipy.sparse import csr_matrix

    rows = np.concatenate([np.full(len(e.indices), i) for i, e in enumerate(examples)])
    columns = np.concatenate([e.indices for e in examples])
    values = np.concatenate([np.full(len(e.indices), 1 / np.sqrt(max(len(e.indices), 1))) for e in examples])
    return csr_matrix((values, (rows, columns)), shape=(len(examples), DIMENSIONS))


def fit(examples: list[Example] | list[NamedExample], labels: list[bool], strength: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=strength, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=0)
    model.fit(matrix(examples), np.array(labels))
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def log_odds(weights: np.ndarray, bias: float, examples: list[Example] | list[NamedExample]) -> np.ndarray:
    """Each example's score as the reader will compute it (Judge.log_odds), thresholds included."""
    judge = Judge(weights, bias, 0.0, 0.0)
    return np.array([judge.log_odds(e.indices) for e in examples])


def least_above(traps: list[float], others: list[float], least: float = FLOOR) -> float:
    """The threshold's log-odds: SAFETY_MARGIN above the highest-scoring trap, and never below
    the log-odds of `least`; with no trap, the lowest of the others (and still never below)."""
    floor = float(np.log(least / (1 - least)))
    return max((max(traps) if traps else min(others, default=floor)) + SAFETY_MARGIN, floor)


def choose_thresholds(scores: np.ndarray, examples: list[Example]) -> tuple[float, float, float]:
    """(threshold, threshold for requests naming addresses, share of the development requests
    decided alone): each just above the highest-scoring development message of its group that
    does not ask, or that would suppress someone it does not name, and never below FLOOR."""
    thresholds, alone = [], 0
    for named in (False, True):
        judged = [(s, e) for s, e in zip(scores, examples, strict=True) if e.reaches_judge and e.names_addresses == named]
        # A request honoured for some of its addresses ("me and x@...": x@... alone) is no trap:
        # it suppresses no one who did not ask, and the pairing words send such requests to a
        # person (named.py). Counted as one, the development split's one such request set the
        # threshold for named addresses at 0.998 once the audit put the sender in its label.
        traps = [s for s, e in judged if e.record.label != ASKS or not e.no_one_else]
        cut = least_above(traps, [s for s, _ in judged])
        thresholds.append(float(1 / (1 + np.exp(-cut))))
        alone += sum(1 for s, e in judged if e.record.label == ASKS and e.addresses_right and s >= cut)
    requests = sum(1 for e in examples if e.record.label == ASKS)
    return thresholds[0], thresholds[1], alone / max(requests, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suppression.inbound.train", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of batch files (*.jsonl)")
    parser.add_argument("--labels", type=Path, action="append", default=[],
                        help="a file of desk decisions (suppression inbox export-labels); trains too")
    parser.add_argument("--output", type=Path, help=f"where to write the model ({MODEL_FILE.name},"
                        f" or {asked_about.MODEL_FILE.name} with --addresses)")
    parser.add_argument("--addresses", action="store_true",
                        help="train the model of which named addresses are asked about, not the judge")
    parser.add_argument("--named-corpus", type=Path, default=NAMED_CORPUS,
                        help="with --addresses: the folder holding ADDRESS_BATCHES (corpus.py)")
    args = parser.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("error: training needs scikit-learn: pip install -e '.[train]'", file=sys.stderr)
        return 2
    parts = split(read_batches(args.corpus))
    for path in args.labels:
        parts["train"].extend(read_batch(path))
    if args.addresses:
        for batch in ADDRESS_BATCHES:
            parts["train"].extend(read_batch(args.named_corpus / f"{batch}.jsonl"))
        return train_addresses(parts, args.output or asked_about.MODEL_FILE)
    args.output = args.output or MODEL_FILE
    everything = Judge(np.zeros(DIMENSIONS, dtype=np.float32), 0.0, 0.0, 0.0)  # probability 0.5 >= 0: all pass
    train = [example(r, everything) for r in parts["train"]]
    development = [example(r, everything) for r in parts["development"]]
    best = None
    for strength in STRENGTHS:
        weights, bias = fit(train, [e.record.label == ASKS for e in train], strength)
        own, named, alone = choose_thresholds(log_odds(weights, bias, development), development)
        print(f"C={strength:g}: thresholds {own:.3f} (own address), {named:.3f} (named addresses);"
              f" development requests decided alone {alone:.1%}")
        if best is None or alone > best[0]:
            best = (alone, strength, Judge(weights, bias, own, named))
    alone, strength, judge = best
    judge.save(args.output)
    print(f"wrote {args.output} (C={strength:g}, thresholds {judge.threshold:.3f} and {judge.threshold_named:.3f};"
          f" {alone:.1%} of development requests decided alone, none of its other messages taken as requests);"
          f" trained on {len(train)} messages")
    return 0


def train_addresses(parts: dict[str, list[Record]], output: Path) -> int:
    """The addresses' model: trained on each address named in the train split's records (and
    ADDRESS_BATCHES'), asked about or not; its threshold just above the highest-scoring address
    of the development split not asked about, and never below ADDRESS_FLOOR; the regularisation
    the one of ADDRESS_STRENGTHS that leaves the most development addresses asked about at or
    above it."""
    train = [e for record in parts["train"] for e in named_examples(record)]
    development = [e for record in parts["development"] for e in named_examples(record)]
    best = None
    for strength in ADDRESS_STRENGTHS:
        weights, bias = fit(train, [e.asked for e in train], strength)
        scores = log_odds(weights, bias, development)
        cut = least_above([s for s, e in zip(scores, development, strict=True) if not e.asked], list(scores), ADDRESS_FLOOR)
        kept = sum(1 for s, e in zip(scores, development, strict=True) if e.asked and s >= cut)
        print(f"C={strength:g}: threshold {1 / (1 + np.exp(-cut)):.3f};"
              f" development addresses asked about and taken so {kept} of {sum(e.asked for e in development)}")
        if best is None or kept > best[0]:
            best = (kept, strength, Judge(weights, bias, float(1 / (1 + np.exp(-cut))), 1.0))
    kept, strength, model = best
    model.save(output, asked_about.FEATURES_VERSION)
    print(f"wrote {output} (C={strength:g}, threshold {model.threshold:.3f}; {kept} development addresses asked"
          f" about taken so, none of the others); trained on {len(train)} addresses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
