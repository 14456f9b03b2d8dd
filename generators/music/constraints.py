"""The music decoder's rules, one small processor each (see :mod:`generators.decoding`).

A piece is drawn through, in this order:

- :class:`~generators.decoding.Block`: never ``START`` or ``END`` (a piece ends when it has its notes) nor a
  plan token (plans are forced, never drawn; a bar's chord is forced or drawn only at its bar line);
- :class:`OnePitchPerOnset`: one note per pitch and onset;
- :class:`RepeatGuard`: one onset (its pitches) struck at most :data:`MAX_REPEATS` times in a row;
- :class:`StallGuard`: a note after at most :data:`MAX_SILENT_EVENTS` events without one;
- :class:`BarClock`: waits stop at bar lines, where the plan's tokens are forced, then the bar's chord
  (last: forcing overrides all);
- :class:`PieceLength`: counts notes and time and ends the piece (or says the note cap came first).

:func:`requested_length` validates the length a caller asks for (notes, bars or seconds, within the caps here)
and :func:`check_finished` refuses a piece that the cap or the event limit cut short.

Each asks the vocabulary what a token is (:meth:`~generators.music.encoder.EventVocab.mask`), never its
spelling. Plan tokens are never observed as notes, waits or durations, so the rules that count those ignore them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..decoding import Processor, force
from ..errors import GenerationError
from .encoder import PLAN_KINDS, EventVocab

MAX_NOTES = 20_000
MAX_BARS = 1_000
MAX_SECONDS = 3_600.0
BEATS_PER_BAR = 4  # bars are 4/4

#: The longest run of one repeated onset (the same pitches) a piece may hold.
#: The held-out classical pieces' longest is 7; at low temperatures the model otherwise strikes one
#: chord dozens of times in a row.
MAX_REPEATS = 8
#: Events in a row without a note after which the next events must strike one (8 bars of rest or more; below
#: the 50 events a note that bound a piece, so a piece always ends).
MAX_SILENT_EVENTS = 32


class OnePitchPerOnset(Processor):
    """A pitch already sounded at the onset being written is not drawn again there."""

    def __init__(self, vocab: EventVocab):
        self.is_note, self.is_wait = vocab.mask("P"), vocab.mask("W")
        self.played: list[int] = []

    def process(self, logits: np.ndarray) -> np.ndarray:
        logits[self.played] = -np.inf
        return logits

    def observe(self, token: int) -> None:
        if self.is_wait[token]:
            self.played.clear()
        elif self.is_note[token]:
            self.played.append(token)


class RepeatGuard(Processor):
    """Caps runs of one repeated onset at :data:`MAX_REPEATS`.

    It follows the drawn events (``P`` adds a pitch to the onset being written, a wait ends it). Once the last
    ``MAX_REPEATS`` onsets held the same pitches, every wait is forbidden while the onset being written holds
    exactly those pitches again, so it gains or changes a note instead of repeating once more. Durations are
    not told apart: a note struck again before it ends is cut where it is struck (see ``resolve_overlaps``),
    so onsets whose written durations differ often sound, and are counted by the statistics, as the same.
    """

    def __init__(self, vocab: EventVocab):
        self.is_note, self.is_wait = vocab.mask("P"), vocab.mask("W")
        self.last: tuple | None = None  # the pitches of the last finished onset...
        self.run = 0  # ...and how many onsets in a row held them
        self.notes: list[int] = []  # the pitch tokens of the onset being written

    def observe(self, token: int) -> None:
        if self.is_note[token]:
            self.notes.append(token)
        elif self.is_wait[token] and self.notes:  # (a wait with no notes continues the last gap)
            onset = tuple(sorted(self.notes))
            self.run = self.run + 1 if onset == self.last else 1
            self.last, self.notes = onset, []

    def process(self, logits: np.ndarray) -> np.ndarray:
        if self.run >= MAX_REPEATS and tuple(sorted(self.notes)) == self.last:
            others = np.isfinite(logits) & ~self.is_wait
            if others.any():  # (never leave nothing to draw)
                logits[self.is_wait] = -np.inf
        return logits


class StallGuard(Processor):
    """Keeps a piece moving: after :data:`MAX_SILENT_EVENTS` events without a note (waits and durations: a loop a
    weak model can fall into at a low temperature), only a note, or a duration that a note then follows, may be
    drawn."""

    def __init__(self, vocab: EventVocab):
        self.is_note, self.is_duration = vocab.mask("P"), vocab.mask("D")
        self.counted = vocab.mask("P", "D", "W", "V")  # (plans are forced at bar lines: not the model's stalling)
        self.silent = 0
        self.after_duration = False

    def observe(self, token: int) -> None:
        if self.counted[token]:
            self.silent = 0 if self.is_note[token] else self.silent + 1
            self.after_duration = bool(self.is_duration[token])

    def process(self, logits: np.ndarray) -> np.ndarray:
        if self.silent >= MAX_SILENT_EVENTS:
            allowed = self.is_note if self.after_duration else self.is_note | self.is_duration
            if (np.isfinite(logits) & allowed).any():  # (never leave nothing to draw)
                logits[~allowed] = -np.inf
        return logits


class BarClock(Processor):
    """Bar lines (see :class:`~generators.music.encoder.EventCodec`): no wait crosses the next one (unless no
    known wait fits before it), and at each one the plan's tokens are forced, in order, then (a model with
    ``chord_plan``) the bar's chord: ``harmony(bar_line_step)``'s ``H`` token, or where it gives None one the
    model draws among the ``H`` tokens (unless a rule before it forced another token: a section replayed from
    where it first began without one). Elsewhere no ``H`` is drawn.

    ``time``: the steps the primer already covered; ``opening``: the part of the bar line's plan still to come
    when the primer ended on one (all of it after a wait; only the chord after the plan's tokens), else [].
    """

    CHORD = -1  # in the forced queue: the bar's chord comes here

    def __init__(self, vocab: EventVocab, bar_steps: int, plan_ids: list[int], time: int, opening: list[int],
                 harmony=None):
        self.waits = vocab.amounts("W")
        self.shortest_wait = int(self.waits[self.waits > 0].min())
        self.is_chord = vocab.mask("H")
        self.harmony = harmony or (lambda _: None)
        self.bar, self.time = bar_steps, time
        self.plan_ids = list(plan_ids) + ([self.CHORD] if self.is_chord.any() else [])
        self.forced = list(opening)

    def process(self, logits: np.ndarray) -> np.ndarray:
        if self.forced:
            if self.forced[0] != self.CHORD:
                return force(logits, self.forced[0])
            chord = self.harmony(self.time)
            if chord is not None:
                return force(logits, chord)
            if (np.isfinite(logits) & self.is_chord).any():  # the model's own chord (a form may replay one)
                logits[~self.is_chord] = -np.inf
                return logits
            self.forced.pop(0)  # a replayed section that began without a chord at this bar line: none here
        logits[self.is_chord] = -np.inf
        left = self.bar - self.time % self.bar
        if left >= self.shortest_wait:  # (else no wait fits: let one cross)
            logits[self.waits > left] = -np.inf
        return logits

    def observe(self, token: int) -> None:
        if self.forced:
            self.forced.pop(0)
            return
        if self.waits[token]:
            self.time += int(self.waits[token])
            if self.time % self.bar == 0:
                self.forced = list(self.plan_ids)

    @classmethod
    def opening_of(cls, vocab: EventVocab, prime_ids: list[int], bar_steps: int, plan_ids: list[int]) -> list[int]:
        """What of the bar line's plan the primer left to come (see the class docstring)."""
        if int(vocab.amounts("W")[prime_ids].sum()) % bar_steps:
            return []
        chord = [cls.CHORD] if vocab.mask("H").any() else []
        last = vocab.kind(prime_ids[-1])
        if last == "W":
            return list(plan_ids) + chord
        return chord if last in PLAN_KINDS else []


class PieceLength(Processor):
    """Ends a piece at ``notes`` notes, or at ``steps`` of music (counted from its first note, or from its start
    with ``from_start``: a piece in sections starts at a bar line); with ``steps``, reaching ``max_notes`` first
    ends it too, marked ``capped`` (the caller refuses it: never a shorter piece)."""

    def __init__(self, vocab: EventVocab, notes: int | None, steps: int | None, max_notes: int,
                 from_start: bool = False):
        self.is_note, self.waits = vocab.mask("P"), vocab.amounts("W")
        self.target_notes, self.target_steps, self.max_notes = notes, steps, max_notes
        self.from_start = from_start
        self.notes = self.time = 0
        self.finished = self.capped = False

    def observe(self, token: int) -> None:
        self.notes += int(self.is_note[token])
        if self.notes or self.from_start:
            self.time += int(self.waits[token])
        if self.target_notes is not None:
            self.finished = self.notes >= self.target_notes
        else:
            self.finished = self.time >= self.target_steps
            self.capped = not self.finished and self.notes >= self.max_notes
        self.done = self.finished or self.capped


class Length(NamedTuple):
    """A piece's length: ``notes`` notes, or ``steps`` grid steps of music."""
    notes: int | None  # stop after this many notes, or
    steps: int | None  # after this many grid steps of music


def check_finished(counted: PieceLength, events: int, bar_steps: int) -> None:
    """Never hand back a shorter piece than asked for: the note cap or the event limit came first."""
    if counted.capped:
        raise GenerationError(f"the piece reached {counted.max_notes:,} notes (the most a piece may have) in bar "
                              f"{counted.time // bar_steps + 1} of {-(-counted.target_steps // bar_steps)}: ask for "
                              "fewer bars or seconds, or a sparser texture")
    if not counted.finished:
        raise GenerationError(f"the model wrote {counted.notes} notes in {events} events without finishing the "
                              "piece asked for; try a higher temperature")


def requested_length(notes, bars, seconds, tempo, steps_per_quarter: int, max_notes: int = MAX_NOTES) -> Length:
    """Validate the length options (one of notes, bars, seconds; default 500 notes) and the tempo."""
    if not isinstance(tempo, (int, float)) or isinstance(tempo, bool) or not 20 <= tempo <= 400:
        raise GenerationError(f"tempo must be between 20 and 400 BPM, got {tempo!r}")
    if not isinstance(max_notes, int) or isinstance(max_notes, bool) or not 1 <= max_notes <= MAX_NOTES:
        raise GenerationError(f"max_notes must be between 1 and {MAX_NOTES}, got {max_notes!r}")
    given = [name for name, v in (("notes", notes), ("bars", bars), ("seconds", seconds)) if v is not None]
    if len(given) > 1:
        raise GenerationError(f"give one length: notes, bars or seconds (got {' and '.join(given)})")
    if bars is not None:
        if not isinstance(bars, int) or isinstance(bars, bool) or not 1 <= bars <= MAX_BARS:
            raise GenerationError(f"bars must be between 1 and {MAX_BARS}, got {bars!r}")
        return Length(None, bars * BEATS_PER_BAR * steps_per_quarter)
    if seconds is not None:
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_SECONDS:
            raise GenerationError(f"seconds must be between 1 and {MAX_SECONDS:g}, got {seconds!r}")
        steps = max(1, round(seconds * tempo / 60 * steps_per_quarter))
        if steps > MAX_BARS * BEATS_PER_BAR * steps_per_quarter:
            raise GenerationError(f"{seconds:g} s at {tempo:g} BPM is {steps / (BEATS_PER_BAR * steps_per_quarter):,.0f} "
                                  f"bars; a piece has at most {MAX_BARS:,}")
        return Length(None, steps)
    notes = 500 if notes is None else notes
    if not isinstance(notes, int) or isinstance(notes, bool) or not 1 <= notes <= max_notes:
        raise GenerationError(f"notes must be between 1 and {max_notes}, got {notes!r}")
    return Length(notes, None)
