"""Whether a person's own words ask to stop mail: a linear model over hashed character n-grams,
words and a few facts of structure.

The weights are trained with scikit-learn (suppression/inbound/train.py, a development tool)
on the corpus's train split, and the threshold is chosen on its development split so that
no message there that asks for something else would be taken as a request. Below the
threshold the message goes to a person. The file (judge.npz) ships with the package; nothing
is downloaded. It is read and scored without NumPy: a mail reader's child loads it as it
starts, and importing NumPy was 65 ms of each child's 220.
"""

import array
import functools
import math
import operator
import os
import re
import stat
import sys
import unicodedata
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


def features(text: str, intent: Intent, subject_only: bool = False) -> list[int]:
    """The hashed feature indices of a text (unique, in no order: sorting them cost more than
    scoring them)."""
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
    return list({zlib.crc32(name.encode()) & (DIMENSIONS - 1) for name in names})  # UTF-8


@dataclass(frozen=True, eq=False)  # one judge is itself (its weighings are remembered by it, weighing.py)
class Judge:
    """Scores own words. The least probability decided as a request unaided is `threshold` for a
    request about the sender's own address and `threshold_named` for one that names addresses
    in its text: the traps differ ("please send it to my new address ... instead"), and so does
    the harm of a mistake, so each has its own, chosen on its own development messages."""

    weights: Sequence[float]  # one per hashed feature (DIMENSIONS of them, float32)
    bias: float
    threshold: float
    threshold_named: float = 1.0

    def threshold_for(self, names_addresses: bool) -> float:
        return self.threshold_named if names_addresses else self.threshold

    def probability(self, text: str, intent: Intent, subject_only: bool = False) -> float:
        try:
            found = features(text, intent, subject_only)
        except ValueError:  # UnicodeEncodeError: a lone surrogate the hashing cannot encode
            return 0.0  # a person decides, with what the message says kept for them
        return self.chance(found)

    def chance(self, found: list[int]) -> float:
        """The probability of hashed features `found`: 0.0 when the model cannot score them."""
        try:
            total = self.log_odds(found)
        except (OverflowError, ValueError):  # fsum: weights past a float's range, or inf - inf
            return 0.0  # a model that cannot score leaves the message to a person
        if not math.isfinite(total):
            return 0.0
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, total))))

    def log_odds(self, found: list[int]) -> float:
        """The score of a text's features (training chooses the thresholds on it too). Binary
        features scaled to unit length; summed exactly (fsum), so the same in any order and
        whatever holds the weights. itemgetter takes them all in one call: 33 µs for a
        message's ~800, where NumPy took 38."""
        weighed = operator.itemgetter(*found)(self.weights) if len(found) > 1 else [self.weights[i] for i in found]
        return math.fsum(weighed) / math.sqrt(max(len(found), 1)) + self.bias

    def save(self, path: Path, version: int = FEATURES_VERSION) -> None:
        """Every weight, float32, and the thresholds, as .npy arrays in a zip (NumPy's .npz).
        Stored whole and not compressed: a reader child reads it as it starts, and again after
        each message that overran, in about a millisecond (the wheel, a zip, compresses it)."""
        import numpy as np  # writing is for training and tests; the service only reads

        np.savez(path, weights=np.asarray(self.weights, dtype=np.float32),
                 bias=np.float64(self.bias), threshold=np.float64(self.threshold),
                 threshold_named=np.float64(self.threshold_named),
                 version=np.int64(version), dimensions=np.int64(DIMENSIONS))


def load_judge(path: Path = MODEL_FILE, version: int = FEATURES_VERSION) -> Judge:
    """A model written by save() for features of `version` (asked_about.py's have their own); one
    with only its weighted features (indices and weights, as before 2026-12) loads too.
    ValueError for a file that is no such model."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would hold start-up, /dev/zero fill memory
            raise ValueError(f"{path} is not a regular file")
        with zipfile.ZipFile(path) as archive:
            stored = {name: _array(_member(archive, name)) for name in _MEMBERS if f"{name}.npy" in archive.namelist()}
        if any(stored[name].typecode not in "iq" for name in ("version", "dimensions")):
            raise ValueError(f"{path} gives its version or dimensions as other than a whole number")
        written, dimensions = int(stored["version"][0]), int(stored["dimensions"][0])
        if written != version or dimensions != DIMENSIONS:
            raise ValueError(f"{path} was trained for other features (version {written});"
                             " retrain it with python -m suppression.inbound.train")
        weights = _spread(stored["indices"], stored["weights"]) if "indices" in stored else stored["weights"]
        if len(weights) != DIMENSIONS:
            raise ValueError(f"{path} holds {len(weights)} weights, not {DIMENSIONS}")
        return Judge(weights, stored["bias"][0], stored["threshold"][0], stored["threshold_named"][0])
    except (OSError, ValueError):
        raise  # a file that cannot be read, or one that says why it is no model
    except Exception as exc:  # zipfile's, its codecs' and the arrays' many ways of saying "not this"
        raise ValueError(f"{path} is not a model written by python -m suppression.inbound.train"
                         f" ({type(exc).__name__}: {exc})") from None


def checked_judge(path: Path) -> Judge:
    """load_judge, and every number in it one a model can hold: an operator's model, checked at
    start-up and again by each reader child that reads it (80-90 ms of the child's start; the
    shipped one is not checked, and a file replaced since start-up must not decide alone)."""
    judge = load_judge(path)
    if not all(abs(number) <= _LARGEST_WEIGHT for number in (judge.bias, *judge.weights)):
        raise ValueError(f"{path} holds a weight that is not a finite number of at most {_LARGEST_WEIGHT:g}")
    if not all(math.isfinite(number) and number >= 0.0 for number in (judge.threshold, judge.threshold_named)):
        raise ValueError(f"{path} holds a threshold that is not a finite number of 0 or more")  # above 1: never alone
    return judge


# What save() writes: .npy arrays (NumPy's format, versions 1 to 3: a Python literal of a
# header) of one dimension or none, in a zip. Only these members are read, each of a bounded size.
_LARGEST_WEIGHT = 1e6  # a trained one is below 100; far past it, sums leave a float's range
_MEMBERS = ("weights", "indices", "bias", "threshold", "threshold_named", "version", "dimensions")
_LARGEST_MEMBER = 8 * DIMENSIONS + 4096
_TYPECODES = {"<f4": "f", "<f8": "d", "<i4": "i", "<i8": "q"}
_HEADER = re.compile(rb"\{'descr': '([<>|]\w+)', 'fortran_order': False, 'shape': \((\d*),?\), \}\s*")


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(f"{name}.npy")
    if info.file_size > _LARGEST_MEMBER:
        raise ValueError(f"{name}.npy holds {info.file_size} bytes, more than a model's {_LARGEST_MEMBER}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):  # what NumPy writes
        raise zipfile.BadZipFile(f"{name}.npy is packed with zip method {info.compress_type}")
    # Read no further than the size the zip gives: archive.read() inflates a member whole before
    # cutting it to that size, and a few kilobytes of zip inflate to gigabytes.
    with archive.open(info) as member:
        return member.read(info.file_size)


def _array(data: bytes) -> array.array:
    """The values of one .npy file of one dimension or none (a scalar: one value)."""
    if data[:6] != b"\x93NUMPY" or data[6] not in (1, 2, 3):
        raise ValueError("not a .npy array")
    start = 10 if data[6] == 1 else 12
    end = start + int.from_bytes(data[8:start], "little")
    header = _HEADER.fullmatch(data[start:end])
    if header is None or header[1].decode() not in _TYPECODES:
        raise ValueError(f"an array of a kind the model does not hold: {data[start:end][:100]!r}")
    values = array.array(_TYPECODES[header[1].decode()])
    values.frombytes(data[end:])
    if sys.byteorder != "little":
        values.byteswap()
    if len(values) != (int(header[2]) if header[2] else 1):
        raise ValueError("an array whose length is not the one its header gives")
    return values


def _spread(indices: array.array, weighted: array.array) -> array.array:
    if len(indices) != len(weighted) or not all(0 <= index < DIMENSIONS for index in indices):
        raise ValueError("the weighted features' indices do not fit the model's")
    weights = array.array("f", bytes(4 * DIMENSIONS))
    for index, weight in zip(indices, weighted):
        weights[index] = weight
    return weights


@functools.lru_cache(maxsize=1)
def shipped_judge() -> Judge:
    """The model that ships with the package (loaded once per process)."""
    return load_judge(MODEL_FILE)
