import shutil

import pytest

from bot.render import piano_roll_png, preview_midi, render_audio, soundfont
from generators.music.encoder import Note
from generators.music.midi_io import midi_bytes_to_notes, notes_to_midi_bytes

NOTES = [Note(i * 4, 60 + i % 12, 4) for i in range(100)]  # 100 quarter notes: 50 s at 120 BPM


class Result:
    tempo, program, notes = 120.0, 0, NOTES
    midi = notes_to_midi_bytes(NOTES)


def test_piano_roll_is_a_png():
    assert piano_roll_png(NOTES, 120)[:8] == b"\x89PNG\r\n\x1a\n"
    assert piano_roll_png([], 120)[:8] == b"\x89PNG\r\n\x1a\n"


def test_preview_keeps_the_first_30_seconds():
    notes = midi_bytes_to_notes(preview_midi(Result()))
    assert len(notes) == 60 and notes == NOTES[:60]


def test_audio_is_skipped_without_fluidsynth(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert render_audio(Result.midi) is None


@pytest.mark.skipif(shutil.which("fluidsynth") is None or soundfont() is None, reason="FluidSynth or a SoundFont is not installed")
def test_audio_preview_is_ogg():
    assert render_audio(preview_midi(Result()))[:4] == b"OggS"
