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


def test_audio_preview_from_pip_packages_alone(monkeypatch):
    """No fluidsynth binary, no system SoundFont: symusic, soundfile and pretty_midi's SoundFont still give OGG."""
    import io

    import soundfile

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("SOUNDFONT", raising=False)
    monkeypatch.setattr("bot.render.SOUNDFONTS", ())
    assert soundfont().endswith("TimGM6mb.sf2")
    ogg = render_audio(preview_midi(Result()))
    assert ogg[:4] == b"OggS"
    audio, rate = soundfile.read(io.BytesIO(ogg))
    assert rate == 44100 and 30 <= len(audio) / rate <= 33  # the first 30 s, plus the last notes' release
    assert abs(audio).max() > 0.01  # not silence


def test_the_soundfont_is_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("SOUNDFONT", str(tmp_path / "missing.sf2"))
    assert soundfont() is None and render_audio(Result.midi) is None  # no preview, no crash
    bundled = __import__("pretty_midi").__file__.rsplit("/", 1)[0] + "/TimGM6mb.sf2"
    monkeypatch.setenv("SOUNDFONT", bundled)
    assert soundfont() == bundled and render_audio(Result.midi, engine="symusic")[:4] == b"OggS"


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the optional fluidsynth binary is not installed")
def test_fluidsynth_renders_when_installed():
    assert render_audio(preview_midi(Result()), engine="fluidsynth")[:4] == b"OggS"
