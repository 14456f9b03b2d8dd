"""The option schema: every command option's name, type, bounds, choices and help, in one place.

The Discord parameters (``bot/cogs``), the console parser, the checks in the command layer and ``/help`` all
read these :class:`Option` values, so a bound is written once. The library's own limits (RNG seeds, seed
length) are imported from it, so the bot never accepts what the library refuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from generators.music.form import FORMS, MAX_SECTIONS
from generators.music.midi_io import GM_NAMES
from generators.sampling import MAX_RNG_SEED
from generators.songs.form import MAX_LINES, SCHEMES
from generators.songs.writer import MAX_SYLLABLES, MIN_SYLLABLES
from generators.text import MAX_SEED_CHARS

from .core import UserError

#: The temperatures a user may ask for (the library takes 0 to 5; past 2 is noise, below 0.1 a loop).
MIN_TEMP, MAX_TEMP, VARY_STEP = 0.1, 2.0, 0.1
MAX_PIECE_NOTES = 2000  # a piece here, continuations included, has at most this many notes...
MAX_PIECE_SECONDS = 600  # ...and lasts at most this long (as asked for; a piece of N notes is as long as it is)
MAX_TEXT_LENGTH = 2000  # characters one /text writes
MAX_CONTINUED_CHARS = 5 * MAX_TEXT_LENGTH  # a text continued again and again stops here
KIND_NAMES = {int: "a whole number", float: "a number", str: "text"}


def number_text(x: float) -> str:
    """``4294967295`` stays an integer, ``0.1`` stays short: never ``4.29497e+09``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Option:
    name: str
    kind: type
    description: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    max_length: int | None = None

    def check(self, value: Any) -> Any:
        """Convert and validate one value; raise :class:`UserError` naming the option."""
        if value is None:
            return self.default
        try:
            if self.kind is int and isinstance(value, str):
                value = int(value)
            elif self.kind is float and isinstance(value, str):
                value = float(value)
            elif self.kind is str:
                value = str(value)
        except ValueError:
            raise UserError(f"`{self.name}` must be {KIND_NAMES.get(self.kind, 'text')}, got {value!r}") from None
        out_of_range = self.min is not None and not value >= self.min or self.max is not None and not value <= self.max
        if out_of_range and isinstance(value, (int, float)):  # (NaN compares false both ways: out of range)
            raise UserError(f"`{self.name}` must be between {number_text(self.min)} and {number_text(self.max)}, "
                            f"got {number_text(value) if math.isfinite(value) else value}")
        if self.choices is not None and isinstance(value, str):  # (aabb is AABB, as in the CLI)
            value = next((c for c in self.choices if isinstance(c, str) and c.lower() == value.strip().lower()), value)
        if self.choices is not None and value not in self.choices:
            raise UserError(f"`{self.name}` must be one of {', '.join(map(str, self.choices))}")
        if self.max_length is not None and isinstance(value, str) and len(value) > self.max_length:
            raise UserError(f"`{self.name}` is too long ({len(value)} characters, at most {self.max_length})")
        return value


RNG = Option("rng_seed", int, "random seed; the same seed repeats a result", None, 0, MAX_RNG_SEED)
OPTIONS: dict[str, dict[str, Option]] = {
    "lyrics": {o.name: o for o in (
        Option("seed", str, "how the lyrics begin", "", max_length=MAX_SEED_CHARS),
        Option("temp", float, "temperature: low is safe, high is wild", 0.5, MIN_TEMP, MAX_TEMP),
        Option("lines", int, "lines of lyrics, the seed's included", 16, 1, MAX_LINES),
        Option("rhyme", str, "rhyme scheme of each section (auto: AABB, ABAB or ABCB)", "auto",
               choices=("auto", *SCHEMES, "none")),
        Option("form", str, "sections: 'verse chorus verse chorus', VCVCBC, none (auto: a common form from 12 lines)",
               "auto", max_length=200),
        Option("syllables", int, "syllables per line (each line within one)", None, MIN_SYLLABLES, MAX_SYLLABLES),
        Option("length", int, "or: this many characters of free-running lyrics instead of a song", None, 50,
               MAX_TEXT_LENGTH),
        RNG)},
    "text": {o.name: o for o in (
        Option("seed", str, "how the text begins", "", max_length=MAX_SEED_CHARS),
        Option("temp", float, "temperature: low is safe, high is wild", 0.5, MIN_TEMP, MAX_TEMP),
        Option("length", int, "characters to write", 400, 50, MAX_TEXT_LENGTH),
        RNG)},
    "compose": {o.name: o for o in (
        Option("notes", int, "notes to write (each note of a chord counts); default 500", None, 1, MAX_PIECE_NOTES),
        Option("bars", int, "or: bars of 4/4 to write", None, 1, 200),
        Option("seconds", float, "or: seconds of music to write", None, 1, MAX_PIECE_SECONDS),
        Option("key", str, "key, e.g. 'D minor', 'F#', 'Bb major' (default: the primer's or random)", "random",
               max_length=30),
        Option("temp", float, "temperature: low is safe, high is wild", 0.9, MIN_TEMP, MAX_TEMP),
        Option("texture", str, "notes at a time: sparse, medium or full (default: the primer's)", "auto",
               choices=("auto", "sparse", "medium", "full")),
        Option("register", str, "low, middle or high on the keyboard (default: the primer's)", "auto",
               choices=("auto", "low", "middle", "high")),
        Option("form", str, "sections like AABA or ABACA, 8 bars each (a returning letter comes back), or through",
               "auto", max_length=MAX_SECTIONS),
        Option("chords", str, "a chord per bar, repeated, e.g. 'C G Am F' (they set the key; a key given must be theirs)", "",
               max_length=200),
        Option("tempo", int, "tempo in BPM", 120, 20, 300),
        Option("instrument", str, "General MIDI instrument name or number", "piano", max_length=40),
        Option("primer", str, "'random', or notes like C4 E4 G4", "random", max_length=200),
        RNG)},
}
USAGE_DAYS = Option("days", float, "how many days back", 7, 1, 365)
RETRAIN_EPOCHS = Option("epochs", int, "stop after this many epochs", None, 1, 1000)
RETRAIN_MINUTES = Option("minutes", float, "stop after this many minutes", None, 1, 24 * 60)


def instrument_suggestions(current: str, limit: int = 25) -> list[str]:
    """General MIDI instrument names for autocomplete: those containing what was typed, prefix matches first."""
    typed = (current or "").strip().lower()
    found = [n for n in GM_NAMES if typed in n.lower()]
    return sorted(found, key=lambda n: not n.lower().startswith(typed))[:limit]


def key_suggestions(current: str, limit: int = 25) -> list[str]:
    """Keys for autocomplete ("random", then the 24 major and minor keys), filtered by what was typed."""
    tonics = ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")
    keys = ["random"] + [f"{t} major" for t in tonics] + [f"{t} minor" for t in ("A", "E", "B", "F#", "C#", "G#",
                                                                                   "D#", "Bb", "F", "C", "G", "D")]
    typed = (current or "").strip().lower()
    found = [k for k in keys if typed in k.lower()]
    return sorted(found, key=lambda k: not k.lower().startswith(typed))[:limit]


SONG_FORMS = ("auto", "none", "verse chorus verse chorus", "verse chorus verse chorus bridge chorus", "VCVC",
              "VCVCBC", "VVCVC", "VCVCC", "intro verse chorus verse chorus outro")


def song_form_suggestions(current: str) -> list[str]:
    """Song forms for /lyrics's autocomplete, filtered by what was typed."""
    typed = (current or "").strip().lower()
    return [f for f in SONG_FORMS if typed in f.lower()]


def form_suggestions(current: str) -> list[str]:
    """Forms for autocomplete ("auto", "through" and the common forms), filtered by what was typed."""
    typed = (current or "").strip().lower()
    return [f for f in ("auto", "through", *FORMS) if typed in f.lower()]


def options_help() -> str:
    """/help's option lines, derived from :data:`OPTIONS` (bounds, defaults and choices, as the checks apply them).
    Commands with the same options share a line."""
    lines: dict[str, list[str]] = {}
    for command, options in OPTIONS.items():
        parts = []
        for o in options.values():
            if o.choices is not None:
                parts.append(f"{o.name} {'|'.join(o.choices)}")
            elif o.min is not None:
                default = "" if o.default is None else f" ({number_text(o.default)})"
                parts.append(f"{o.name} {number_text(o.min)}–{number_text(o.max)}{default}")
            else:
                parts.append(o.name)
        lines.setdefault(" · ".join(parts), []).append(f"`/{command}`")
    return "\n".join(f"{', '.join(commands)}: {body}" for body, commands in lines.items())
