"""How the reader judges mail it has never seen: `python -m suppression.inbound.evaluate`.

Reads the corpus (tests/corpus/reader/ in a checkout, or --corpus DIR), renders each record
into the mail its client would send, reads it as the service does (classify_message, with the
shipped model) and prints, per language and overall, on the frozen test split (or --split):
wrong opt-outs, requests decided automatically, left to a person, lost, and partly honoured.
"""

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from suppression.addresses import normalise_address
from suppression.config import DEFAULT_TOPICS
from suppression.errors import BadToken, InvalidAddress
from suppression.inbound.classify import REQUEST, REVIEW, Decision, classify_message
from suppression.inbound.corpus import LANGUAGES, REQUEST_ADDRESS, Record, read_batches, render, split
from suppression.tokens import LinkClaim

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "corpus" / "reader"
AUTO, PERSON, LOST, WRONG, KEPT, PARTLY = "auto", "person", "lost", "wrong", "kept", "partly"


def _no_token(candidate: str) -> LinkClaim:
    raise BadToken("the corpus carries no tokens of ours")


def read(record: Record, judge=None, addresses_judge=None) -> Decision:
    """The service's decision on a record's message (no tokens: its links are not ours)."""
    return classify_message(render(record), record.sender_address, {normalise_address(REQUEST_ADDRESS)},
                            _no_token, topics=DEFAULT_TOPICS, judge=judge, addresses_judge=addresses_judge)


def expected_addresses(record: Record) -> set[str]:
    return {_canonical(a) for a in (record.names or (record.sender_address,))}


def _canonical(address: str) -> str:
    try:
        return normalise_address(address)
    except InvalidAddress:
        return address.lower()


def outcome(record: Record, decision: Decision) -> str:
    """AUTO (a request honoured for exactly its addresses), PERSON (left for review), LOST (a
    request dropped), PARTLY (honoured for some of its addresses alone, and no one asked about
    the rest: "me and my wife's x@..." with only x@... suppressed), WRONG (someone suppressed who
    did not ask) or KEPT (no one suppressed)."""
    if decision.kind == REQUEST:
        if record.label != REQUEST or not set(decision.addresses) <= expected_addresses(record):
            return WRONG
        return AUTO if set(decision.addresses) == expected_addresses(record) else PARTLY
    if record.label != REQUEST:
        return KEPT
    return PERSON if decision.kind == REVIEW else LOST


@dataclass
class Tally:
    requests: int = 0
    traps: int = 0
    counts: Counter = field(default_factory=Counter)

    def add(self, record: Record, result: str) -> None:
        if record.label == REQUEST:
            self.requests += 1
        else:
            self.traps += 1
        self.counts[result] += 1

    @property
    def automatic_share(self) -> float:
        return self.counts[AUTO] / self.requests if self.requests else 1.0


def tally(records: Iterable[Record], decide: Callable[[Record], Decision] = read) -> dict[str, Tally]:
    """Per language and "all"."""
    tallies = {language: Tally() for language in (*LANGUAGES, "all")}
    for record in records:
        result = outcome(record, decide(record))
        if record.lang in tallies:  # the desk's exports have none
            tallies[record.lang].add(record, result)
        tallies["all"].add(record, result)
    return tallies


def table(tallies: dict[str, Tally]) -> str:
    lines = ["| language | requests | decided automatically | left to a person | lost | partly honoured | traps"
             " | wrong opt-outs |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for language, t in tallies.items():
        if not t.requests and not t.traps:
            continue
        lines.append(f"| {language} | {t.requests} | {t.counts[AUTO]} ({t.automatic_share:.1%}) | {t.counts[PERSON]} "
                     f"| {t.counts[LOST]} | {t.counts[PARTLY]} | {t.traps} | {t.counts[WRONG]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suppression.inbound.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of batch files (*.jsonl)")
    parser.add_argument("--split", choices=("train", "development", "test"), default="test")
    parser.add_argument("--wrong", action="store_true", help="also list each wrong opt-out, lost and partly honoured request")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"error: no corpus folder at {args.corpus} (give --corpus DIR)", file=sys.stderr)
        return 2
    records = split(read_batches(args.corpus))[args.split]
    decided = [(record, read(record)) for record in records]
    print(f"{args.split} split: {len(records)} messages from {args.corpus}\n")
    by_id = {record.id: decision for record, decision in decided}
    print(table(tally(records, lambda record: by_id[record.id])))
    if args.wrong:
        for record, decision in decided:
            if outcome(record, decision) in (WRONG, LOST, PARTLY):
                print(f"\n{outcome(record, decision)}: {record.id} ({record.lang}, {record.kind}): {decision.kind} "
                      f"{list(decision.addresses)}; {'; '.join(decision.reasons)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
