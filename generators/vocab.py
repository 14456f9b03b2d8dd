"""Character vocabulary: a fixed, saved mapping between characters and indices.

The vocabulary is built once from the training corpus and stored in the
checkpoint (``vocab.json``), so weights and data can never drift apart.

Index table (for a vocabulary built from the corpus ``"ab\\n"``)::

    index | character
    ------+----------
      0   | "\\n"
      1   | "a"
      2   | "b"

Characters are sorted by code point; index ``i`` is the ``i``-th distinct
character of the corpus. There is no reserved index.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .errors import CheckpointError, GenerationError

# Typographic characters people paste into seeds, mapped to the plain ones corpora tend to use.
_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": ".", "\t": " ", "\r": "\n",
    "\u00a0": " ",
}


#: Marks inside a word ("don't"): a seed ending in one ends mid-word only with a hyphen ("sweet-").
WORD_MARKS = "'\u2019"


@dataclass(frozen=True)
class SeedView:
    """A seed as the model reads it: ``ids``; ``replaced``, the characters it had to read as others; ``joiner``,
    what stands between the seed as given and the text drawn after it (a space where the seed ended in
    characters the model cannot read, so "🎸" and "The" do not run together); ``whole_word``, true when the seed
    ends in a word (a letter, not a trailing hyphen) that the next character drawn must not go on with: a
    songwriter's "oho" stays "oho"."""

    ids: np.ndarray
    replaced: dict[str, str]
    joiner: str
    whole_word: bool


class CharVocab:
    """Encode text to indices and decode indices to text (see the module docstring)."""

    def __init__(self, chars: Iterable[str], words: Iterable[str] = ()):
        chars = list(chars)
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            dupes = sorted(c for c, n in Counter(chars).items() if n > 1)
            raise ValueError(f"vocabulary has duplicate characters: {dupes!r}")
        self.chars: list[str] = chars
        self.index: dict[str, int] = {c: i for i, c in enumerate(chars)}
        # Where a character cannot be mapped to anything closer, fall back to a space (or the first entry).
        self.fallback = " " if " " in self.index else chars[0]
        #: The training corpus's words (lowercase, seen at least twice): the words a song's steered rhyme may bring
        #: in (empty for a checkpoint trained before they were recorded: any word of the dictionary).
        self.words: frozenset[str] = frozenset(words)

    @classmethod
    def from_text(cls, text: str, words: Iterable[str] = ()) -> "CharVocab":
        return cls(sorted(set(text)), words)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and other.chars == self.chars

    # -- encoding ----------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """Strict encoding: every character must be in the vocabulary."""
        try:
            return np.fromiter((self.index[c] for c in text), dtype=np.int32, count=len(text))
        except KeyError as exc:
            raise GenerationError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def nearest(self, char: str) -> str:
        """The closest known character: itself, another case, the unaccented letter, a look-alike, or a space."""
        if char in self.index:
            return char
        candidates = [char.lower(), char.upper(), _LOOKALIKES.get(char, "")]
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        candidates += [base, base.lower(), base.upper()]
        for cand in candidates:
            if len(cand) == 1 and cand in self.index:
                return cand
        if char.isspace():
            for ws in ("\n" if char in "\n\r\v\f\u2028\u2029" else " ", " ", "\n"):
                if ws in self.index:
                    return ws
        return self.fallback

    def encode_lenient(self, text: str) -> tuple[np.ndarray, dict[str, str]]:
        """Encode, replacing unknown characters by :meth:`nearest`; returns the ids and the replacements made."""
        replaced: dict[str, str] = {}
        out = np.empty(len(text), dtype=np.int32)
        for i, c in enumerate(text):
            idx = self.index.get(c)
            if idx is None:
                sub = replaced.get(c) or self.nearest(c)
                replaced[c] = sub
                idx = self.index[sub]
            out[i] = idx
        return out, replaced

    def seed_view(self, seed: str) -> "SeedView":
        """How the model reads a user's seed (see :class:`SeedView`): unknown characters replaced as by
        :meth:`encode_lenient`, a run of characters with no nearer stand-in than the fallback read as one, and whether
        what is drawn next must not go on with the seed's last word."""
        ids, replaced = self.encode_lenient(seed)
        fallback = self.index[self.fallback]
        unmapped = [c not in self.index and replaced.get(c) == self.fallback and not c.isspace() for c in seed]
        keep = [i for i in range(len(seed))
                if not (i and ids[i] == fallback and ids[i - 1] == fallback and (unmapped[i] or unmapped[i - 1]))]
        ids = ids[keep] if len(keep) != len(seed) else ids
        joiner, whole_word = "", False
        if seed and unmapped[-1] and self.fallback == " ":
            joiner = " "  # (the model read the unknown run as a space: so does the reader)
            if not self.decode(ids).strip():  # nothing it can read: it starts as if there were no seed
                ids = ids[:0]
        elif seed and not seed.endswith("-") and (seed[-1].isalnum() or seed[-1] in WORD_MARKS):
            whole_word = True
        return SeedView(ids, replaced, joiner, whole_word)

    def word_chars(self) -> np.ndarray:
        """A boolean mask of the characters that go on with a word: letters, digits, an apostrophe or a hyphen."""
        return np.array([c.isalnum() or c in WORD_MARKS or c == "-" for c in self.chars], bool)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    # -- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.chars, **({"words": sorted(self.words)} if self.words else {})}

    @classmethod
    def from_dict(cls, data: dict, source: str = "vocab.json") -> "CharVocab":
        if not isinstance(data, dict) or data.get("type") != "char" or not isinstance(data.get("chars"), list):
            raise CheckpointError(f"{source}: not a character vocabulary")
        try:
            return cls(data["chars"], data.get("words") or ())
        except ValueError as exc:
            raise CheckpointError(f"{source}: {exc}") from None
