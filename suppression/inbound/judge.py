"""Whether a person's own words ask to stop mail: a linear model over hashed character n-grams,
words and a few facts of structure, scored with numpy.

The weights are trained with scikit-learn (suppression/inbound/train.py, a development tool)
on the corpus's train split, and the threshold is chosen on its development split so that
no message there that asks for something else would be taken as a request. Below the
threshold the message goes to a person. The file (judge.npz) ships with the package; nothing
is downloaded, and numpy is all it needs at run time.
"""

import functools
import math
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suppression.inbound.intent import Intent

FEATURES_VERSION = 2  # bump when features() changes: a model of another version is refused
DIMENSIONS = 1 << 20
MODEL_FILE = Path(__file__).with_name("judge.npz")
_MAX_CHARS = 3000  # of the own words read: requests are short, and scoring stays bounded

_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")


def normalise_text(text: str) -> str:
    """What the features read: NFKC, lower case, addresses, links and numbers as placeholders.

    Word by word, not with a pattern over the text: "\\S+@\\S+" backtracks quadratically
    on "a@a@a@...", and the reader has a time budget per message."""
    words = unicodedata.normalize("NFKC", text[:_MAX_CHARS]).lower().split()
    return _DIGITS.sub("0", " ".join(map(_placeholder, words)))


def _placeholder(word: str) -> str:
    if word.startswith(("http://", "https://", "www.")):
        return "/"
    at = word.find("@")
    return "@" if at > 0 and "." in word[at:] else word


def features(text: str, intent: Intent, subject_only: bool = False) -> np.ndarray:
    """The hashed feature indices of a text (unique, sorted)."""
    normal = normalise_text(text)
    padded = f" {normal} "
    names: set[str] = set(padded)  # the 1-grams
    for n in (2, 3, 4, 5):
        names.update([padded[i:i + n] for i in range(len(padded) - n + 1)])
    words = _WORD.findall(normal)
    names.update(f"w:{word}" for word in words)
    names.update(f"b:{a} {b}" for a, b in zip(words, words[1:]))
    # Structure the text alone does not show well: what the phrase finder saw, and the size.
    names.add(f"#asked:{min(len(intent.asked), 3)}")
    names.add(f"#negated:{min(len(intent.negated), 3)}")
    names.add(f"#words:{min(int(math.log2(len(words) + 1)), 10)}")
    spaced = normal.split()
    names.add(f"#addresses:{min(spaced.count('@'), 3)}")
    # The words around a named address say whose it is and what for ("my old address ...",
    # "send it to ... instead").
    for position in [i for i, word in enumerate(spaced) if word == "@"][:10]:
        names.update(f"<@:{word}" for word in spaced[max(0, position - 4):position])
        names.update(f"@>:{word}" for word in spaced[position + 1:position + 5])
    if subject_only:
        names.add("#subject-only")
    hashes = np.fromiter(map(zlib.crc32, map(str.encode, names)), dtype=np.int64, count=len(names))  # UTF-8
    return np.unique(hashes & (DIMENSIONS - 1))


@dataclass(frozen=True)
class Judge:
    """Scores own words. The least probability decided as a request unaided is `threshold` for a
    request about the sender's own address and `threshold_named` for one that names addresses
    in its text: the traps differ ("please send it to my new address ... instead"), and so does
    the harm of a mistake, so each has its own, chosen on its own development messages."""

    weights: np.ndarray  # one per hashed feature (DIMENSIONS, float32)
    bias: float
    threshold: float
    threshold_named: float = 1.0

    def threshold_for(self, names_addresses: bool) -> float:
        return self.threshold_named if names_addresses else self.threshold

    def probability(self, text: str, intent: Intent, subject_only: bool = False) -> float:
        found = features(text, intent, subject_only)
        # Binary features scaled to unit length, as in training.
        total = float(self.weights[found].sum()) / math.sqrt(max(len(found), 1)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, total))))

    def save(self, path: Path) -> None:
        """Only the features that have a weight: the file stays small. Stored, not compressed:
        a reader child loads it as it starts, and again after each message that overran, and
        inflating it took 18.6 ms of the child's CPU where reading it takes 3.7 (the wheel, a
        zip, compresses it anyway)."""
        indices = np.flatnonzero(self.weights)
        np.savez(path, indices=indices.astype(np.int32), weights=self.weights[indices].astype(np.float32),
                 bias=np.float64(self.bias), threshold=np.float64(self.threshold),
                 threshold_named=np.float64(self.threshold_named),
                 version=np.int64(FEATURES_VERSION), dimensions=np.int64(DIMENSIONS))


def load_judge(path: Path = MODEL_FILE) -> Judge:
    with np.load(path) as stored:
        if int(stored["version"]) != FEATURES_VERSION or int(stored["dimensions"]) != DIMENSIONS:
            raise ValueError(f"{path} was trained for other features (version {int(stored['version'])});"
                             " retrain it with python -m suppression.inbound.train")
        weights = np.zeros(DIMENSIONS, dtype=np.float32)
        weights[stored["indices"]] = stored["weights"]
        return Judge(weights, float(stored["bias"]), float(stored["threshold"]), float(stored["threshold_named"]))


@functools.lru_cache(maxsize=1)
def shipped_judge() -> Judge:
    """The model that ships with the package (loaded once per process)."""
    return load_judge(MODEL_FILE)
