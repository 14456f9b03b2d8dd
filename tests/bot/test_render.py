import shutil

import numpy as np
import pytest

from bot.render import piano_roll_png, preview_midi, render_audio, soundfont
from generators.music.encoder import Note
from generators.music.midi_io import midi_bytes_to_notes, notes_to_midi_bytes

NOTES = [Note(i * 4, 60 + i % 12, 4) for i in range(100)]  # 100 quarter notes: 50 s at 120 BPM


class Result:
    tempo, program, notes = 120.0, 0, NOTES
    midi = notes_to_midi_bytes(NOTES)


def _decode_png(data: bytes) -> np.ndarray:
    """The RGB pixels of one of our PNGs (8-bit RGB, one IDAT, unfiltered rows), checking every CRC."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + length
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, 3)


def test_piano_roll_is_a_png_with_a_bar_per_note():
    from bot.render import ROLL_HEIGHT, ROLL_WIDTH, _shade

    _NOTE = _shade(Note(0, 60, 1).velocity)

    img = _decode_png(piano_roll_png(NOTES, 120))
    assert img.shape == (ROLL_HEIGHT, ROLL_WIDTH, 3)
    note_pixels = (img == _NOTE).all(axis=2)
    assert note_pixels.sum() > 0
    assert np.where(note_pixels.any(axis=0))[0].min() >= 28  # right of the labels
    # Time goes right and pitch up: C4 first and low, C5 later and high.
    two = (_decode_png(piano_roll_png([Note(0, 60, 4), Note(8, 72, 4)], 120)) == _NOTE).all(axis=2)
    rows, cols = np.where(two)
    low_bar, high_bar = cols < ROLL_WIDTH // 2, cols > ROLL_WIDTH // 2
    assert low_bar.any() and high_bar.any() and rows[low_bar].min() > rows[high_bar].max()
    empty = _decode_png(piano_roll_png([], 120))
    assert not (empty == _NOTE).all(axis=2).any()
    long_piece = [Note(i * 3, 40 + (i * 7) % 50, 2) for i in range(3000)]
    assert _decode_png(piano_roll_png(long_piece, 200)).shape == (ROLL_HEIGHT, ROLL_WIDTH, 3)


def test_piano_roll_shades_notes_by_velocity():
    from bot.render import _NOTE

    img = _decode_png(piano_roll_png([Note(0, 60, 8, 20), Note(16, 60, 8, 127)], 120))
    row = img[img.shape[0] // 2]
    soft, loud = row[100:300], row[600:900]  # the first half of the roll, then the second
    darkest = lambda pixels: pixels.sum(axis=1).min()  # noqa: E731
    assert (loud == _NOTE).all(axis=1).any()  # full colour at 127
    assert darkest(soft) > darkest(loud) + 150  # a soft note is paler
    assert darkest(soft) < 3 * 255  # but still drawn


def test_preview_keeps_velocities_and_sounds_louder_for_louder_notes(monkeypatch):
    import io

    import soundfile

    monkeypatch.setattr(shutil, "which", lambda name: None)  # the same renderer everywhere
    notes = [Note(i * 4, 60 + (i * 5) % 12, 4, 30 if i < 8 else 120) for i in range(16)]

    class Dynamic(Result):
        pass

    Dynamic.notes, Dynamic.midi = notes, notes_to_midi_bytes(notes)
    midi = preview_midi(Dynamic())
    assert [n.velocity for n in midi_bytes_to_notes(midi)] == [30] * 8 + [120] * 8
    audio, rate = soundfile.read(io.BytesIO(render_audio(midi)))
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    soft, loud = mono[: 4 * rate], mono[4 * rate: 8 * rate]  # 8 quarter notes at 120 BPM = 4 s each
    assert np.sqrt((loud ** 2).mean()) > 2 * np.sqrt((soft ** 2).mean())


def test_preview_keeps_the_first_30_seconds():
    notes = midi_bytes_to_notes(preview_midi(Result()))
    assert len(notes) == 60 and notes == NOTES[:60]
    later = midi_bytes_to_notes(preview_midi(Result(), start_s=10.0))  # e.g. just before a continuation
    assert later == [n._replace(onset=n.onset - 80) for n in NOTES[20:80]]


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
