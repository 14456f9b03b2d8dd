import pytest

from generators.errors import CheckpointError, GenerationError
from generators.music.encoder import END, START, EventCodec, EventVocab, Note, parse_note_list, parse_token
from generators.music.midi_io import midi_bytes_to_notes, notes_to_midi_bytes

# Notes, chords (same and mixed durations), rests and varied durations.
PIECE = [
    Note(0, 48, 8), Note(0, 60, 4), Note(0, 64, 4), Note(0, 67, 4),  # chord over a longer bass note
    Note(6, 76, 2),  # after an eighth's rest
    Note(8, 72, 3), Note(11, 71, 1), Note(12, 69, 12),
    Note(40, 55, 1), Note(40, 59, 1),  # after a long rest (wait > max_wait)
]


def test_encode_shape_and_markers():
    tokens = EventCodec().encode(PIECE)
    assert tokens[0] == START and tokens[-1] == END
    assert sum(t.startswith("P") for t in tokens) == len(PIECE)
    assert tokens[:6] == ["START", "D4", "P60", "P64", "P67", "D8"]


def test_codec_round_trip():
    codec = EventCodec()
    assert sorted(codec.decode(codec.encode(PIECE))) == sorted(PIECE)


def test_midi_round_trip_keeps_onsets_pitches_durations():
    data = notes_to_midi_bytes(PIECE, tempo=96, program=0)
    assert data[:4] == b"MThd"
    parsed = midi_bytes_to_notes(data)
    assert sorted(parsed) == sorted(PIECE)
    decoded = EventCodec().decode(EventCodec().encode(parsed))
    assert sorted(midi_bytes_to_notes(notes_to_midi_bytes(decoded))) == sorted(PIECE)


def test_overlapping_notes_of_one_pitch_are_cut_like_a_restruck_key():
    from generators.music.encoder import resolve_overlaps

    notes = [Note(0, 60, 8), Note(4, 60, 2), Note(4, 60, 1), Note(0, 64, 2)]
    assert resolve_overlaps(notes) == [Note(0, 60, 4), Note(0, 64, 2), Note(4, 60, 2)]
    assert midi_bytes_to_notes(notes_to_midi_bytes(notes)) == resolve_overlaps(notes)


def test_durations_are_capped():
    codec = EventCodec(max_duration=8)
    assert codec.decode(codec.encode([Note(0, 60, 20)])) == [Note(0, 60, 8)]


def test_vocab_index_table_and_round_trip():
    vocab = EventVocab.from_tokens(EventCodec().encode(PIECE))
    assert vocab.tokens[:2] == [START, END]
    kinds = [parse_token(t)[0] for t in vocab.tokens[2:]]
    assert kinds == sorted(kinds, key="PDW".index)
    assert EventVocab.from_dict(vocab.to_dict()) == vocab


def test_unknown_events_map_to_nearest_and_are_reported():
    vocab = EventVocab.from_tokens(EventCodec().encode(PIECE))
    ids, replaced = vocab.encode_lenient(["START", "P84", "P61", "D5", "W40", "END"])
    assert replaced["P84"] == ["P72"]  # an octave away first
    assert replaced["P61"] == ["P60"]  # else the nearest pitch
    assert replaced["D5"] == ["D4"]
    waits = [parse_token(t)[1] for t in replaced["W40"]]
    assert sum(waits) == 40  # time is kept
    assert all(0 <= i < len(vocab) for i in ids)


@pytest.mark.parametrize("bad", [["P60", "START", "END", "D1", "W1"], ["START", "END", "P999", "D1", "W1"],
                                 ["START", "END", "D1", "W1"], ["START", "END", "X", "D1", "W1"]])
def test_invalid_vocab_names_the_problem(bad):
    with pytest.raises(ValueError):
        EventVocab(bad)
    with pytest.raises(CheckpointError, match="vocab.json"):
        EventVocab.from_dict({"type": "music-events", "tokens": bad})


def test_decode_tolerates_model_output():
    notes = EventCodec.decode(["P60", "W2", "D2", "P62", "END", "P70"])
    assert notes == [Note(0, 60, 4), Note(2, 62, 2)]


def test_note_list_primer():
    assert parse_note_list("C4 E4 G4 C5") == [Note(0, 60, 4), Note(4, 64, 4), Note(8, 67, 4), Note(12, 72, 4)]
    assert parse_note_list("F#3+Bb3") == [Note(0, 54, 4), Note(0, 58, 4)]
    assert [n.pitch for n in parse_note_list("C-1 G9 Cb4 B#3 Ebb4")] == [0, 127, 59, 60, 62]  # C-1 is MIDI 0
    for bad in ("", "H4", "C4 zz", "C99", "E-4"):
        with pytest.raises(GenerationError, match="bad note|empty"):
            parse_note_list(bad)
    for out_of_range in ("A9", "G#9", "Cb-1"):  # refused, never folded into range
        with pytest.raises(GenerationError, match=f"note '{out_of_range}' is outside the MIDI range"):
            parse_note_list(out_of_range)


# -- bar lines and plans -----------------------------------------------------

def _times(tokens):
    """(time, token) for each token: the time reached before it."""
    time, out = 0, []
    for t in tokens:
        out.append((time, t))
        if t.startswith("W"):
            time += parse_token(t)[1]
    return out


def test_bar_lines_split_waits_and_carry_the_plan():
    codec = EventCodec(bar_steps=16, plan_bars=1)
    tokens = codec.encode(PIECE)
    # Bar 0 holds 8 notes on 5 onsets, mean pitch 65.9: R66 (3-semitone bands), T15 (1.6 rounds to 1.5);
    # C E G B A fit C and G major alike, and a tie goes to the scale nearer C on the circle of fifths: K0.
    assert tokens[:5] == ["START", "R66", "T15", "K0", "D4"]
    # The gap from 12 to 40 is split at 16 and 32; bar 1 (16-31) is silent, so it has no plan.
    assert tokens[-10:] == ["W4", "W16", "R57", "T20", "K0", "W8", "D1", "P55", "P59", "END"]
    for time, t in _times(tokens):
        if t.startswith("W"):
            assert time % 16 + parse_token(t)[1] <= 16  # never across a bar line
        if t.startswith("R"):
            assert time % 16 == 0
    assert sorted(codec.decode(tokens)) == sorted(PIECE)  # plans are not notes


def test_plan_covers_the_coming_bars_and_time_starts_at_the_first_notes_bar():
    late = [n._replace(onset=n.onset + 37) for n in PIECE]  # the first note in the third bar, at step 5
    codec = EventCodec(bar_steps=16, plan_bars=4)
    tokens = codec.encode(late)
    assert tokens[1:5] == ["R63", "T15", "K0", "W5"]  # all ten notes (mean 64.1) on 6 onsets lie in the 4 bars from 32
    assert tokens[tokens.index("W3") + 1:][:3] == ["R63", "T15", "K0"]  # the bar line at 48: the last 4 notes on 3 onsets
    decoded = codec.decode(tokens)
    assert sorted(decoded) == sorted(n._replace(onset=n.onset - 32) for n in late)  # moved by whole bars


def test_plan_tokens_round_half_up_and_cap():
    from generators.music.encoder import plan_tokens

    c_major = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]
    assert plan_tokens(61.5, 5, 2, c_major) == ["R63", "T25", "K0"]
    assert plan_tokens(61.4, 1, 1, c_major) == ["R60", "T10", "K0"]
    assert plan_tokens(40.0, 90, 10, c_major) == ["R39", "T60", "K0"]


def _classes(*names: str) -> list[int]:
    counts = [0] * 12
    for name in names:
        counts[["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"].index(name)] += 1
    return counts


@pytest.mark.parametrize("classes, key", [
    (_classes("C", "E", "G"), "K0"),  # in C, G and F major: the tie goes to C
    (_classes("G", "B", "D", "F#"), "K7"),  # G and D major: G is nearer C
    (_classes("D", "F", "A", "A#"), "K5"),  # F major (D minor)
    (_classes("E", "G#", "B", "F#", "C#", "D#"), "K4"),  # E major
    (_classes("A", "C", "E", "G#", "B", "D"), "K0"),  # A harmonic minor: C major holds five of six
])
def test_plan_key_is_the_scale_holding_most_notes(classes, key):
    from generators.music.encoder import plan_tokens

    assert plan_tokens(60.0, sum(classes), 1, classes)[2] == key


def test_vocab_with_plans_orders_and_maps_them():
    tokens = EventCodec(bar_steps=16, plan_bars=1).encode(PIECE)
    vocab = EventVocab.from_tokens(tokens)
    assert vocab.has_plan and vocab.tokens[-5:] == ["R57", "R66", "T15", "T20", "K0"]
    assert vocab.nearest("R70") == ["R66"] and vocab.nearest("T40") == ["T20"] and vocab.nearest("K2") == ["K0"]
    plain = EventVocab.from_tokens(EventCodec().encode(PIECE))
    assert not plain.has_plan and plain.nearest("R60") == [] and plain.nearest("T20") == [] and plain.nearest("K0") == []
    with pytest.raises(ValueError, match="out of range"):
        parse_token("K12")
    with pytest.raises(ValueError, match="order"):
        EventVocab(["START", "END", "P60", "D4", "W4", "T20", "R60"])


@pytest.mark.parametrize("kwargs, fragment", [({"bar_steps": -16}, "bar_steps"), ({"plan_bars": 0}, "plan_bars")])
def test_codec_refuses_bad_bar_settings(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        EventCodec(**kwargs)


DYNAMIC = [Note(0, 48, 8, 40), Note(0, 60, 4, 90), Note(0, 64, 4, 91), Note(4, 67, 4, 1), Note(8, 72, 8, 127),
           Note(8, 76, 8, 64), Note(16, 72, 16, 64)]


@pytest.mark.parametrize("bins", [8, 32, 127])
def test_velocity_round_trip_keeps_velocities_within_a_bin(bins):
    codec = EventCodec(velocity_bins=bins)
    tokens = codec.encode(DYNAMIC)
    assert all(1 <= parse_token(t)[1] <= 127 for t in tokens if t[0] == "V")
    back = midi_bytes_to_notes(notes_to_midi_bytes(codec.decode(codec.encode(midi_bytes_to_notes(
        notes_to_midi_bytes(DYNAMIC))))))
    assert [n[:3] for n in back] == [n[:3] for n in sorted(DYNAMIC)]
    width = 127 / bins
    for before, after in zip(sorted(DYNAMIC), back):
        assert abs(before.velocity - after.velocity) <= width / 2 + 0.5, (before, after)
    if bins == 127:
        assert back == sorted(DYNAMIC)  # a bin per velocity: exact


def test_velocity_tokens_come_only_where_the_loudness_changes():
    tokens = EventCodec(velocity_bins=32).encode(DYNAMIC)
    assert tokens[:8] == ["START", "D4", "V90", "P60", "P64", "D8", "V38", "P48"]  # 90 and 91 share a bin
    assert sum(t[0] == "V" for t in tokens) == 5
    assert EventCodec(velocity_bins=32).encode([Note(0, 60, 4)]) == ["START", "D4", "V78", "P60", "END"]
    assert EventCodec().encode(DYNAMIC) == [t for t in tokens if t[0] != "V"]  # no bins: no V tokens
    assert all(n.velocity == 80 for n in EventCodec.decode(EventCodec().encode(DYNAMIC)))
    with pytest.raises(ValueError, match="velocity_bins"):
        EventCodec(velocity_bins=128)
    for bad in ("V0", "V128", "H24"):
        with pytest.raises(ValueError, match="out of range"):
            parse_token(bad)


def test_bar_chords_name_each_bar_s_triad():
    from generators.music.encoder import TRIADS, bar_triad

    assert TRIADS[0] == {0, 4, 7} and TRIADS[21] == {9, 0, 4} and TRIADS[19] == {7, 10, 2}
    assert bar_triad([(57, 4), (60, 4), (64, 4)]) == 21  # A minor (not C major: its root sounds)
    assert bar_triad([(60, 16), (64, 8), (67, 2), (69, 1)]) == 0
    c_then_g = ([Note(0, 48, 16), Note(0, 64, 4), Note(4, 67, 4), Note(16, 43, 16), Note(16, 59, 8),
                 Note(24, 62, 8), Note(48, 45, 8), Note(48, 60, 8), Note(48, 64, 8)])
    tokens = EventCodec(bar_steps=16, plan_bars=1, chord_plan=True).encode(c_then_g)
    assert [t for t in tokens if t[0] == "H"] == ["H0", "H7", "H21"]  # bar 3 is silent: no plan there
    longer = EventCodec(bar_steps=16, plan_bars=2, chord_plan=True).encode(c_then_g)
    assert [t for t in longer if t[0] == "H"] == ["H0", "H7", "H21", "H21"]  # ... or, planned, the next bar's
    assert [t for t in tokens if t[0] in "RTKH"][:4] == ["R60", "T15", "K0", "H0"]  # the chord ends the plan
    assert sorted(EventCodec.decode(tokens)) == sorted(c_then_g)
    with pytest.raises(ValueError, match="chord_plan"):
        EventCodec(chord_plan=True)
    vocab = EventVocab.from_tokens(tokens + ["V60"])
    assert vocab.tokens[-5:] == ["K0", "V60", "H0", "H7", "H21"]
    assert vocab.nearest("H5") == ["H7"] and EventVocab.from_tokens(EventCodec().encode(PIECE)).nearest("H5") == []
