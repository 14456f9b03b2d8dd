"""The music generator's config dataclass and its preset."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ModelConfig
from ..errors import ConfigError
from .midi_io import TICKS_PER_QUARTER

AUGMENT = ("none", "corpus-keys", "all-keys", "normalize")


@dataclass(frozen=True)
class MusicConfig(ModelConfig):
    """Model and training settings (see :class:`ModelConfig`) plus the event grid.

    steps_per_quarter: the quantization grid (4 = sixteenth notes).
    max_duration:      longest note, in steps (longer notes are shortened).
    max_wait:          longest single wait token; longer gaps use several.
    plan_bars:         bar lines with a plan (register, texture, key) of the
                       coming plan_bars bars; 0: no bar lines.
    velocity_bins:     dynamics: note velocities in this many bins (V tokens);
                       0: none (every note at one velocity).
    chord_plan:        each bar line's plan ends with the bar's triad (H), so a
                       progression can be followed (needs plan_bars).
    augment:           key handling: ``normalize`` (every piece, training and
                       validation alike, is transposed so that its estimated key
                       is C major or A minor; generation transposes the output
                       to the requested key), or transposition augmentation of
                       the training pieces with absolute pitches: ``none``,
                       ``corpus-keys`` (to every key tonic found in the corpus)
                       or ``all-keys`` (all 12 transpositions), validation pieces
                       untransposed.
    """

    preset: str = "music"
    seq_len: int = 128
    embedding: int = 96
    layers: int = 2
    units: int = 384
    dropout: float = 0.3
    batch_size: int = 128
    val_fraction: float = 0.1
    patience: int = 5
    steps_per_quarter: int = 4
    max_duration: int = 32
    max_wait: int = 16
    augment: str = "normalize"
    plan_bars: int = 0
    velocity_bins: int = 0
    chord_plan: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.velocity_bins, int) or isinstance(self.velocity_bins, bool) \
                or not 0 <= self.velocity_bins <= 127:
            raise ConfigError(f"config velocity_bins must be between 0 and 127, got {self.velocity_bins!r}")
        if not isinstance(self.chord_plan, bool):
            raise ConfigError(f"config chord_plan must be true or false, got {self.chord_plan!r}")
        if self.chord_plan and not self.plan_bars:
            raise ConfigError("config chord_plan needs plan_bars (bar lines)")
        self._require_positive_ints("steps_per_quarter", "max_duration", "max_wait")
        if TICKS_PER_QUARTER % self.steps_per_quarter:  # the grid must fit the MIDI files written
            raise ConfigError(f"config steps_per_quarter must divide {TICKS_PER_QUARTER} "
                              f"(e.g. 2, 3, 4, 6, 8, 12), got {self.steps_per_quarter!r}")
        if not isinstance(self.plan_bars, int) or isinstance(self.plan_bars, bool) or self.plan_bars < 0:
            raise ConfigError(f"config plan_bars must be 0 or a positive integer, got {self.plan_bars!r}")
        if self.augment not in AUGMENT:
            raise ConfigError(f"config augment must be one of {AUGMENT}, got {self.augment!r}")


MUSIC = MusicConfig(plan_bars=1, velocity_bins=32, chord_plan=True)
