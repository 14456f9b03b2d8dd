"""Music as events: quantized notes <-> a token sequence the LSTM can learn.

A piece is a list of :class:`Note` (onset and duration in grid steps, MIDI
pitch); the grid is ``steps_per_quarter`` steps per quarter note (4 = sixteenth
notes). :class:`EventCodec` turns it into tokens and back::

    START                    beginning of a piece
    D<d>                     the duration, in steps, of the notes that follow (d >= 1)
    P<p>                     a note of MIDI pitch p at the current time, lasting the current duration
    W<w>                     advance time by w steps to the next onset (rests are the gaps this leaves)
    R<r>                     plan: the notes of the coming ``plan_bars`` bars centre on pitch r
    T<t>                     plan: ... and have t/10 notes per onset
    K<k>                     plan: ... and fit the major scale on pitch class k best (0 = C)
    H<h>                     plan: the coming bar's chord: the triad on root h (h < 12, major) or h - 12 (minor)
    V<v>                     the velocity (loudness, 1-127) of the notes that follow, a bin's centre
    END                      end of a piece

A chord is several ``P`` tokens at one onset, so chords keep their octaves and
every note of a chord counts as a note. Notes at one onset with different
durations are grouped by duration, each group after its own ``D``. Waits longer
than ``max_wait`` are written as several ``W`` tokens; durations are capped at
``max_duration``. For example C4 and G4 held a quarter (4 steps), then E5 an
eighth after a further eighth's rest::

    START D4 P60 P67 W6 D2 P76 END

With ``bar_steps`` (a 4/4 bar: 16 steps at sixteenths), the codec also marks
bar lines: a wait never crosses one (it is split there), and at each bar line
the plan of the coming ``plan_bars`` bars follows: ``R`` their mean pitch
rounded to ``REGISTER_STEP`` semitones, ``T`` their notes per onset rounded to
a half (``T20`` = 2.0), ``K`` the major scale (or its relative minor) holding
most of their notes, ties going to the scale fewest fifths from C. Time starts
at the bar line before the first note. The example above, with bars::

    START R69 T15 K0 D4 P60 P67 W6 D2 P76 END

With ``velocity_bins`` (32, as in Performance RNN), a ``V`` token comes before
a note whose velocity, rounded to the centre of one of ``velocity_bins`` equal
bins of 1-127, differs from the last one written (notes start at
:data:`DEFAULT_VELOCITY`); decoding gives each note the velocity in force.
With ``chord_plan``, each bar line's plan ends with ``H``: the major or minor
triad holding most of that bar's notes (weighted by duration), so a
progression can be asked for bar by bar.

A generator forces the plan tokens at every bar line, so the piece holds the
register, texture and key it is given instead of drifting (see ``MusicGenerator``).
:class:`EventVocab` is the fixed index table of the tokens seen in training,
saved in the checkpoint; tokens it lacks map to the nearest known one.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, NamedTuple

import numpy as np

from ..errors import CheckpointError, GenerationError

START, END = "START", "END"
_TOKEN = re.compile(r"^(START|END|([PDWRTKVH])(\d+))$")
#: Plan token kinds (register, texture, key): written at bar lines, never decoded to notes.
PLAN_KINDS = ("R", "T", "K")
REGISTER_STEP = 3  # semitones per register band
TEXTURE_MAX = 60  # T tokens run from T10 (one note per onset) to T60 (six or more), in halves
HARMONY = "H"  # the bar's chord: written after the plan at bar lines, never decoded to notes
DEFAULT_VELOCITY = 80  # a note's velocity where nothing sets it (a note-list primer, an encoding without V)


#: Pitch classes of the major scale on C (its relative natural minor, A, has the same set).
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
#: Scale tonics in the order a tie is settled: fewest fifths from C first (C, G, F, D, Bb, ...).
_BY_FIFTHS = sorted(range(12), key=lambda k: (min((7 * k) % 12, 12 - (7 * k) % 12), (7 * k) % 12))


def notes_in_scale(pitch_classes, tonic: int) -> int:
    """How many notes (``pitch_classes[c]``: the count of pitch class c) lie in the major scale on ``tonic``."""
    return sum(pitch_classes[(tonic + d) % 12] for d in MAJOR_SCALE)


def plan_tokens(mean_pitch: float, notes: int, onsets: int, pitch_classes) -> list[str]:
    """``[R.., T.., K..]`` for a stretch of music: its notes' mean pitch, its notes per onset, and the
    major scale holding most of its notes (``pitch_classes``: how many notes of each pitch class)."""
    register = REGISTER_STEP * math.floor(mean_pitch / REGISTER_STEP + 0.5)
    texture = min(TEXTURE_MAX, max(10, 5 * math.floor(2 * notes / onsets + 0.5)))
    key = max(_BY_FIFTHS, key=lambda k: notes_in_scale(pitch_classes, k))  # the first best wins
    return [f"R{register}", f"T{texture}", f"K{key}"]


class Note(NamedTuple):
    onset: int  # grid steps from the start of the piece
    pitch: int  # MIDI pitch, 0..127
    duration: int  # grid steps, >= 1
    velocity: int = DEFAULT_VELOCITY  # MIDI velocity, 1..127


#: The 24 triads an ``H`` token names: ``H0``-``H11`` major on C..B, ``H12``-``H23`` minor on C..B (pitch classes).
TRIADS = tuple(frozenset({r % 12, (r + (4 if h < 12 else 3)) % 12, (r + 7) % 12}) for h, r in
               ((h, h % 12) for h in range(24)))


def bar_triad(pitches_weights) -> int:
    """The ``H`` value of the triad holding most of a bar's weight (``(pitch, weight)`` pairs); ties go to the
    triad whose root sounds most, then to the lower ``H`` value."""
    by_class = np.zeros(12)
    for pitch, weight in pitches_weights:
        by_class[pitch % 12] += weight
    return max(range(24), key=lambda h: (sum(by_class[pc] for pc in TRIADS[h]), by_class[h % 12], -h))


def resolve_overlaps(notes: Iterable[Note]) -> list[Note]:
    """Like a piano key struck again: a note ends where the next note of its pitch begins.

    MIDI cannot tell two overlapping notes of one pitch apart, so notes are kept
    in this form everywhere; duplicates at one onset keep the longest.
    """
    longest: dict[tuple[int, int], tuple[int, int]] = {}
    for n in notes:
        if n.duration > longest.get((n.pitch, n.onset), (0, 0))[0]:
            longest[(n.pitch, n.onset)] = (n.duration, n.velocity)
    out = []
    ordered = sorted(longest.items())
    for i, ((pitch, onset), (duration, velocity)) in enumerate(ordered):
        if i + 1 < len(ordered) and ordered[i + 1][0][0] == pitch:
            duration = min(duration, ordered[i + 1][0][1] - onset)
        out.append(Note(onset, pitch, duration, velocity))
    return sorted(out)


def quantize(onset_quarters: float, duration_quarters: float, steps_per_quarter: int) -> tuple[int, int]:
    """Onset and duration in quarter notes -> grid steps (the duration at least one step)."""
    onset = int(round(onset_quarters * steps_per_quarter))
    duration = max(1, int(round(duration_quarters * steps_per_quarter)))
    return onset, duration


@dataclass(frozen=True)
class EventCodec:
    """Encode notes to tokens and decode tokens to notes (see the module docstring)."""

    max_duration: int = 32
    max_wait: int = 16
    bar_steps: int = 0  # 0: no bar lines or plan tokens
    plan_bars: int = 4
    velocity_bins: int = 0  # 0: no velocity tokens (every note decodes at DEFAULT_VELOCITY)
    chord_plan: bool = False  # an H token (the bar's triad) after each bar line's plan

    def __post_init__(self) -> None:
        for name in ("max_duration", "max_wait", "plan_bars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("bar_steps", "velocity_bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be 0 or a positive integer, got {value!r}")
        if self.velocity_bins > 127:
            raise ValueError(f"velocity_bins must be at most 127, got {self.velocity_bins!r}")
        if self.chord_plan and not self.bar_steps:
            raise ValueError("chord_plan needs bar lines (bar_steps)")

    def velocity_of(self, velocity: int) -> int:
        """A MIDI velocity (clamped to 1-127) moved to its bin's centre: the value its ``V`` token carries."""
        return _velocity_centres(self.velocity_bins)[min(127, max(1, int(velocity)))]

    def encode(self, notes: Iterable[Note]) -> list[str]:
        by_onset: dict[int, list[Note]] = {}
        for n in notes:
            if not 0 <= n.pitch <= 127:
                raise ValueError(f"pitch out of MIDI range: {n.pitch!r}")
            by_onset.setdefault(n.onset, []).append(n)
        tokens = [START]
        velocity = DEFAULT_VELOCITY
        onsets = sorted(by_onset)
        plan = self._plans(onsets, by_onset) if self.bar_steps and onsets else {}
        time = onsets[0] - onsets[0] % self.bar_steps if self.bar_steps and onsets else None
        if time is not None:
            tokens += plan.get(time, [])
        for onset in onsets:
            if time is not None:
                tokens += self.advance(time, onset, plan.get)
            time = onset
            groups: dict[int, dict[int, int]] = {}
            for n in by_onset[onset]:
                groups.setdefault(min(max(1, n.duration), self.max_duration), {})[n.pitch] = n.velocity
            for duration in sorted(groups):
                tokens.append(f"D{duration}")
                for p, v in sorted(groups[duration].items()):
                    if self.velocity_bins and (v := self.velocity_of(v)) != velocity:
                        tokens.append(f"V{v}")
                        velocity = v
                    tokens.append(f"P{p}")
        tokens.append(END)
        return tokens

    @staticmethod
    def time_of(tokens: Iterable[str]) -> int:
        """The grid steps a token list covers (the sum of its waits)."""
        return sum(value for kind, value in map(parse_token, tokens) if kind == "W")

    def advance(self, time: int, target: int, plan=None) -> list[str]:
        """Wait tokens from ``time`` to ``target``; with bar lines, split at each one and followed there
        by ``plan(bar_line)`` (a list of plan tokens, or None)."""
        out = []
        while time < target:
            step = min(target - time, self.max_wait)
            if self.bar_steps:
                step = min(step, self.bar_steps - time % self.bar_steps)
            out.append(f"W{step}")
            time += step
            if self.bar_steps and plan is not None and time % self.bar_steps == 0:
                out += plan(time) or []
        return out

    def _plans(self, onsets: list[int], by_onset: dict[int, list[Note]]) -> dict[int, list[str]]:
        """Plan tokens for each bar line from the first note's bar to the last note's (none where the
        coming ``plan_bars`` bars are silent)."""
        starts = np.array(onsets)
        sums = np.array([sum(n.pitch for n in by_onset[o]) for o in onsets])
        classes = np.zeros((len(onsets) + 1, 12), np.int64)  # row i + 1: notes of each pitch class at onset i
        for i, o in enumerate(onsets):
            for n in by_onset[o]:
                classes[i + 1, n.pitch % 12] += 1
        class_cum, pitch_cum = np.cumsum(classes, axis=0), np.concatenate([[0], np.cumsum(sums)])
        note_cum = class_cum.sum(axis=1)
        horizon = self.plan_bars * self.bar_steps
        plan = {}
        for bar in range(onsets[0] - onsets[0] % self.bar_steps, onsets[-1] + 1, self.bar_steps):
            a, b = np.searchsorted(starts, [bar, bar + horizon])
            if b > a:
                notes = int(note_cum[b] - note_cum[a])
                plan[bar] = plan_tokens(float(pitch_cum[b] - pitch_cum[a]) / notes, notes, int(b - a),
                                        class_cum[b] - class_cum[a])
                if self.chord_plan:
                    plan[bar].append(f"H{self._bar_chord(onsets, by_onset, bar)}")
        return plan

    def _bar_chord(self, onsets: list[int], by_onset: dict[int, list[Note]], bar: int) -> int:
        """The bar's triad (:func:`bar_triad`), each note weighted by the part of it sounding in the bar;
        a silent bar takes the chord still sounding, else the next bar's notes."""
        end = bar + self.bar_steps
        a, b, c = bisect_left(onsets, bar - self.max_duration), bisect_left(onsets, end), \
            bisect_left(onsets, end + self.bar_steps)
        sounding = [(n.pitch, min(n.onset + n.duration, end) - max(n.onset, bar)) for o in onsets[a:b]
                    for n in by_onset[o] if n.onset + n.duration > bar]
        if not sounding:
            sounding = [(n.pitch, n.duration) for o in onsets[b:c] for n in by_onset[o]]
        return bar_triad(sounding)

    @staticmethod
    def decode(tokens: Iterable[str], default_duration: int = 4) -> list[Note]:
        """Tokens -> notes. Tolerant of model output: a ``P`` before any ``D`` uses ``default_duration``;
        everything after the first ``END`` that follows a note is ignored."""
        notes: list[Note] = []
        time, duration, velocity = 0, default_duration, DEFAULT_VELOCITY
        for token in tokens:
            kind, value = parse_token(token)
            if kind == "END":
                if notes:
                    break
            elif kind == "START" or kind in PLAN_KINDS or kind == HARMONY:
                continue
            elif kind == "D":
                duration = value
            elif kind == "W":
                time += value
            elif kind == "V":
                velocity = value
            else:
                notes.append(Note(time, value, duration, velocity))
        return notes


@lru_cache(maxsize=None)
def _velocity_centres(bins: int) -> tuple[int, ...]:
    """Index v (1-127) -> the centre (rounded mean) of the bin of ``bins`` equal bins of 1-127 holding v."""
    members: dict[int, list[int]] = {}
    for v in range(1, 128):
        members.setdefault((v - 1) * bins // 127, []).append(v)
    centre = {v: int(round(sum(vs) / len(vs))) for vs in members.values() for v in vs}
    return (0,) + tuple(centre[v] for v in range(1, 128))


def parse_token(token: str) -> tuple[str, int]:
    """``"P60"`` -> ``("P", 60)``; ``"START"`` -> ``("START", 0)``; a malformed token raises ValueError."""
    m = _TOKEN.match(token) if isinstance(token, str) else None
    if not m:
        raise ValueError(f"not a music event token: {token!r}")
    if m.group(2) is None:
        return m.group(1), 0
    kind, value = m.group(2), int(m.group(3))
    if ((kind in "PRV" and value > 127) or (kind == "K" and value > 11) or (kind == "H" and value > 23)
            or (kind in "DWTV" and value < 1)):
        raise ValueError(f"music event out of range: {token!r}")
    return kind, value


class EventVocab:
    """The fixed index table of event tokens, in this order::

        0          START
        1          END
        2 ...      P<p>  every pitch seen in training, ascending
        ...        D<d>  every duration seen, ascending
        ...        W<w>  every wait seen, ascending
        ...        R<r>  every register seen, ascending (models with bar lines only)
        ...        T<t>  every texture seen, ascending (ditto)
        ...        K<k>  every scale seen, ascending (ditto)
        ...        V<v>  every velocity seen, ascending (models with velocity_bins only)
        ... last   H<h>  every bar chord seen, ascending (models with chord_plan only)

    Built from training data (:meth:`from_tokens`) and saved in the checkpoint.
    """

    ORDER = {"START": 0, "END": 1, "P": 2, "D": 3, "W": 4, "R": 5, "T": 6, "K": 7, "V": 8, "H": 9}

    def __init__(self, tokens: Iterable[str]):
        tokens = list(tokens)
        parsed = []
        for t in tokens:
            try:
                parsed.append(parse_token(t))
            except ValueError as exc:
                raise ValueError(f"bad vocabulary entry: {exc}") from None
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"vocabulary has duplicate tokens: {sorted({t for t in tokens if tokens.count(t) > 1})}")
        for needed in (START, END):
            if needed not in tokens:
                raise ValueError(f"vocabulary lacks {needed}")
        for kind in "PDW":
            if not any(k == kind for k, _ in parsed):
                raise ValueError(f"vocabulary has no {kind} tokens")
        expected = sorted(tokens, key=lambda t: (self.ORDER[parse_token(t)[0]], parse_token(t)[1]))
        if tokens != expected:
            raise ValueError("vocabulary tokens are not in index-table order (START, END, P, D, W, R, T, K, V, H "
                             "ascending)")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.values: dict[str, list[int]] = {k: sorted(v for kk, v in parsed if kk == k) for k in "PDWRTKVH"}
        self._kinds = [k for k, _ in parsed]
        self._amounts = np.array([v for _, v in parsed])

    def kind(self, token_id: int) -> str:
        """What token ``token_id`` is: ``START``, ``END``, or one of ``P D W R T K V H`` (see the module table)."""
        return self._kinds[token_id]

    def mask(self, *kinds: str) -> np.ndarray:
        """A boolean array over the vocabulary: True for the tokens of ``kinds`` (e.g. ``mask("P")``: notes)."""
        return np.isin(self._kinds, kinds)

    def amounts(self, kind: str) -> np.ndarray:
        """Each token's number where it is of ``kind`` (``amounts("W")``: the steps each wait advances), else 0."""
        return np.where(self.mask(kind), self._amounts, 0)

    @property
    def has_plan(self) -> bool:
        """True for a model trained with bar lines and plan tokens (see :class:`EventCodec`)."""
        return bool(self.values["R"] and self.values["T"])

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> "EventVocab":
        seen = set(tokens) | {START, END}
        return cls(sorted(seen, key=lambda t: (cls.ORDER[parse_token(t)[0]], parse_token(t)[1])))

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventVocab) and other.tokens == self.tokens

    def nearest(self, token: str) -> list[str]:
        """Known token(s) closest to ``token``: a pitch moves by octaves first, then to the nearest pitch;
        a duration, velocity or plan value to the nearest one; a wait is rebuilt from known waits (so time is
        kept); a plan, chord or velocity token the model has no kind of is dropped."""
        if token in self.index:
            return [token]
        kind, value = parse_token(token)
        known = self.values[kind]
        if kind in PLAN_KINDS or kind in "VH":
            return [f"{kind}{min(known, key=lambda v: (abs(v - value), v))}"] if known else []
        if kind == "P":
            octaves = [p for p in known if (p - value) % 12 == 0]
            pool = octaves or known
            return [f"P{min(pool, key=lambda p: (abs(p - value), p))}"]
        if kind == "D":
            return [f"D{min(known, key=lambda d: (abs(d - value), d))}"]
        out, gap = [], value
        while gap > 0:
            fitting = [w for w in known if w <= gap]
            if not fitting:
                out.append(f"W{known[0]}")
                break
            out.append(f"W{fitting[-1]}")
            gap -= fitting[-1]
        return out

    def encode_lenient(self, tokens: Iterable[str]) -> tuple[list[int], dict[str, list[str]]]:
        """Token ids, replacing unknown tokens by :meth:`nearest`; returns the ids and the replacements."""
        ids: list[int] = []
        replaced: dict[str, list[str]] = {}
        for t in tokens:
            if t in self.index:
                ids.append(self.index[t])
            else:
                sub = replaced.setdefault(t, self.nearest(t))
                ids += [self.index[s] for s in sub]
        return ids, replaced

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"type": "music-events", "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict, source: str = "vocab.json") -> "EventVocab":
        if not isinstance(data, dict) or data.get("type") != "music-events" or not isinstance(data.get("tokens"), list):
            raise CheckpointError(f"{source}: not a music event vocabulary")
        try:
            return cls(data["tokens"])
        except ValueError as exc:
            raise CheckpointError(f"{source}: {exc}") from None


NOTE_NAME = re.compile(r"^([A-Ga-g])(#{1,2}|b{1,2}|♯|♭)?(-1|\d)$")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def parse_note_list(text: str, duration: int = 4) -> list[Note]:
    """A primer like ``"C4 E4 G4 C5"`` (or ``"C4,E4 G4"``: notes joined by ``+`` form a chord,
    e.g. ``"C4+E4+G4 F4"``) -> notes one ``duration`` apart.

    Scientific pitch names: C4 is middle C (MIDI 60), ``#`` sharpens and ``b`` flattens, octaves run
    from -1 (``C-1`` is MIDI 0) to 9 (``G9`` is MIDI 127); anything outside the MIDI range is refused.
    """
    items = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    if not items:
        raise GenerationError("primer note list is empty")
    notes: list[Note] = []
    for i, item in enumerate(items):
        for name in item.split("+"):
            m = NOTE_NAME.match(name)
            if not m:
                raise GenerationError(f"bad note {name!r} in primer (expected names like C4, F#3, Bb5)")
            letter, accidental, octave = m.groups()
            shift = 0 if not accidental else len(accidental) * (1 if accidental[0] in "#♯" else -1)
            midi = (int(octave) + 1) * 12 + _LETTER[letter.upper()] + shift
            if not 0 <= midi <= 127:
                raise GenerationError(f"note {name!r} is outside the MIDI range (C-1 to G9)")
            notes.append(Note(i * duration, midi, duration))
    return notes
