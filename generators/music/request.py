"""A piece asked for, checked and normalised once in the library, whoever asks (the bot's /compose, its Continue
button): one length, a form's length in bars, the chords known, the piece's time within a cap; and what a
continuation may still add. The bot maps its options to these and words the answers; no tempo arithmetic, form
rule or budget lives outside this module.

    notes, bars, seconds = check_length(None, None, None, tempo=90, form="AABA", chords="", max_seconds=600)
    budget = continuation_budget(piece_notes, tempo=90, notes=500, max_notes=2000, max_seconds=600)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GenerationError
from .chords import parse_progression
from .constraints import BEATS_PER_BAR
from .encoder import Note
from .form import SECTION_BARS, parse_form

#: The grid pieces are read back on (MIDI files this project writes and reads: sixteenths).
STEPS_PER_QUARTER = 4
DEFAULT_NOTES = 500


def bars_seconds(bars: int, tempo: float) -> float:
    """How long ``bars`` bars of 4/4 last at ``tempo``."""
    return bars * BEATS_PER_BAR * 60.0 / tempo


def piece_seconds(notes: list[Note], tempo: float, steps_per_quarter: int = STEPS_PER_QUARTER) -> float:
    """How long a piece lasts, to the end of its last note, at ``tempo``."""
    return max((n.onset + n.duration for n in notes), default=0) / steps_per_quarter * 60.0 / tempo


def check_length(notes: int | None, bars: int | None, seconds: float | None, *, tempo: float, form: str | None,
                 chords: str | None, max_seconds: float) -> tuple[int | None, int | None, float | None]:
    """``(notes, bars, seconds)`` of a new piece: at most one given (none: :data:`DEFAULT_NOTES` notes, decided by
    the generator); a form (``AABA``) sets the length in bars, :data:`~generators.music.form.SECTION_BARS` a section
    unless ``bars`` are shared among them; bars at ``tempo`` within ``max_seconds``. Unknown chords and malformed
    forms are refused here, in one line each."""
    given = [name for name, v in (("notes", notes), ("bars", bars), ("seconds", seconds)) if v is not None]
    if len(given) > 1:
        raise GenerationError(f"give one length: notes, bars or seconds (got {' and '.join(given)})")
    parse_progression(chords)
    letters = parse_form(form)
    if letters not in (None, "auto"):
        if notes is not None or seconds is not None:
            raise GenerationError("a form sets the length in bars: give bars (shared among its sections) or none")
        bars = bars or len(letters) * SECTION_BARS
    if bars is not None and bars_seconds(bars, tempo) > max_seconds:
        raise GenerationError(f"{bars} bars at {tempo:g} BPM last {bars_seconds(bars, tempo):,.0f} s; a piece here "
                              f"lasts at most {max_seconds:g} s")
    return notes, bars, seconds


@dataclass(frozen=True)
class Budget:
    """What a continuation adds: ``notes`` (None: its ``bars`` or ``seconds`` as asked), the piece's caps left
    (``max_notes`` for the new part, ``max_seconds`` for it to last) and ``note``, a line when less than asked is
    added."""

    notes: int | None
    max_notes: int
    max_seconds: float
    note: str = ""


def continuation_budget(previous: list[Note], *, tempo: float, notes: int | None = None, bars: int | None = None,
                        seconds: float | None = None, max_notes: int, max_seconds: float) -> Budget:
    """What a continuation of ``previous`` may add within a piece's caps (``max_notes`` notes, ``max_seconds``
    seconds, continuations included). The default or asked-for notes are cut to what is left (the budget's
    ``note`` says so); a piece at a cap, or bars or seconds past it, are refused in one line."""
    so_far = piece_seconds(previous, tempo)
    left_notes, left_s = max_notes - len(previous), max_seconds - so_far
    if left_notes < 1 or left_s < 1:
        raise GenerationError(f"this piece is already {len(previous):,} notes and {so_far:,.0f} s long; a piece here "
                              f"has at most {max_notes:,} notes and {max_seconds:g} s, so it cannot be continued")
    asked_s = bars_seconds(bars, tempo) if bars is not None else seconds
    if asked_s is not None:
        if asked_s > left_s:
            raise GenerationError(f"this piece is {so_far:,.0f} s long: it can be continued by at most {left_s:,.0f} s "
                                  f"(a piece here lasts at most {max_seconds:g} s)")
        return Budget(None, left_notes, left_s)
    wanted = notes or DEFAULT_NOTES
    if wanted <= left_notes:
        return Budget(wanted, left_notes, left_s)
    return Budget(left_notes, left_notes, left_s, f"only {left_notes:,} notes added: a piece here has at most "
                                                  f"{max_notes:,}")
