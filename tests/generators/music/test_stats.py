import pytest

from generators.music.encoder import Note
from generators.music.stats import (collapsed_quarters, estimate_key, format_key, local_scale_consistency,
                                    mean_stats, normalizing_shift, parse_key, piece_stats, quarter_shift,
                                    scale_consistency, shift_between, transpose)

from .conftest import make_piece

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def line(pitches, step=2):
    return [Note(i * step, p, step) for i, p in enumerate(pitches)]


def two_hands(bars: int, left_until: int | None = None):
    """A right-hand melody over left-hand chords; the left hand stops after bar ``left_until``."""
    notes = []
    for bar in range(bars):
        t = bar * 16
        if left_until is None or bar < left_until:
            notes += [Note(t, 48, 8), Note(t, 52, 8), Note(t + 8, 43, 8), Note(t + 8, 50, 8)]
        notes += [Note(t + 2 * i, C_MAJOR[(bar + i) % 8] + 12, 2) for i in range(8)]
    return notes


def test_a_major_scale_scores_one_and_a_chromatic_run_what_it_should():
    assert scale_consistency(line(C_MAJOR)) == 1.0
    assert piece_stats(line(C_MAJOR * 10))["local_scale_consistency"] == 1.0
    chromatic = line(range(60, 72))
    assert scale_consistency(chromatic) == pytest.approx(7 / 12)  # any major scale holds 7 of the 12
    assert piece_stats(chromatic)["pitch_class_entropy"] == pytest.approx(3.585, abs=1e-3)  # log2(12)


def test_local_consistency_sees_a_modulation_the_whole_piece_hides():
    c = line(C_MAJOR * 6)[:48]
    f_sharp = transpose(c, 6)
    piece = c + [n._replace(onset=n.onset + 96) for n in f_sharp]
    assert local_scale_consistency(piece) == 1.0  # each 48-note window is in one key
    assert scale_consistency(piece) < 0.75  # the whole is in none


def test_a_piece_whose_left_hand_stops_is_flagged_as_collapsed():
    assert collapsed_quarters(two_hands(16)) == []
    assert collapsed_quarters(two_hands(16, left_until=11)) == [3]
    assert piece_stats(two_hands(16, left_until=11))["collapsed"] == 1
    sunk = two_hands(12) + [Note(192 + 2 * i, 36 + i % 5, 2) for i in range(60)]
    assert 3 in collapsed_quarters(sunk)  # everything in the bass


def test_quarter_shift_measures_register_drift():
    notes = line([60] * 40 + [72] * 40)
    assert quarter_shift(notes) == 12
    assert quarter_shift(line([60, 64] * 40)) == 0


def test_mean_stats_counts_collapsed_pieces_and_keeps_the_longest_repeat():
    stats = mean_stats([two_hands(16), two_hands(16, left_until=11), line([60] * 30)])
    assert stats["pieces"] == 3 and stats["collapsed"] == 1
    assert stats["longest_repeat"] == 29  # the 30th onset has no gap after it, so it differs


@pytest.mark.parametrize("text, key", [
    ("D minor", (2, "minor")), ("F# major", (6, "major")), ("Bb", (10, "major")), ("ebm", (3, "minor")),
    ("C sharp min", (1, "minor")), ("E-flat major", (3, "major")), ("a", (9, "major")), ("Am", (9, "minor")),
])
def test_parse_key(text, key):
    assert parse_key(text) == key


@pytest.mark.parametrize("bad", ["H", "C## major", "D dorian", "", "12"])
def test_parse_key_names_the_bad_value(bad):
    with pytest.raises(ValueError, match="unknown key"):
        parse_key(bad)


def test_normalizing_moves_a_piece_to_c_major_the_nearer_way():
    piece = make_piece(3, tonic=62)  # D major
    assert estimate_key(piece) == (2, "major")
    shift, mode = normalizing_shift(piece)
    assert (shift, mode) == (-2, "major")
    assert estimate_key(transpose(piece, shift)) == (0, "major")
    assert shift_between(0, 11) == -1 and shift_between(0, 6) == -6 and shift_between(0, 5) == 5
    assert format_key(10, "minor") == "Bb minor"


@pytest.mark.parametrize("primer", ["C4", "C4 C5 C4", "C4 C#4 D4 D#4 E4 F4 F#4 G4 G#4 A4 A#4 B4"])
def test_one_or_twelve_pitch_classes_give_a_key_without_warnings(primer):
    import warnings

    from generators.music.encoder import parse_note_list

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tonic, mode = estimate_key(parse_note_list(primer))
    assert 0 <= tonic < 12 and mode in ("major", "minor")
