"""Train the reader's judge: `python -m suppression.inbound.train` (needs scikit-learn:
`pip install -e '.[train]'`; the service itself needs only numpy to use the result).

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
from suppression.inbound.classify import REQUEST, words_of
from suppression.inbound.named import named_addresses
from suppression.inbound.corpus import REQUEST as ASKS
from suppression.inbound.corpus import REQUEST_ADDRESS, Record, read_batch, read_batches, render, split
from suppression.inbound.decode import header, parse
from suppression.inbound.evaluate import DEFAULT_CORPUS, expected_addresses, read
from suppression.inbound.intent import find_intent
from suppression.inbound.judge import DIMENSIONS, MODEL_FILE, Judge, features

# Log-odds added above the highest-scoring development message that does not ask, so that
# it is itself below the threshold (a wider margin sends more requests to a person).
SAFETY_MARGIN = 0.1
# And never below even odds: when every development trap of a group scores low, the threshold
# would follow it down, and the next trap is unseen.
FLOOR = 0.5
STRENGTHS = (64.0, 256.0, 1024.0)  # the inverse regularisation tried, chosen on the development split


@dataclass
class Example:
    record: Record
    indices: list[int]  # its hashed features (features())
    reaches_judge: bool  # structure (automatic mail, an invitation, a token) did not decide it first
    addresses_right: bool  # taken as a request, it would suppress exactly whom the record names
    names_addresses: bool  # its own words name addresses (the judge's second threshold)


def example(record: Record, open_judge: Judge) -> Example:
    message = parse(render(record))
    text, subject_only = words_of(message, header(message, "Subject"))
    decision = read(record, open_judge)  # a judge that takes everything: what structure leaves to it
    named, _, _ = named_addresses(text, {normalise_address(REQUEST_ADDRESS)})
    return Example(record, features(text, find_intent(text), subject_only), decision.kind == REQUEST,
                   set(decision.addresses) == expected_addresses(record), bool(named))


def matrix(examples: list[Example]):
    from scipy.sparse import csr_matrix

    rows = np.concatenate([np.full(len(e.indices), i) for i, e in enumerate(examples)])
    columns = np.concatenate([e.indices for e in examples])
    values = np.concatenate([np.full(len(e.indices), 1 / np.sqrt(max(len(e.indices), 1))) for e in examples])
    return csr_matrix((values, (rows, columns)), shape=(len(examples), DIMENSIONS))


def fit(examples: list[Example], strength: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    labels = np.array([e.record.label == ASKS for e in examples])
    model = LogisticRegression(C=strength, class_weight="balanced", solver="liblinear", max_iter=1000)
    model.fit(matrix(examples), labels)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def log_odds(weights: np.ndarray, bias: float, examples: list[Example]) -> np.ndarray:
    """Each example's score as the reader will compute it (Judge.log_odds), thresholds included."""
    judge = Judge(weights, bias, 0.0, 0.0)
    return np.array([judge.log_odds(e.indices) for e in examples])


def choose_thresholds(scores: np.ndarray, examples: list[Example]) -> tuple[float, float, float]:
    """(threshold, threshold for requests naming addresses, share of the development requests
    decided alone): each just above the highest-scoring development message of its group that
    does not ask, or that would suppress someone it does not name, and never below FLOOR."""
    thresholds, alone = [], 0
    for named in (False, True):
        judged = [(s, e) for s, e in zip(scores, examples, strict=True) if e.reaches_judge and e.names_addresses == named]
        traps = [s for s, e in judged if e.record.label != ASKS or not e.addresses_right]
        floor = float(np.log(FLOOR / (1 - FLOOR)))
        cut = max((max(traps) if traps else min((s for s, _ in judged), default=floor)) + SAFETY_MARGIN, floor)
        thresholds.append(float(1 / (1 + np.exp(-cut))))
        alone += sum(1 for s, e in judged if e.record.label == ASKS and e.addresses_right and s >= cut)
    requests = sum(1 for e in examples if e.record.label == ASKS)
    return thresholds[0], thresholds[1], alone / max(requests, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suppression.inbound.train", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of batch files (*.jsonl)")
    parser.add_argument("--labels", type=Path, action="append", default=[],
                        help="a file of desk decisions (suppression inbox export-labels); trains too")
    parser.add_argument("--output", type=Path, default=MODEL_FILE, help=f"where to write the model ({MODEL_FILE.name})")
    args = parser.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("error: training needs scikit-learn: pip install -e '.[train]'", file=sys.stderr)
        return 2
    parts = split(read_batches(args.corpus))
    for path in args.labels:
        parts["train"].extend(read_batch(path))
    everything = Judge(np.zeros(DIMENSIONS, dtype=np.float32), 0.0, 0.0, 0.0)  # probability 0.5 >= 0: all pass
    train = [example(r, everything) for r in parts["train"]]
    development = [example(r, everything) for r in parts["development"]]
    best = None
    for strength in STRENGTHS:
        weights, bias = fit(train, strength)
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


if __name__ == "__main__":
    sys.exit(main())
