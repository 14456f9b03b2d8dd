"""Musical form: sections parsed and refused in one line; a returning section comes back; lengths and statistics."""

from __future__ import annotations

import pytest

from generators.errors import GenerationError
from generators.music.chords import chord_tone_shares, parse_progression
from generators.music.encoder import Note
from generators.music.form import MAX_SECTIONS, bar_similarity, bars_of, form_stats, parse_form


@pytest.mark.parametrize("text, letters", [("aaba", "AABA"), ("ABACA", "ABACA"), (" AB ", "AB"), ("through", None),
                                           ("none", None), (None, "auto"), ("auto", "auto")])
def test_forms_are_parsed(text, letters):
    assert parse_form(text) == letters


@pytest.mark.parametrize("text, fragment", [("AXQ9", "section letters"), ("", "section letters"),
                                            ("A" * 40, f"at most {MAX_SECTIONS} sections"),
                                            ("ACAB", "in the order they first come"), ("BA", "in the order")])
def test_malformed_forms_are_refused_in_one_line(text, fragment):
    with pytest.raises(GenerationError, match=fragment) as err:
        parse_form(text)
    assert "\n" not in str(err.value)


def test_form_statistics_see_what_comes_back():
    bar = [Note(0, 60, 4), Note(4, 64, 4), Note(8, 67, 4)]
    other = [Note(0, 62, 4), Note(8, 65, 4)]
    piece = [n._replace(onset=n.onset + 16 * i) for i, b in enumerate([bar, other, bar, other]) for n in b]
    stats = form_stats(piece)
    assert stats["bar_exact_repeats"] == pytest.approx(2 / 3, abs=1e-3) and stats["bar_best_earlier"] == pytest.approx(2 / 3, abs=1e-3)
    assert bar_similarity(bars_of(piece)[0], bars_of(piece)[1]) == 0.0 and form_stats(bar)["bar_sim_8"] == 0.0


def test_a_returning_section_comes_back(music_planned):
    gen = music_planned
    piece = gen.generate(form="AABA", section_bars=4, rng_seed=3)
    assert piece.bars == 16 and "form AABA (4-bar sections)" in piece.summary() and piece.sections == ("AABA", 4)
    bars = bars_of(piece.notes)
    bars += [set()] * (16 - len(bars))
    for first, again in ((0, 4), (0, 12)):  # the first 3 bars of each A are replayed; the 4th closes afresh
        assert all(bars[first + i] == bars[again + i] for i in range(3)), (first, again)
    assert max(n.onset for n in piece.notes) < 16 * 16


@pytest.mark.parametrize("chords", ["C G Am F", "C G Am"])
def test_a_section_returns_over_a_progression(music_planned, chords):
    """With chords (a bar chord forced at each bar line, in step with the section's or not), A still returns."""
    piece = music_planned.generate(form="ABA", section_bars=4, chords=chords, rng_seed=5)
    bars = bars_of(piece.notes)
    bars += [set()] * (12 - len(bars))
    assert all(bars[i] == bars[8 + i] for i in range(3))
    # The progression starts anew with each section, so the returning A is over the chords it had.
    shares = chord_tone_shares(piece.notes, parse_progression(chords), section_bars=4)
    assert sum(shares) / len(shares) >= 0.7


def test_each_section_starts_the_progression_anew():
    from generators.music.chords import chord_at

    assert [chord_at(bar, 3) for bar in range(8)] == [0, 1, 2, 0, 1, 2, 0, 1]
    assert [chord_at(bar, 3, section_bars=4) for bar in range(8)] == [0, 1, 2, 0, 0, 1, 2, 0]
    assert [chord_at(bar, 4, section_bars=8) for bar in range(16)] == [b % 4 for b in range(16)]


def test_form_lengths_and_refusals(music_planned, music_trained):
    gen = music_planned
    assert gen.generate(form="AB", bars=6, rng_seed=1).sections == ("AB", 3)
    with pytest.raises(GenerationError, match="do not divide"):
        gen.generate(form="AB", bars=7)
    with pytest.raises(GenerationError, match="sets the length in bars"):
        gen.generate(100, form="AABA")
    with pytest.raises(GenerationError, match="no bar lines"):
        music_trained[0].generate(form="AABA", section_bars=2)
    assert gen.generate(bars=16, rng_seed=2).form.startswith("form ")  # auto: a form drawn to fit 16 bars or more
    assert gen.generate(bars=8, rng_seed=2).form == "" and gen.generate(bars=16, form="through", rng_seed=2).form == ""


@pytest.mark.parametrize("text, pcs, triad", [("C", {0, 4, 7}, 0), ("Am", {9, 0, 4}, 21), ("G7", {7, 11, 2, 5}, 7),
                                              ("Dm7", {2, 5, 9, 0}, 14), ("Cmaj7", {0, 4, 7, 11}, 0),
                                              ("F#m", {6, 9, 1}, 18), ("Bb/D", {10, 2, 5}, 10),
                                              ("Bdim", {11, 2, 5}, 23), ("Am7", {9, 0, 4, 7}, 21)])
def test_chords_are_parsed(text, pcs, triad):
    from generators.music.chords import parse_chord
    from generators.music.encoder import TRIADS

    chord = parse_chord(text)
    assert chord == frozenset(pcs) and chord.triad == triad  # the H token of the triad on its root
    assert TRIADS[triad] <= chord | {(min(chord.triad % 12, 11) + 7) % 12}  # (Bdim's B minor lacks its F#)
    assert chord.moved(2).triad == (triad + 2) % 12 + 12 * (triad >= 12) and chord.moved(12) == chord


@pytest.mark.parametrize("text", ["H", "Cx", "C G Zm", "Am/Q"])
def test_unknown_chords_are_refused_in_one_line(text):
    from generators.music.chords import parse_progression

    with pytest.raises(GenerationError, match="unknown chord") as err:
        parse_progression(text)
    assert "\n" not in str(err.value)


def test_chord_bars_hold_their_chord_tones(music_planned):
    from generators.music.chords import chord_tone_shares, implied_key, parse_progression

    progression = parse_progression("C G Am F")
    assert implied_key(progression) == (0, "major")
    piece = music_planned.generate(bars=8, chords="C G Am F", rng_seed=4)
    assert "chords C G Am F" in piece.summary() and piece.key == "C major"
    shares = chord_tone_shares(piece.notes, progression)
    assert sum(shares) / len(shares) >= 0.7
    with pytest.raises(GenerationError, match="takes no chords"):
        music_planned.continue_piece(piece.notes, 10, chords="C")
