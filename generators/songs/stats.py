"""What makes lyrics a song, measured: rhymes, returning lines, line lengths, words the dictionary knows.

Statistics of a song's lines (the seed's first line excluded, as `evaluate lyrics` scores the lines after it):

* ``rhyme_share``: lines whose last word rhymes with one of the 3 line ends before it (a different word);
* ``repeated_share``: lines that repeat an earlier line of the song (a chorus, a hook), case and spacing aside;
* ``words_per_line``: mean words per line;
* ``unknown_words``: the share of words the CMU dictionary does not know;
* ``syllables_per_line``: mean syllables per line; ``within_syllables``: with a target, lines within one of it;
* ``scheme_share``: with a scheme, the share of line pairs it pairs that rhyme: in a written song, within each section
  as its plan lays the scheme on it (:func:`planned_share`); in a real song, every len(scheme) lines from the
  first (AABB: lines 1-2 and 3-4 of each four, :func:`scheme_share`).

Held-out songs are read from the end of a lyrics file (the part training held out): runs of ``lines`` lines, each
starting where a stanza starts (blank lines between stanzas and songs are skipped).
"""

from __future__ import annotations

import numpy as np

from .rhyme import known, last_word, line_syllables, rhymes, words_of

LOOK_BACK = 3  # a line's end may rhyme with any of this many line ends before it


def song_stats(lines: list[str], target: int | None = None) -> dict[str, float]:
    """The statistics of one song's lines after its first (see the module docstring)."""
    body = lines[1:]
    ends = [last_word(line) for line in lines]
    rhymed = [any(rhymes(ends[i], ends[j]) for j in range(max(0, i - LOOK_BACK), i)) for i in range(1, len(lines))]
    seen = {_norm(lines[0])}
    repeated = []
    for line in body:
        repeated.append(_norm(line) in seen)
        seen.add(_norm(line))
    words = [w for line in body for w in words_of(line)]
    counts = [line_syllables(line) for line in body]
    out = {"lines": len(lines), "rhyme_share": _mean(rhymed), "repeated_share": _mean(repeated),
           "words_per_line": _mean([len(words_of(line)) for line in body]),
           "unknown_words": _mean([not known(w) for w in words]), "syllables_per_line": _mean(counts)}
    if target is not None:
        out["within_syllables"] = _mean([abs(c - target) <= 1 for c in counts])
    return out


def scheme_share(lines: list[str], scheme: str) -> float:
    """The share of the line pairs ``scheme`` pairs (repeated every len(scheme) lines from the first) that rhyme."""
    pairs = []
    for start in range(0, len(lines) - len(scheme) + 1, len(scheme)):
        for i, letter in enumerate(scheme):
            later = [j for j in range(i + 1, len(scheme)) if scheme[j] == letter]
            if later:
                pairs.append(rhymes(last_word(lines[start + i]), last_word(lines[start + later[0]])))
    return _mean(pairs)


def planned_share(lines: list[str], plan) -> float:
    """The share of the pairs a written song's plan asks to rhyme that do: each line written fresh (a returning
    chorus is a copy) against the line before it in its section with the same scheme letter."""
    pairs = []
    for i, line in enumerate(plan.lines):
        partners = plan.rhyme_partners(i)
        if partners and line.repeat_of is None:
            pairs.append(rhymes(last_word(lines[partners[0]]), last_word(lines[i])))
    return _mean(pairs)


def mean_song_stats(songs: list[dict]) -> dict[str, float]:
    keys = songs[0].keys() if songs else ()
    return {k: round(float(np.mean([s[k] for s in songs])), 3) for k in keys}


def held_out_songs(text: str, count: int, lines: int) -> list[list[str]]:
    """Up to ``count`` runs of ``lines`` non-blank lines from ``text``, each starting at a stanza's first line,
    not overlapping."""
    rows = text.split("\n")
    starts = [i for i, row in enumerate(rows) if row.strip() and (i == 0 or not rows[i - 1].strip())]
    songs, used_until = [], -1
    for start in starts:
        if start <= used_until:
            continue
        run = []
        i = start
        while i < len(rows) and len(run) < lines:
            if rows[i].strip():
                run.append(rows[i].strip())
            i += 1
        if len(run) == lines:
            songs.append(run)
            used_until = i
        if len(songs) == count:
            break
    return songs


def _norm(line: str) -> str:
    return " ".join(words_of(line))


def _mean(values) -> float:
    values = list(values)
    return round(float(np.mean(values)), 3) if values else 0.0


def evaluate_songs(gen, text: str, *, songs: int = 20, lines: int = 17, rhyme: str | None = None,
                   form: str | None = None, syllables: int | None = None, temperature: float = 0.5,
                   rng_seed: int = 1) -> dict:
    """Songs of ``lines`` lines written by ``gen`` (a lyrics model), each seeded with the first line of a held-out
    song of ``text``, beside those songs: their statistics (means), and the model time per song."""
    from .form import parse_scheme

    real = held_out_songs(text, songs, lines)
    if not real:
        from ..errors import GenerationError

        raise GenerationError(f"no run of {lines} lines to evaluate on in the held-out text")
    written, seconds = [], []
    for i, song in enumerate(real):
        result = gen.song(song[0], lines=lines, rhyme=rhyme, form=form, syllables=syllables, labels=False,
                          temperature=temperature, rng_seed=rng_seed + i)
        written.append(result)
        seconds.append(result.seconds)
    out = {"songs": len(real), "corpus": mean_song_stats([song_stats(s, syllables) for s in real]),
           "generated": mean_song_stats([song_stats(r.lines, syllables) for r in written]),
           "model_seconds": round(float(np.mean(seconds)), 3), "written": written}
    scheme = parse_scheme(rhyme)
    if scheme:
        out["scheme_share"] = _mean([planned_share(r.lines, r.plan) for r in written])
        out["corpus_scheme_share"] = _mean([scheme_share(s, scheme) for s in real])
    return out
