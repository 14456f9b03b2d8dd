"""Musical form: a piece in sections (``AABA``: a theme, the theme again, something new, the theme once more).

A form is letters, one per section of ``section_bars`` bars (8 by default), named A, B, C... in the order they
first appear. The first time a letter comes, the model writes new material and :class:`FormPlan` records the
section's events; when the letter returns, it replays them, forced event by event, for all but the section's
last bars (a quarter of the section), which the model writes afresh from where the replay left it: the theme comes back
recognisably, with a new close (as a returning phrase often does). The LSTM's state follows the replayed events,
so what comes after a return follows from it. Plan tokens at bar lines are left to the bar clock, which forces
them as always; the replay is the section's notes, durations and waits.

:func:`bar_similarity` and :func:`form_stats` measure what a listener hears: how much of each bar comes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..decoding import Processor, force
from ..errors import GenerationError
from ..letters import check_first_come
from .encoder import PLAN_KINDS, EventVocab, Note

#: The forms offered by name; any letters in order of first appearance work too (up to MAX_SECTIONS).
FORMS = ("AB", "ABA", "AABA", "ABAB", "AABB", "ABACA")
MAX_SECTIONS = 16
SECTION_BARS = 8
_LETTERS = re.compile(r"^[A-Za-z]+$")


@dataclass(frozen=True)
class Form:
    """Section letters (``"AABA"``) and the bars of one section."""

    letters: str
    section_bars: int = SECTION_BARS

    @property
    def bars(self) -> int:
        return len(self.letters) * self.section_bars

    def describe(self) -> str:
        return f"form {self.letters} ({self.section_bars}-bar sections)"


#: The forms drawn for a piece of so many sections when none is asked for (``auto``).
AUTO_FORMS = {2: ("AA",), 3: ("ABA",), 4: ("AABA", "ABAB", "AABB"), 5: ("ABACA", "AABAA"), 6: ("AABAAB", "ABABCB"),
              7: ("ABACABA",), 8: ("AABAAABA", "ABABCBAB")}
AUTO_MIN_BARS = 16


def auto_form(bars: int, rng) -> Form | None:
    """A form drawn (with the piece's RNG) to fit ``bars`` when none is asked for: sections of 8 bars (of 4 when 8
    do not divide the piece), from the common forms of that many sections; None below 16 bars or when nothing
    fits (the piece is through-composed)."""
    if bars < AUTO_MIN_BARS:
        return None
    for section_bars in (SECTION_BARS, SECTION_BARS // 2):
        choices = AUTO_FORMS.get(bars // section_bars) if bars % section_bars == 0 else None
        if choices:
            return Form(choices[int(rng.integers(len(choices)))], section_bars)
    return None


def parse_form(text: str | None) -> str | None:
    """``"aaba"`` -> ``"AABA"``; ``"through"`` or ``"none"`` -> None (through-composed); ``None`` or ``"auto"`` ->
    ``"auto"`` (a form drawn to fit the length, see :func:`auto_form`).

    Refused with one line: anything but letters, more than :data:`MAX_SECTIONS` sections, or letters out of
    order (a new section is the next unused letter: ``ABAC`` yes, ``ACAB`` no)."""
    if text is None or str(text).strip().lower() == "auto":
        return "auto"
    if str(text).strip().lower() in ("through", "none"):
        return None
    letters = str(text).strip().upper()
    if not _LETTERS.match(letters):
        raise GenerationError(f"form must be section letters such as AABA or ABACA (or through), got {text!r}")
    if len(letters) > MAX_SECTIONS:
        raise GenerationError(f"a form has at most {MAX_SECTIONS} sections, got {len(letters)}")
    return check_first_come(letters, "form sections", "ABAC")


class FormPlan(Processor):
    """Records each section's events the first time its letter comes, and replays them when it returns (all but
    the last ``varied_bars`` bars of it). Time starts at a bar line (``start``: its step), which section A
    starts from."""

    def __init__(self, vocab: EventVocab, form: Form, bar_steps: int, start: int):
        self.waits = vocab.amounts("W")
        self.is_plan = vocab.mask(*PLAN_KINDS)  # forced by the bar clock at every bar line: not the section's own
        self.is_chord = vocab.mask("H")  # a bar's chord: the section's own (recorded and replayed) where it drew one
        self.form, self.bar = form, bar_steps
        self.section_steps = form.section_bars * bar_steps
        varied_bars = form.section_bars // 4  # 2 of 8: a returning section closes afresh
        self.replay_steps = (form.section_bars - varied_bars) * bar_steps
        self.start, self.time = start, start
        self.recorded: dict[str, list[int]] = {}
        self.section = -1
        self._enter(0)

    def _enter(self, section: int) -> None:
        self.section = section
        letter = self.form.letters[section] if section < len(self.form.letters) else None
        self.recording = letter is not None and letter not in self.recorded
        if self.recording:
            self.recorded[letter] = []
        source = self.recorded.get(letter, []) if letter is not None and not self.recording else []
        self.replay = self._replayable(source)
        self.position = 0

    def _replayable(self, events: list[int]) -> list[int]:
        """The first ``replay_steps`` of a recorded section (its events until that much time has passed)."""
        out, elapsed = [], 0
        for token in events:
            if elapsed >= self.replay_steps:
                break
            out.append(token)
            elapsed += int(self.waits[token])
        return out

    def _replaying_chord(self) -> bool:
        return self.position < len(self.replay) and bool(self.is_chord[self.replay[self.position]])

    def process(self, logits: np.ndarray) -> np.ndarray:
        if self.position < len(self.replay):
            return force(logits, self.replay[self.position])
        return logits

    def observe(self, token: int) -> None:
        if self.is_plan[token]:
            return
        if self.is_chord[token] and not self.recording:  # a returning section's chord: the recorded one, or one
            if self._replaying_chord():  # given in its place (a progression); where the section first began
                self.position += 1  # without one, the bar clock's alone
            return
        if self.recording:
            self.recorded[self.form.letters[self.section]].append(token)
        self.position += 1
        self.time += int(self.waits[token])
        section = (self.time - self.start) // self.section_steps
        if section != self.section and self.time > self.start:
            self._enter(section)


def bars_of(notes: list[Note], bar_steps: int = 16) -> list[set[tuple[int, int]]]:
    """Each bar's notes as (position in the bar, pitch)."""
    if not notes:
        return []
    bars: list[set[tuple[int, int]]] = [set() for _ in range(max(n.onset for n in notes) // bar_steps + 1)]
    for n in notes:
        bars[n.onset // bar_steps].add((n.onset % bar_steps, n.pitch))
    return bars


def bar_similarity(a: set, b: set) -> float:
    """Shared notes / all notes of the two bars (1: the same bar; two empty bars count as alike)."""
    return len(a & b) / len(a | b) if a or b else 1.0


def form_stats(notes: list[Note], bar_steps: int = 16) -> dict[str, float]:
    """What comes back: each bar's best similarity to an earlier bar (mean), the share of bars that repeat an
    earlier bar exactly, and the mean similarity of bars 4 and 8 apart."""
    bars = [b for b in bars_of(notes, bar_steps)]
    if len(bars) < 2:
        return {"bar_best_earlier": 0.0, "bar_exact_repeats": 0.0, "bar_sim_4": 0.0, "bar_sim_8": 0.0}
    best = [max(bar_similarity(bars[i], bars[j]) for j in range(i)) for i in range(1, len(bars)) if bars[i]]
    exact = [any(bars[i] == bars[j] for j in range(i)) for i in range(1, len(bars)) if bars[i]]

    def apart(d: int) -> float:
        pairs = [bar_similarity(bars[i], bars[i - d]) for i in range(d, len(bars)) if bars[i] or bars[i - d]]
        return float(np.mean(pairs)) if pairs else 0.0

    return {"bar_best_earlier": round(float(np.mean(best)), 3) if best else 0.0,
            "bar_exact_repeats": round(float(np.mean(exact)), 3) if exact else 0.0,
            "bar_sim_4": round(apart(4), 3), "bar_sim_8": round(apart(8), 3)}
