"""What a generation was asked for, as typed values: stored with each result (as JSON in the history) and read
back by its buttons, so Again and Vary redo exactly the same request and Continue knows the piece it extends.

Rows written by older bots hold the same keys; keys a request does not know are ignored, missing ones take the
defaults, so history survives changes in both directions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def _from(cls, data: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TextRequest:
    """/text: the seed (a continuation's is the whole earlier text), temperature and length in characters.
    /lyrics: a song of ``lines`` lines with its rhyme scheme and form (once written, the ones it was written
    with, so Again and Vary keep them) and syllables per line; ``continues``: the seed is a song to add a
    section to."""

    seed: str
    temp: float
    length: int | None = None
    lines: int | None = None
    rhyme: str | None = None
    form: str | None = None
    syllables: int | None = None
    continues: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextRequest":
        return _from(cls, data)


@dataclass(frozen=True)
class ComposeRequest:
    """/compose: one length (``notes``, ``bars`` or ``seconds``; none: 500 notes), key, temperature, tempo,
    instrument, primer (None: a corpus excerpt; notes; or a stored upload's path), the plan controls
    (None: the primer's), the form (None: auto), the chords (None: none), and, once composed, ``piece_key`` (the key the piece was composed in, which a
    continuation reads it in) and ``continues`` (the result a continuation extends, for Again and Vary)."""

    notes: int | None = None
    bars: int | None = None
    seconds: float | None = None
    key: str = "random"
    temp: float = 0.9
    tempo: int = 120
    instrument: str = "piano"
    primer: str | None = None
    texture: str | None = None
    register: str | None = None
    form: str | None = None
    chords: str | None = None
    piece_key: str | None = None
    continues: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k in ("notes", "bars",
                                                                                          "seconds", "primer")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ComposeRequest":
        return _from(cls, data)

    @property
    def uploaded_primer(self) -> bool:
        return bool(self.primer) and str(self.primer).endswith(".mid")
