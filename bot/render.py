"""Files a `/compose` reply carries besides the MIDI: a piano-roll PNG and an audio preview.

The audio preview (the first 30 seconds, OGG Vorbis) works from pip packages alone: symusic's
synthesizer renders the MIDI with a General MIDI SoundFont and soundfile encodes it. The SoundFont is
``$SOUNDFONT``, else a system one (Debian's ``fluid-soundfont-gm``), else ``TimGM6mb.sf2`` from the
pretty_midi wheel (GPL-2). Where the ``fluidsynth`` binary is installed it renders instead (higher
quality). If rendering fails, the rest of the reply is sent unchanged.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from generators.music.midi_io import notes_to_midi_bytes

log = logging.getLogger("bot.render")

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2")


# A 3x5 pixel font for the piano roll's labels (drawn without matplotlib): rows top to bottom, bit 2 = left.
_GLYPHS = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7), "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1), "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7),
    "C": (7, 4, 4, 4, 7), "s": (0, 7, 6, 3, 7), "-": (0, 0, 7, 0, 0),
    # section letters of a form (A to P)
    "A": (2, 5, 7, 5, 5), "B": (6, 5, 6, 5, 6), "D": (6, 5, 5, 5, 6), "E": (7, 4, 6, 4, 7), "F": (7, 4, 6, 4, 4),
    "G": (7, 4, 5, 5, 7), "H": (5, 5, 7, 5, 5), "I": (7, 2, 2, 2, 7), "J": (1, 1, 1, 5, 7), "K": (5, 5, 6, 5, 5),
    "L": (4, 4, 4, 4, 7), "M": (5, 7, 7, 5, 5), "N": (6, 5, 5, 5, 5), "O": (7, 5, 5, 5, 7), "P": (7, 5, 7, 4, 4),
}
ROLL_WIDTH, ROLL_HEIGHT = 1000, 320
_MARGIN_LEFT, _MARGIN_BOTTOM, _SCALE = 28, 16, 2  # pixels; the font is drawn at 2x
_NOTE, _BAR_LINE, _BEAT_LINE, _C_ROW, _TEXT = (59, 110, 165), (150, 150, 150), (225, 225, 225), (240, 244, 250), (60, 60, 60)


def _text(img: np.ndarray, x: int, y: int, text: str) -> None:
    """Draw ``text`` with its top-left corner at (x, y), clipped to the image."""
    for ch in text:
        for r, bits in enumerate(_GLYPHS.get(ch, (0,) * 5)):
            for c in range(3):
                if bits >> (2 - c) & 1:
                    y0, x0 = y + r * _SCALE, x + c * _SCALE
                    img[max(y0, 0):max(y0 + _SCALE, 0), max(x0, 0):max(x0 + _SCALE, 0)] = _TEXT
        x += 4 * _SCALE


def png_bytes(img: np.ndarray) -> bytes:
    """An RGB image (height, width, 3; uint8) as PNG: one IDAT of zlib-compressed unfiltered rows."""

    h, w, _ = img.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _shade(velocity: int) -> np.ndarray:
    """A note's colour: from a pale tint (velocity 1) to the full note colour (127)."""
    strength = 0.2 + 0.8 * min(127, max(1, int(velocity))) / 127
    return np.round(255 - strength * (255 - np.array(_NOTE))).astype(np.uint8)


def piano_roll_png(notes, tempo: float, steps_per_quarter: int = 4, width: int = ROLL_WIDTH,
                   height: int = ROLL_HEIGHT, sections: tuple[str, int] = ("", 0)) -> bytes:
    """A piano roll: time across (bar lines dark, beats light, seconds labelled), pitch up (C rows shaded and
    labelled C4 etc.), a bar per note, darker the louder it is struck (its velocity); ``sections`` (a form's letters and bars per section): each section's
    letter at its start, above a line. Drawn with NumPy (a few milliseconds; no plotting library)."""
    img = np.full((height, width, 3), 255, np.uint8)
    plot_w, plot_h = width - _MARGIN_LEFT, height - _MARGIN_BOTTOM
    low = min((n.pitch for n in notes), default=57) - 2
    high = max((n.pitch for n in notes), default=75) + 2
    row_h = plot_h / (high - low + 1)
    end = max((n.onset + n.duration for n in notes), default=16 * steps_per_quarter)
    px_per_step = plot_w / max(end, 1)

    def y_of(pitch: int) -> tuple[int, int]:  # top and bottom pixel rows of a pitch
        top = int(round((high - pitch) * row_h))
        return top, max(top + 1, int(round((high - pitch + 1) * row_h)))

    def x_of(step: float) -> int:
        return _MARGIN_LEFT + int(round(step * px_per_step))

    for pitch in range(low, high + 1):
        if pitch % 12 == 0:
            top, bottom = y_of(pitch)
            img[top:bottom, _MARGIN_LEFT:] = _C_ROW
            _text(img, 1, max(0, min(plot_h - 10, (top + bottom) // 2 - 5)), f"C{pitch // 12 - 1}")
    beat_every = max(1, int(np.ceil(4 / (px_per_step * steps_per_quarter))))  # keep beat lines >= 4 px apart
    for q in range(0, int(end / steps_per_quarter) + 1, beat_every):
        colour = _BAR_LINE if q % 4 == 0 else _BEAT_LINE
        if q % 4 == 0 or px_per_step * steps_per_quarter >= 4:
            img[:plot_h, min(x_of(q * steps_per_quarter), width - 1)] = colour
    letters, section_bars = sections
    for i, letter in enumerate(letters if section_bars else ""):
        x = min(x_of(i * section_bars * 4 * steps_per_quarter), width - 1)
        img[:plot_h, max(_MARGIN_LEFT, x - 1):x + 1] = _TEXT
        _text(img, min(x + 3, width - 8), 1, letter)
    for n in notes:
        top, bottom = y_of(n.pitch)
        x0 = x_of(n.onset)
        x1 = max(x0 + 1, x_of(n.onset + n.duration) - 1)  # a pixel's gap between repeated notes
        img[top + (1 if bottom - top > 2 else 0):bottom, x0:x1] = _shade(getattr(n, "velocity", 80))
    img[plot_h, _MARGIN_LEFT:] = _TEXT  # the time axis, labelled in seconds
    seconds = end / steps_per_quarter * 60.0 / tempo
    tick = next(t for t in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if seconds / t <= 12)
    for t in range(0, int(seconds) + 1, tick):
        x = x_of(t * tempo / 60.0 * steps_per_quarter)
        if x < width - 8:
            img[plot_h:plot_h + 3, x] = _TEXT
            _text(img, x - 2 if t else x, plot_h + 4, f"{t}s")
    return png_bytes(img)


def loss_curve_png(history: list[dict], unit: str = "token") -> bytes:
    """Training and validation loss per epoch (a checkpoint's ``metrics.json`` history)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.add_subplot()
    ax.plot(epochs, [h.get("loss") for h in history], marker="o", label="training")
    ax.plot(epochs, [h.get("val_loss") for h in history], marker="o", label="validation")
    best = [e for e, h in zip(epochs, history) if h.get("best")]
    if best:
        ax.axvline(best[-1], color="#999999", linestyle=":", label=f"kept (epoch {best[-1]})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"nats per {unit}")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


PREVIEW_SECONDS = 30.0


def preview_midi(result, seconds: float = PREVIEW_SECONDS, steps_per_quarter: int = 4, start_s: float = 0.0) -> bytes:
    """``seconds`` of a generated piece as MIDI, for a quick audio preview: the opening, or from ``start_s``."""
    step_s = 60.0 / result.tempo / steps_per_quarter
    first = int(start_s / step_s)
    notes = [n._replace(onset=n.onset - first) for n in result.notes
             if first <= n.onset and (n.onset - first) * step_s < seconds]
    if first == 0 and len(notes) == len(result.notes):
        return result.midi
    return notes_to_midi_bytes(notes, steps_per_quarter=steps_per_quarter, tempo=result.tempo,
                               program=getattr(result, "program", 0))


JOIN_LEAD_S = 5.0  # a continuation's preview starts this long before the new part


def soundfont() -> str | None:
    """``$SOUNDFONT``, else a system General MIDI SoundFont, else the one the pretty_midi wheel ships."""
    configured = os.environ.get("SOUNDFONT")
    if configured:
        return configured if Path(configured).is_file() else None
    for path in SOUNDFONTS:
        if Path(path).is_file():
            return path
    try:
        import pretty_midi
    except ImportError:
        return None
    bundled = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    return str(bundled) if bundled.is_file() else None


SAMPLE_RATE = 44100
MAX_AUDIO_SECONDS = PREVIEW_SECONDS + 3.0  # the preview plus the last notes' release
RENDER_NICENESS = 10


def render_audio(midi: bytes, engine: str = "auto", timeout_s: float = 60.0) -> bytes | None:
    """OGG Vorbis audio of the MIDI, or None when no SoundFont is found or rendering fails.

    ``engine``: ``fluidsynth`` (the system binary, when installed: the higher quality), ``symusic``
    (pip only: symusic's synthesizer and soundfile's libsndfile), or ``auto`` (FluidSynth if present,
    else symusic).
    """
    sf2 = soundfont()
    if sf2 is None:
        return None
    if engine == "fluidsynth" or (engine == "auto" and shutil.which("fluidsynth")):
        return _fluidsynth(midi, sf2, timeout_s)
    try:
        # In a worker process: symusic's renderer holds the GIL for the whole render, which would stall
        # the bot's event loop (and with it every acknowledgement) while previews render.
        return _render_pool().submit(_symusic_ogg, midi, sf2).result(timeout=timeout_s)
    except Exception:
        log.exception("audio preview failed (symusic)")
        return None


@functools.lru_cache(maxsize=1)
def _render_pool():

    # At a lower CPU priority: a preview must never take the CPU the event loop needs to acknowledge commands.
    return ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), mp_context=get_context("spawn"),
                               initializer=os.nice, initargs=(RENDER_NICENESS,))


@functools.lru_cache(maxsize=2)
def _synthesizer(sf2: str):
    import symusic

    return symusic.Synthesizer(sf2, SAMPLE_RATE, 0), threading.Lock()


#: Loudness layers of the symusic render: its synthesizer plays every note at one loudness, so notes are rendered
#: in layers of 16 velocities and mixed with the SoundFont's usual velocity curve, gain (v / 127)^2, set to 1 at
#: the velocity a piece without dynamics is written at (80).
VELOCITY_LAYER = 16


def _with_dynamics(synth, score) -> np.ndarray:
    """Render ``score`` with each note as loud as its velocity (see :data:`VELOCITY_LAYER`); never clipped."""
    velocities = sorted({(n.velocity - 1) // VELOCITY_LAYER for t in score.tracks for n in t.notes})
    layers = []
    for layer in velocities or [0]:
        part = score.copy()
        for track in part.tracks:
            track.notes.filter(lambda n: (n.velocity - 1) // VELOCITY_LAYER == layer, inplace=True)
        centre = min(127.0, layer * VELOCITY_LAYER + (VELOCITY_LAYER + 1) / 2)
        layers.append(synth.render(part, stereo=True) * (centre / 80.0) ** 2)
    mix = np.zeros((2, max(a.shape[1] for a in layers)), np.float32)
    for audio in layers:
        mix[:, : audio.shape[1]] += audio
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    return mix / peak * 0.99 if peak > 0.99 else mix


def _symusic_ogg(midi: bytes, sf2: str) -> bytes:
    """Render with symusic and encode OGG Vorbis with soundfile (runs in a render process)."""
    import soundfile
    import symusic

    synth, lock = _synthesizer(sf2)
    with lock:  # one render at a time per loaded SoundFont
        audio = _with_dynamics(synth, symusic.Score.from_midi(midi))
    frames = np.ascontiguousarray(audio.T[: int(MAX_AUDIO_SECONDS * SAMPLE_RATE)])
    buf = io.BytesIO()
    with soundfile.SoundFile(buf, "w", SAMPLE_RATE, frames.shape[1], format="OGG", subtype="VORBIS") as out:
        for start in range(0, len(frames), SAMPLE_RATE):  # libsndfile's Vorbis encoder crashes on large writes
            out.write(frames[start:start + SAMPLE_RATE])
    return buf.getvalue()


def _fluidsynth(midi: bytes, sf2: str, timeout_s: float) -> bytes | None:
    exe = shutil.which("fluidsynth")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        mid, ogg = Path(tmp) / "in.mid", Path(tmp) / "out.ogg"
        mid.write_bytes(midi)
        try:
            subprocess.run([exe, "-ni", "-F", str(ogg), "-T", "oga", "-r", str(SAMPLE_RATE), sf2, str(mid)],
                           check=True, capture_output=True, timeout=timeout_s)
        except (OSError, subprocess.SubprocessError):
            return None
        return ogg.read_bytes() if ogg.is_file() and ogg.stat().st_size else None
