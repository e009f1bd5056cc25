"""Of a request that names addresses, whether each is one the person asks to remove: a second
linear model, over the words around the address.

The judge (judge.py) weighs the whole message: whether it asks to unsubscribe. Asked, it says
nothing of which address: "Désinscrivez-moi, mais pas mon mari : marc@..." and "請保留 lin@..."
ask, and the address they name is the one to keep. Words for "keep" could not be listed: each
list tried sent most of a reviewer's genuine requests to a person (docs/email.md). This model
reads the sentence around each address and the words either side of it, with the address
itself a mark, and it is trained on addresses the corpus's writers named, to remove or not.
Below its threshold the message goes to a person: it never suppresses anyone the rules and the
judge would not have, it only keeps some of them for a person.

Trained with `python -m suppression.inbound.train --addresses`; asked_about.npz ships with
the package, as judge.npz does.
"""

import bisect
import functools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from suppression.inbound.judge import DIMENSIONS, Judge, load_judge, normalise_text
from suppression.inbound.intent import SENTENCE_BREAK
from suppression.inbound.named import ASKING_FOR_SELF, Places

FEATURES_VERSION = 101  # its own numbers: a judge's file is refused here, and this one there
MODEL_FILE = Path(__file__).with_name("asked_about.npz")
_TARGET, _OTHER = "\x01", "\x02"  # the address weighed, and every other one, in the text read
_SIDE = 80  # characters read either side of an address
_SENTENCE = 300  # characters of its sentence read either side, at most
_PLACES = 5  # places an address is written that are read
# Punctuation read as spaces: where an address ends its sentence stood, in the writers' batches,
# more often for an address to keep than for one to remove, and the contract's own "Please
# unsubscribe jane@example.com." went to a person (judged 0.26).
_UNPUNCTUATED = str.maketrans(dict.fromkeys(".!?;:,。！？；：，、", " "))


def features(marked: "Marked", spots: list[int], asks_for_self: bool) -> list[int]:
    """The hashed features of the address whose marks stand at `spots` in the marked text;
    `asks_for_self`: whether words anywhere in the text ask for the sender's own address."""
    text, breaks = marked.text, marked.breaks
    names: set[str] = set()
    for spot in spots[:_PLACES]:
        after = bisect.bisect_right(breaks, spot)
        opening = max(breaks[after - 1] if after else 0, spot - _SENTENCE)
        closing = min(breaks[after] if after < len(breaks) else len(text), spot + 1 + _SENTENCE)
        words_of = {}
        for side, (start, end) in (("s", (opening, closing)), ("l", (max(0, spot - _SIDE), spot)),
                                   ("r", (spot + 1, spot + 1 + _SIDE))):
            normal = f" {normalise_text(_piece(text, start, end, spots).translate(_UNPUNCTUATED))} "
            for n in (2, 3, 4):
                names.update(side + normal[i:i + n] for i in range(len(normal) - n + 1))
            words = words_of[side] = normal.split()
            names.update(f"{side}w:{word}" for word in words)
            names.update(f"{side}b:{a} {b}" for a, b in zip(words, words[1:]))
        names.update(f"L{k}:{word}" for k, word in enumerate(reversed(words_of["l"][-3:])))
        names.update(f"R{k}:{word}" for k, word in enumerate(words_of["r"][:3]))
        names.add(f"#self-in-sentence:{ASKING_FOR_SELF.search(text, opening, closing) is not None}")
    names.add(f"#self:{asks_for_self}")
    # surrogatepass: a lone surrogate (an RFC 2047 word of UTF-7) is hashed, not an error that
    # would leave the whole message "could not be read" (a reviewing helper's).
    return list({zlib.crc32(name.encode("utf-8", "surrogatepass")) & (DIMENSIONS - 1) for name in names})


@dataclass(frozen=True)
class Marked:
    """A text with each place an address is written made one mark (_OTHER), where each
    address's marks are, and where its sentences end: read once for all its addresses."""

    text: str
    spots: dict[str, list[int]]
    breaks: list[int]


def marked(text: str, places: Places) -> Marked:
    pieces, spots, last, length = [], {}, 0, 0
    for start, end, address in sorted((start, end, address) for address, written in places.items()
                                      for start, end in written):
        if start < last:
            continue  # inside another place (a quoted local part holding an address)
        pieces.append(text[last:start])
        length += start - last
        spots.setdefault(address, []).append(length)
        pieces.append(_OTHER)
        length += 1
        last = end
    pieces.append(text[last:])
    joined = "".join(pieces)
    return Marked(joined, spots, [found.end() for found in SENTENCE_BREAK.finditer(joined)])


def _piece(text: str, start: int, end: int, spots: list[int]) -> str:
    """text[start:end], with the weighed address's marks made _TARGET."""
    inside = [spot - start for spot in spots if start <= spot < end]
    if not inside:
        return text[start:end]
    chars = list(text[start:end])
    for index in inside:
        chars[index] = _TARGET
    return "".join(chars)


def unclear(text: str, places: Places, addresses: list[str], judge: Judge) -> str | None:
    """Why some of `addresses` (named in `text`, written at `places`) may not be asked about; None
    if the model takes each as asked about."""
    unsure = []
    for address, found in weighed(text, places, addresses):
        probability = judge.chance(found) if found else 0.0  # no words of its own read: a person decides
        if probability < judge.threshold:
            unsure.append(f"{address} (judged {probability:.2f})")
    if not unsure:
        return None
    return (f"not sure the words ask to remove {', '.join(unsure)}; a named address is decided alone"
            f" from {judge.threshold:.2f}")


def weighed(text: str, places: Places, addresses: list[str]) -> Iterator[tuple[str, list[int]]]:
    """Each of `addresses` with its features (training reads them here too); an address with no
    place of its own read (each inside another's) has none."""
    asks_for_self = ASKING_FOR_SELF.search(text) is not None
    read = marked(text, places)
    for address in addresses:
        spots = read.spots.get(address, [])
        yield address, features(read, spots, asks_for_self) if spots else []


@functools.lru_cache(maxsize=1)
def shipped() -> Judge:
    """The model that ships with the package (loaded once per process)."""
    return load_judge(MODEL_FILE, FEATURES_VERSION)
