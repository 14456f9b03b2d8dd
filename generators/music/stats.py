"""Key estimation and the musical statistics that `evaluate music` reports.

Statistics of one piece (a list of :class:`Note`):

* ``pitch_class_entropy``: entropy in bits of the pitch-class histogram
  (0 = one pitch class, log2(12) = 3.58 = all equally often);
* ``scale_consistency``: the largest share of notes that fall in one major
  scale (natural minor scales are the same pitch sets), in [0, 1];
* ``polyphony``: mean number of notes starting at each onset;
* ``distinct_4gram_share``: distinct 4-grams of onset events over all
  4-grams (an onset event = the notes, durations and gap at one onset); a
  model stuck in a loop scores near 0;
* ``longest_repeat``: the longest run of one identical onset event.
"""

from __future__ import annotations


import numpy as np

from .encoder import Note

# Krumhansl-Kessler key profiles.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ["C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B"]
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


def pitch_class_histogram(notes: list[Note], weighted: bool = True) -> np.ndarray:
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration if weighted else 1
    return hist


def estimate_key(notes: list[Note]) -> tuple[int, str]:
    """``(tonic pitch class, "major"|"minor")`` by correlation with the Krumhansl-Kessler profiles."""
    hist = pitch_class_histogram(notes)
    if not hist.any():
        return 0, "major"
    best = (-2.0, 0, "major")
    for tonic in range(12):
        for mode, profile in (("major", MAJOR), ("minor", MINOR)):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def key_name(notes: list[Note]) -> str:
    tonic, mode = estimate_key(notes)
    return f"{NAMES[tonic]} {mode}"


def onset_events(notes: list[Note]) -> list[tuple]:
    """One hashable event per onset: (sorted (pitch, duration) pairs, gap to the next onset)."""
    by_onset: dict[int, list[tuple[int, int]]] = {}
    for n in notes:
        by_onset.setdefault(n.onset, []).append((n.pitch, n.duration))
    onsets = sorted(by_onset)
    gaps = [b - a for a, b in zip(onsets, onsets[1:])] + [0]
    return [(tuple(sorted(by_onset[o])), g) for o, g in zip(onsets, gaps)]


def piece_stats(notes: list[Note]) -> dict[str, float]:
    if not notes:
        return {"notes": 0, "pitch_class_entropy": 0.0, "scale_consistency": 0.0, "polyphony": 0.0,
                "distinct_4gram_share": 0.0, "longest_repeat": 0}
    counts = pitch_class_histogram(notes, weighted=False)
    p = counts[counts > 0] / counts.sum()
    entropy = abs(float(-(p * np.log2(p)).sum()))
    consistency = max(sum(counts[(tonic + d) % 12] for d in MAJOR_SCALE) for tonic in range(12)) / counts.sum()
    events = onset_events(notes)
    grams = [tuple(events[i:i + 4]) for i in range(len(events) - 3)]
    distinct = len(set(grams)) / len(grams) if grams else 1.0
    longest = run = 1
    for a, b in zip(events, events[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
    return {"notes": len(notes), "pitch_class_entropy": round(entropy, 3), "scale_consistency": round(float(consistency), 3),
            "polyphony": round(len(notes) / len(events), 3), "distinct_4gram_share": round(distinct, 3),
            "longest_repeat": longest}


def mean_stats(pieces: list[list[Note]]) -> dict[str, float]:
    """Each statistic averaged over pieces (notes: the total)."""
    rows = [piece_stats(p) for p in pieces if p]
    if not rows:
        return piece_stats([])
    out = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0] if k != "notes"}
    out["notes"] = sum(r["notes"] for r in rows)
    out["pieces"] = len(rows)
    return out


def transpose(notes: list[Note], shift: int) -> list[Note] | None:
    """Notes moved by ``shift`` semitones, or None if any would leave the MIDI range."""
    moved = [n._replace(pitch=n.pitch + shift) for n in notes]
    return moved if all(0 <= n.pitch <= 127 for n in moved) else None


