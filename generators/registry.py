"""The one list of models: name -> what serves it, what it writes and what it trains on.

The CLI's choices, the bot's commands (and Discord's choices), the serving loader, the Ray replicas and ``/help``
read this table; adding a model is adding a row (and its generator class).

    MODELS["lyrics"].generator()   # -> CharGenerator, imported only when asked for
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    generator_path: str  # "module:Class" of its generator, imported on first use
    writes: str  # "text" (a seed, characters) or "music" (notes, MIDI)
    corpus: str  # what a team's material for it is, for messages
    shipped: str  # the folder of its shipped checkpoint under checkpoints/

    def generator(self):
        """Its generator class (see :class:`generators.sequence.SequenceGenerator`)."""
        module, _, name = self.generator_path.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def writes_text(self) -> bool:
        return self.writes == "text"


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("text", "generators.text:CharGenerator", "text", "a UTF-8 text file (.txt)", "text"),
    ModelSpec("lyrics", "generators.text:CharGenerator", "text", "a UTF-8 text file (.txt)", "lyrics"),
    ModelSpec("music", "generators.music.generator:MusicGenerator", "music",
              "MIDI files (.mid, .midi) or a .zip of them", "music"),
)}
NAMES: tuple[str, ...] = tuple(MODELS)
TEXT_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.writes_text)


def spec(name: str) -> ModelSpec:
    """The model called ``name``; a ``KeyError`` naming the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose {', '.join(NAMES)}") from None
