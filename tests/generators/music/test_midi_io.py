"""Reading MIDI: a file whose notes run absurdly far (a hostile delta time) or of an unsupported format is
refused at once with one line, wherever it comes in (primer, continued piece, corpus, upload)."""

from __future__ import annotations

import struct

import pytest

from generators.cli import main
from generators.music.midi_io import MAX_QUARTERS, MidiReadError, midi_bytes_to_notes, notes_to_midi_bytes
from generators.music.encoder import Note


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def gap_midi(fmt: int = 0) -> bytes:
    """58 bytes: ticks per quarter 1, C4, two meta events each with the largest delta time, then D4."""
    track = (_vlq(0) + bytes([0x90, 60, 64]) + _vlq(1) + bytes([0x80, 60, 0])
             + (_vlq(0x0FFFFFFF) + bytes([0xFF, 0x01, 0x00])) * 2
             + _vlq(0) + bytes([0x90, 62, 64]) + _vlq(1) + bytes([0x80, 62, 0]) + _vlq(0) + bytes([0xFF, 0x2F, 0]))
    return b"MThd" + struct.pack(">IHHH", 6, fmt, 1, 1) + b"MTrk" + struct.pack(">I", len(track)) + track


def test_a_gap_of_millions_of_bars_is_refused_when_read():
    with pytest.raises(MidiReadError, match="run past 2,000 bars"):
        midi_bytes_to_notes(gap_midi())
    long_but_fine = [Note(0, 60, 4), Note((MAX_QUARTERS - 8) * 4, 62, 4)]
    assert midi_bytes_to_notes(notes_to_midi_bytes(long_but_fine)) == long_but_fine


def test_format_2_and_non_midi_are_named():
    with pytest.raises(MidiReadError, match="MIDI format 2 is not supported"):
        midi_bytes_to_notes(gap_midi(fmt=2))
    with pytest.raises(MidiReadError, match="not a standard MIDI file"):
        midi_bytes_to_notes(b"RIFF" + bytes(40))


def test_zero_ticks_per_quarter_is_a_damaged_file_not_smpte():
    data = bytearray(gap_midi())
    data[12:14] = struct.pack(">H", 0)
    with pytest.raises(MidiReadError, match="0 ticks per quarter note"):
        midi_bytes_to_notes(bytes(data))


@pytest.mark.parametrize("option", ["--primer", "--continue-from"])
def test_the_cli_refuses_a_gap_primer_in_one_line(music_trained, tmp_path, capsys, option):
    _, checkpoint = music_trained
    gap = tmp_path / "gap.mid"
    gap.write_bytes(gap_midi())
    code = main(["generate", "music", "--checkpoint", str(checkpoint), option, str(gap), "--notes", "20",
                 "--out", str(tmp_path / "x.mid")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "gap.mid" in err[0] and "2,000 bars" in err[0]

