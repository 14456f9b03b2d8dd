"""Config dataclasses: the fields every generator shares, and the character generators' presets.

``ModelConfig`` holds the architecture and training fields that the model and
the training loop read; each generator has one config dataclass built on it
(:class:`CharConfig` here, ``MusicConfig`` in ``generators.music``). The config
is saved inside every checkpoint (``config.json``), so a checkpoint rebuilds
exactly the model that wrote it.
"""

from __future__ import annotations

import math

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError

OBJECTIVES = ("seq2seq", "window")
KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and training settings of an LSTM language model over tokens.

    objective:
        ``seq2seq`` (default) predicts the next token at every timestep of
        each window, so one window of ``seq_len`` tokens yields ``seq_len``
        targets, and generation carries the LSTM state one token at a time.
        ``window`` is the book chapter's method: one target (the token after
        the window) per window, windows taken every ``window_step`` tokens;
        generation must re-run the whole window for every token.
    bidirectional:
        Only with ``objective="window"``. A bidirectional LSTM reads the window
        both ways, which can help a one-target-per-window model, but it has no
        state that can be carried forward one step at a time: every generated
        token costs a full pass over the window (hundreds of times slower),
        and it cannot be used for sequence-to-sequence training (the backward
        pass would see the very tokens it is asked to predict).
    epoch_steps:
        Batches between validations (0: a pass over the corpus). A corpus of
        many megabytes takes most of an hour a pass on two cores: shorter
        epochs validate, keep the best weights and honour ``--minutes`` often.
    carry_state:
        Only with ``seq2seq``. Training reads the corpus as ``batch_size``
        parallel streams and carries each stream's LSTM state from one window
        to the next (truncated backpropagation through time), so the model
        learns to use context far longer than ``seq_len``, as it must when
        generation carries the state over thousands of tokens. Validation is
        scored the same way (see :func:`generators.data.stream_dataset`).
    """

    preset: str = "text"
    seq_len: int = 100
    embedding: int = 64
    layers: int = 2
    units: int = 512
    dropout: float = 0.25
    bidirectional: bool = False
    objective: str = "seq2seq"
    window_step: int = 5
    batch_size: int = 128
    learning_rate: float = 3e-3
    clipnorm: float = 1.0
    val_fraction: float = 0.05
    patience: int = 4
    lr_patience: int = 1
    carry_state: bool = False
    epoch_steps: int = 0  # training steps an epoch (validation, the best weights kept); 0: one pass over the corpus

    def _require_positive_ints(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"config {name} must be a positive integer, got {value!r}")

    #: Upper bounds, checked before anything is allocated (a corrupt config.json must not ask for 100 GB).
    LIMITS = {"seq_len": 10_000, "embedding": 4096, "layers": 16, "units": 8192, "window_step": 10_000,
              "batch_size": 65_536, "patience": 10_000}

    def __post_init__(self) -> None:
        self._require_positive_ints("seq_len", "embedding", "layers", "units", "window_step", "batch_size", "patience")
        for name, limit in self.LIMITS.items():
            if getattr(self, name) > limit:
                raise ConfigError(f"config {name} must be at most {limit}, got {getattr(self, name)!r}")
        if self.lr_patience < 0:
            raise ConfigError(f"config lr_patience must be >= 0, got {self.lr_patience!r}")
        if not isinstance(self.epoch_steps, int) or isinstance(self.epoch_steps, bool) or self.epoch_steps < 0:
            raise ConfigError(f"config epoch_steps must be 0 or a positive integer, got {self.epoch_steps!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"config dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"config val_fraction must be in (0, 0.5), got {self.val_fraction!r}")
        if not 0 < self.learning_rate <= 10:  # (NaN and inf fail too: training would only produce NaN)
            raise ConfigError(f"config learning_rate must be > 0 and at most 10, got {self.learning_rate!r}")
        if not 0 < self.clipnorm < math.inf:
            raise ConfigError(f"config clipnorm must be a finite number > 0, got {self.clipnorm!r}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"config objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.bidirectional and self.objective != "window":
            raise ConfigError(
                "config bidirectional=True needs objective='window': a bidirectional LSTM "
                "cannot predict every timestep without seeing the answer"
            )
        if self.carry_state and self.objective != "seq2seq":
            raise ConfigError("config carry_state=True needs objective='seq2seq'")

    # -- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        return cls(**data)

    def with_overrides(self, assignments: list[str] | None):
        """Apply ``key=value`` strings (from ``--set``), converting to each field's type."""
        if not assignments:
            return self
        types = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for item in assignments:
            key, sep, raw = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in types:
                raise ConfigError(f"bad --set {item!r}: expected KEY=VALUE with KEY one of {', '.join(types)}")
            changes[key] = _parse_value(key, raw.strip(), getattr(self, key))
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CharConfig(ModelConfig):
    """The character generators' config (``text`` and ``lyrics`` presets below)."""


def _parse_value(key: str, raw: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        return raw
    except ValueError:
        raise ConfigError(f"bad value for {key}: {raw!r} is not {KIND_WORDS.get(type(current), 'a ' + type(current).__name__)}") from None


#: The prose/script model (the book chapter's Nietzsche generator, sequence-to-sequence).
TEXT = CharConfig(preset="text")

#: The deeper song-lyrics model: three LSTM layers, longer windows (a verse or two of context).
LYRICS = CharConfig(preset="lyrics", layers=3, units=384, seq_len=150, dropout=0.2)

PRESETS: dict[str, CharConfig] = {"text": TEXT, "lyrics": LYRICS}


def preset(name: str) -> CharConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(PRESETS)}") from None
