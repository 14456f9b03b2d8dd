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
