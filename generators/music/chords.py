"""A chord progression to follow: chord names parsed, the key they imply, and a processor that keeps each bar's
notes on its chord.

``"C G Am F"`` is one chord per bar, repeated as long as the piece lasts; in a piece with sections, each
section starts the progression anew (:func:`chord_at`), so a returning section comes back over its chords.
:class:`ChordFollower` lowers the logits of every pitch outside the bar's chord by :data:`OUTSIDE_PENALTY`
(passing and neighbour notes stay possible, only rarer), so the model writes its own voicing and figuration
over the given harmony.
:func:`chord_tone_share` measures how much of each bar lies on a chord: the given one, or for a corpus piece
the triad that covers most of the bar.
"""

from __future__ import annotations

import re

import numpy as np

from ..decoding import Processor
from ..errors import GenerationError
from .encoder import EventVocab, Note
from .stats import estimate_key, format_key, tonic_in_mode

#: Logit lowered for a pitch outside the bar's chord (e^-3: about 20 times rarer than it was).
OUTSIDE_PENALTY = 3.0
MAX_CHORDS = 64
_CHORD = re.compile(r"^([A-Ga-g])(#|b|♯|♭)?(maj7|M7|maj|m7b5|m7|m6|min|m|dim7|dim|°|aug|\+|sus2|sus4|add9|7|6|9)?"
                    r"(?:/([A-Ga-g])(#|b|♯|♭)?)?$")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHIFT = {None: 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
#: Intervals above the root, by quality.
QUALITIES = {None: (0, 4, 7), "maj": (0, 4, 7), "m": (0, 3, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10),
             "maj7": (0, 4, 7, 11), "M7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m6": (0, 3, 7, 9), "6": (0, 4, 7, 9),
             "dim": (0, 3, 6), "°": (0, 3, 6), "dim7": (0, 3, 6, 9), "m7b5": (0, 3, 6, 10), "aug": (0, 4, 8),
             "+": (0, 4, 8), "sus2": (0, 2, 7), "sus4": (0, 5, 7), "add9": (0, 2, 4, 7), "9": (0, 2, 4, 7, 10)}


#: Qualities whose third is minor: their triad (an ``H`` token) is the minor one on the root.
MINOR_QUALITIES = {"m", "min", "m7", "m6", "dim", "°", "dim7", "m7b5"}


class Chord(frozenset):
    """A chord's pitch classes, and ``triad``: the ``H`` value (see :data:`~generators.music.encoder.TRIADS`) of
    the major or minor triad on its root (``Am7`` -> A minor, 21; ``Bdim`` -> B minor, 23)."""

    def __new__(cls, tones, triad: int):
        chord = super().__new__(cls, tones)
        chord.triad = triad
        return chord

    def moved(self, shift: int) -> "Chord":
        """The chord ``shift`` semitones away."""
        return Chord({(pc + shift) % 12 for pc in self}, (self.triad + shift) % 12 + 12 * (self.triad >= 12))


def parse_chord(name: str) -> Chord:
    """``"Am"`` -> its pitch classes ({9, 0, 4}); a slash bass (``"Bb/D"``) joins them. Unknown: one-line error."""
    m = _CHORD.match(name.strip())
    if not m:
        raise GenerationError(f"unknown chord {name!r} (expected names like C, Am, G7, Dm7, Cmaj7, F#m, Bbdim, "
                              "Bb/D)")
    letter, accidental, quality, bass, bass_accidental = m.groups()
    root = (_LETTER[letter.upper()] + _SHIFT[accidental]) % 12
    pcs = {(root + i) % 12 for i in QUALITIES[quality]}
    if bass:
        pcs.add((_LETTER[bass.upper()] + _SHIFT[bass_accidental]) % 12)
    return Chord(pcs, root + 12 * (quality in MINOR_QUALITIES))


def parse_progression(text: str | None) -> list[Chord] | None:
    """``"C G Am F"`` (spaces, commas or bars ``|`` between chords) -> one pitch-class set per bar; None: none."""
    if text is None or not str(text).strip():
        return None
    names = [n for n in re.split(r"[\s,|]+", str(text).strip()) if n]
    if len(names) > MAX_CHORDS:
        raise GenerationError(f"a progression has at most {MAX_CHORDS} chords, got {len(names)}")
    return [parse_chord(n) for n in names]


def implied_key(chords: list[frozenset[int]] | None) -> tuple[int, str] | None:
    """The key a progression implies: the one whose Krumhansl-Kessler profile fits its chords' tones (each chord
    once) best (C major and A minor share a scale, so either composes the same notes); None without chords."""
    if not chords:
        return None
    notes = [Note(i, 60 + pc, 1) for i, chord in enumerate(chords) for pc in sorted(chord)]
    return estimate_key(notes)


#: Share of a progression's chord tones that must lie in a key given beside it (its scale, with a minor key's
#: raised seventh): a borrowed or secondary-dominant chord passes, a progression in another key does not.
KEY_FIT = 0.75


def check_fits_key(chords: list[Chord] | None, key: tuple[int, str] | None, chords_text: str) -> list[Chord] | None:
    """``chords``, once a key given beside them is found to be theirs; else a one-line error (the chords sound as
    written, so the piece would be in their key under another key's name)."""
    if not chords or key is None:
        return chords
    tonic = tonic_in_mode(key, "major")
    scale = {(tonic + step) % 12 for step in (0, 2, 4, 5, 7, 9, 11)} | {(tonic + 8) % 12}  # (+ minor's leading tone)
    tones = [pc for chord in chords for pc in chord]
    if sum(pc in scale for pc in tones) < KEY_FIT * len(tones):
        theirs = implied_key(chords)
        raise GenerationError(f"the chords {' '.join(describe(chords_text).split()[1:])} are in "
                              f"{format_key(*theirs)}, not {format_key(*key)}: leave the key out (the chords set it), "
                              f"or write the chords in {format_key(*key)}")
    return chords


def in_composed_frame(chords: list[Chord], composed: tuple[int, str] | None,
                      target: tuple[int, str] | None) -> list[Chord]:
    """The chords moved to the key the model composes in (``composed``), from the key the output is moved to
    (``target``, or its relative key when the modes differ, as the generator moves it), so they sound as written."""
    if composed is None:
        raise GenerationError("chords need a model that composes in one key (augment=normalize); this one uses "
                              "absolute pitches")
    tonic, mode = composed
    shift = tonic_in_mode(target or composed, mode) - tonic
    return [chord.moved(-shift) for chord in chords]


def describe(chords_text: str) -> str:
    return "chords " + " ".join(n for n in re.split(r"[\s,|]+", chords_text.strip()) if n)


def chord_at(bar: int, count: int, section_bars: int | None = None) -> int:
    """Which of ``count`` chords bar ``bar`` (from the piece's first) takes: the progression repeats, and starts
    anew at each section of ``section_bars`` bars (where it does not divide the section, a returning section
    still has the chords its first time had)."""
    return (bar % section_bars if section_bars else bar) % count


def bar_chords(vocab: EventVocab, chords: list[Chord], bar_steps: int, start: int, section_bars: int | None = None):
    """For :class:`~generators.music.constraints.BarClock`: a bar line's step -> the ``H`` token of its chord
    (``chords`` from ``start``, see :func:`chord_at`), or None where the model has no such token."""
    ids = [vocab.index.get(f"H{chord.triad}") for chord in chords]
    return lambda step: ids[chord_at(max(0, step - start) // bar_steps, len(ids), section_bars)]


class ChordFollower(Processor):
    """Each bar's notes on its chord: pitches outside it lose :data:`OUTSIDE_PENALTY` of logit. ``chords`` are
    pitch-class sets in the frame the model composes in; bars count from ``start`` (a bar line's step), each
    taking its chord by :func:`chord_at`."""

    def __init__(self, vocab: EventVocab, chords: list[frozenset[int]], bar_steps: int, start: int,
                 section_bars: int | None = None):
        self.waits = vocab.amounts("W")
        notes = vocab.mask("P")
        pitch_class = vocab.amounts("P") % 12
        self.outside = [notes & ~np.isin(pitch_class, sorted(chord)) for chord in chords]
        self.bar, self.time, self.start, self.section_bars = bar_steps, start, start, section_bars

    def process(self, logits: np.ndarray) -> np.ndarray:
        bar = max(0, self.time - self.start) // self.bar
        logits[self.outside[chord_at(bar, len(self.outside), self.section_bars)]] -= OUTSIDE_PENALTY
        return logits

    def observe(self, token: int) -> None:
        self.time += int(self.waits[token])


TRIADS = [frozenset({r, (r + third) % 12, (r + 7) % 12}) for r in range(12) for third in (3, 4)]


def _on_chord(notes: list[Note], chords: list[frozenset[int]] | None, bar_steps: int,
              section_bars: int | None = None) -> list[tuple[int, int]]:
    """``(notes on the chord, notes)`` for each bar that has notes: ``chords`` (see :func:`chord_at`), or, without
    them, the major or minor triad that covers most of the bar (what a corpus piece's own harmony scores)."""
    by_bar: dict[int, list[int]] = {}
    for n in notes:
        by_bar.setdefault(n.onset // bar_steps, []).append(n.pitch % 12)
    counts = []
    for bar, pcs in sorted(by_bar.items()):
        candidates = [chords[chord_at(bar, len(chords), section_bars)]] if chords else TRIADS
        counts.append((max(sum(pc in c for pc in pcs) for c in candidates), len(pcs)))
    return counts


def chord_tone_shares(notes: list[Note], chords: list[frozenset[int]] | None = None,
                      bar_steps: int = 16, section_bars: int | None = None) -> list[float]:
    """Each bar's share of notes on its chord (see :func:`_on_chord`)."""
    return [on / total for on, total in _on_chord(notes, chords, bar_steps, section_bars)]


def chord_tone_share(notes: list[Note], chords: list[frozenset[int]] | None = None, bar_steps: int = 16) -> float:
    """The share of all notes that lie on their bar's chord (see :func:`_on_chord`)."""
    counts = _on_chord(notes, chords, bar_steps)
    total = sum(t for _, t in counts)
    return round(sum(on for on, _ in counts) / total, 3) if total else 0.0
