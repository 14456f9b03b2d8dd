"""Key estimation and the musical statistics that `evaluate music` reports.

Statistics of one piece (a list of :class:`Note`):

* ``pitch_class_entropy``: entropy in bits of the pitch-class histogram
  (0 = one pitch class, log2(12) = 3.58 = all equally often);
* ``scale_consistency``: the largest share of notes that fall in one major
  scale (natural minor scales are the same pitch sets), in [0, 1]; random
  pitches score about 0.6, a C major scale 1.0;
* ``local_scale_consistency``: the same in consecutive windows of
  ``LOCAL_WINDOW`` notes (in onset order), averaged: does the piece stay in
  a key locally, even where it modulates?
* ``quarter_shift``: the largest distance, in semitones, of a quarter's mean
  pitch (the piece cut into four runs of equal note count) from the first
  quarter's: does the piece drift in register?
* ``collapsed``: 1 if a quarter collapses, else 0 (see :func:`collapsed_quarters`);
* ``polyphony``: mean number of notes starting at each onset;
* ``distinct_4gram_share``: distinct 4-grams of onset events over all
  4-grams (an onset event = the notes, durations and gap at one onset); a
  model stuck in a loop scores near 0;
* ``longest_repeat``: the longest run of one identical onset event;
* ``velocity_spread``: the standard deviation of the notes' velocities (0: every note struck alike);
* ``distinct_velocities``: how many different velocities the piece uses;
* ``velocity_out_of_range``: notes at velocity 0 or above 127 (never wanted: 0 is a note-off in MIDI).
"""

from __future__ import annotations

import re

import numpy as np

from .encoder import Note, notes_in_scale
from .form import form_stats

# Krumhansl-Kessler key profiles.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MODES = ("major", "minor")
#: Where a key-normalised piece sits: C major, or A minor (the same pitch set).
NORMAL_TONIC = {"major": 0, "minor": 9}
LOCAL_WINDOW = 48
#: When a quarter of a piece collapses (see :func:`collapsed_quarters`).
THIN_SPREAD, THIN_POLYPHONY = 0.5, 0.75
BASS_LINE = 45  # A2

_KEY = re.compile(r"^\s*([A-Ga-g])\s*(#|b|♯|♭|-?sharp|-?flat|-)?\s*(major|minor|maj|min|m)?\s*$", re.IGNORECASE)
_ACCIDENTAL = {None: 0, "#": 1, "♯": 1, "sharp": 1, "-sharp": 1, "b": -1, "♭": -1, "-": -1, "flat": -1, "-flat": -1}


def pitch_class_histogram(notes: list[Note], weighted: bool = True) -> np.ndarray:
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration if weighted else 1
    return hist


def estimate_key(notes: list[Note]) -> tuple[int, str]:
    """``(tonic pitch class, "major"|"minor")`` by correlation with the Krumhansl-Kessler profiles."""
    hist = pitch_class_histogram(notes)
    if not np.ptp(hist):  # no notes, or every pitch class alike: nothing to correlate (and no NaN warnings)
        return 0, "major"
    best = (-2.0, 0, "major")
    for tonic in range(12):
        for mode, profile in (("major", MAJOR), ("minor", MINOR)):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def format_key(tonic: int, mode: str) -> str:
    return f"{NAMES[tonic % 12]} {mode}"


def parse_key(text: str) -> tuple[int, str]:
    """``"D minor"``, ``"F# major"``, ``"Bb"``, ``"ebm"``, ``"C sharp min"`` -> ``(tonic pitch class, mode)``.

    Without a mode the key is major. Raises ValueError with the text on anything else.
    """
    m = _KEY.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"unknown key {text!r} (expected a name like 'D minor', 'F# major' or 'Bb')")
    letter, accidental, mode = m.groups()
    tonic = (NAMES.index(letter.upper()) + _ACCIDENTAL[accidental.lower() if accidental else None]) % 12
    return tonic, "minor" if mode and mode.lower() in ("minor", "min", "m") else "major"


def tonic_in_mode(key: tuple[int, str], mode: str) -> int:
    """The tonic ``key`` has in ``mode``: its own, or its relative key's where the modes differ (the same scale)."""
    tonic, key_mode = key
    return tonic if key_mode == mode else (tonic + (3 if mode == "major" else -3)) % 12


def shift_between(from_tonic: int, to_tonic: int) -> int:
    """Semitones from one tonic to another the nearer way, in -6..5 (so the register moves least)."""
    return (to_tonic - from_tonic + 6) % 12 - 6


def normalizing_shift(notes: list[Note]) -> tuple[int, str]:
    """``(shift, mode)``: transposing by ``shift`` puts the piece's estimated key at C major or A minor."""
    tonic, mode = estimate_key(notes)
    return shift_between(tonic, NORMAL_TONIC[mode]), mode


def onset_events(notes: list[Note]) -> list[tuple]:
    """One hashable event per onset: (sorted (pitch, duration) pairs, gap to the next onset)."""
    by_onset: dict[int, list[tuple[int, int]]] = {}
    for n in notes:
        by_onset.setdefault(n.onset, []).append((n.pitch, n.duration))
    onsets = sorted(by_onset)
    gaps = [b - a for a, b in zip(onsets, onsets[1:])] + [0]
    return [(tuple(sorted(by_onset[o])), g) for o, g in zip(onsets, gaps)]


def scale_consistency(notes: list[Note]) -> float:
    """The largest share of notes inside one major (or its relative natural minor) scale."""
    if not notes:
        return 0.0
    counts = pitch_class_histogram(notes, weighted=False)
    return float(max(notes_in_scale(counts, tonic) for tonic in range(12)) / counts.sum())


def local_scale_consistency(notes: list[Note], window: int = LOCAL_WINDOW) -> float:
    """:func:`scale_consistency` in consecutive windows of ``window`` notes (onset order), averaged.

    A last window shorter than ``window`` counts only if it is the only one."""
    ordered = sorted(notes)
    chunks = [ordered[i:i + window] for i in range(0, len(ordered), window)]
    full = [c for c in chunks if len(c) == window] or chunks
    return float(np.mean([scale_consistency(c) for c in full])) if full else 0.0


def quarters(notes: list[Note]) -> list[list[Note]]:
    """The piece in onset order, cut into four runs of (nearly) equal note count."""
    ordered = sorted(notes)
    bounds = [round(i * len(ordered) / 4) for i in range(5)]
    return [ordered[a:b] for a, b in zip(bounds, bounds[1:])]


def quarter_shift(notes: list[Note]) -> float:
    """Largest distance (semitones) of a quarter's mean pitch from the first quarter's."""
    means = [float(np.mean([n.pitch for n in q])) for q in quarters(notes) if q]
    return max(abs(m - means[0]) for m in means) if means else 0.0


def collapsed_quarters(notes: list[Note]) -> list[int]:
    """Indices (0-3) of the quarters that collapse.

    *Thin*: the quarter's pitch spread (10th to 90th percentile) is under
    ``THIN_SPREAD`` of the median quarter's and its polyphony (notes per onset)
    under ``THIN_POLYPHONY`` of the median quarter's: a hand, or all but one
    voice, has stopped. *Sunk*: its mean pitch is below ``BASS_LINE``.
    Calibrated on the opening 500 notes of the corpora: 8 of 385 real pieces
    have such a quarter (a one-line introduction, a passage deep in the bass).
    """
    if len(notes) < 16:
        return []
    parts = quarters(notes)
    spreads = [float(np.subtract(*np.percentile([n.pitch for n in q], [90, 10]))) for q in parts]
    poly = [len(q) / len({n.onset for n in q}) for q in parts]
    median_spread, median_poly = float(np.median(spreads)), float(np.median(poly))
    out = []
    for i, q in enumerate(parts):
        thin = spreads[i] < THIN_SPREAD * median_spread and poly[i] < THIN_POLYPHONY * median_poly
        if thin or float(np.mean([n.pitch for n in q])) < BASS_LINE:
            out.append(i)
    return out


def piece_stats(notes: list[Note]) -> dict[str, float]:
    if not notes:
        return {"notes": 0, "pitch_class_entropy": 0.0, "scale_consistency": 0.0, "local_scale_consistency": 0.0,
                "polyphony": 0.0, "quarter_shift": 0.0, "collapsed": 0, "distinct_4gram_share": 0.0,
                "longest_repeat": 0, **form_stats([]), **velocity_stats([])}
    counts = pitch_class_histogram(notes, weighted=False)
    p = counts[counts > 0] / counts.sum()
    entropy = abs(float(-(p * np.log2(p)).sum()))
    events = onset_events(notes)
    grams = [tuple(events[i:i + 4]) for i in range(len(events) - 3)]
    distinct = len(set(grams)) / len(grams) if grams else 1.0
    longest = run = 1
    for a, b in zip(events, events[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
    return {"notes": len(notes), "pitch_class_entropy": round(entropy, 3),
            "scale_consistency": round(scale_consistency(notes), 3),
            "local_scale_consistency": round(local_scale_consistency(notes), 3),
            "polyphony": round(len(notes) / len(events), 3), "quarter_shift": round(quarter_shift(notes), 2),
            "collapsed": int(bool(collapsed_quarters(notes))), "distinct_4gram_share": round(distinct, 3),
            "longest_repeat": longest, **form_stats(notes), **velocity_stats(notes)}


def velocity_stats(notes: list[Note]) -> dict[str, float]:
    """The dynamics of a piece (see the module docstring)."""
    velocities = np.array([n.velocity for n in notes])
    return {"velocity_spread": round(float(velocities.std()), 2) if len(notes) else 0.0,
            "distinct_velocities": len(set(velocities.tolist())),
            "velocity_out_of_range": int(((velocities < 1) | (velocities > 127)).sum())}


def mean_stats(pieces: list[list[Note]]) -> dict[str, float]:
    """Each statistic averaged over pieces (notes and collapsed: totals; longest_repeat: the largest)."""
    rows = [piece_stats(p) for p in pieces if p]
    if not rows:
        return piece_stats([])
    out = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}
    for k in ("notes", "collapsed", "velocity_out_of_range"):
        out[k] = sum(r[k] for r in rows)
    out["longest_repeat"] = max(r["longest_repeat"] for r in rows)
    out["pieces"] = len(rows)
    return out


def transpose(notes: list[Note], shift: int) -> list[Note] | None:
    """Notes moved by ``shift`` semitones, or None if any would leave the MIDI range."""
    moved = [n._replace(pitch=n.pitch + shift) for n in notes]
    return moved if all(0 <= n.pitch <= 127 for n in moved) else None


