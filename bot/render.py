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
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger("bot.render")

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2")


def piano_roll_png(notes, tempo: float, steps_per_quarter: int = 4) -> bytes:
    """A piano roll: time in seconds across, MIDI pitch up."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), dpi=100)
    ax = fig.add_subplot()
    step_s = 60.0 / tempo / steps_per_quarter
    if notes:  # one vectorised call: a bar per note
        ax.barh([n.pitch for n in notes], [n.duration * step_s for n in notes],
                left=[n.onset * step_s for n in notes], height=0.8, color="#3b6ea5")
        ax.set_ylim(min(n.pitch for n in notes) - 2, max(n.pitch for n in notes) + 2)
        ax.set_xlim(0, max(n.onset + n.duration for n in notes) * step_s)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


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


def preview_midi(result, seconds: float = PREVIEW_SECONDS, steps_per_quarter: int = 4) -> bytes:
    """The opening ``seconds`` of a generated piece as MIDI, for a quick audio preview."""
    from generators.music.midi_io import notes_to_midi_bytes

    step_s = 60.0 / result.tempo / steps_per_quarter
    notes = [n for n in result.notes if n.onset * step_s < seconds]
    if len(notes) == len(result.notes):
        return result.midi
    return notes_to_midi_bytes(notes, steps_per_quarter=steps_per_quarter, tempo=result.tempo,
                               program=getattr(result, "program", 0))


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
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # At a lower CPU priority: a preview must never take the CPU the event loop needs to acknowledge commands.
    return ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), mp_context=get_context("spawn"),
                               initializer=os.nice, initargs=(RENDER_NICENESS,))


@functools.lru_cache(maxsize=2)
def _synthesizer(sf2: str):
    import symusic

    return symusic.Synthesizer(sf2, SAMPLE_RATE, 0), threading.Lock()


def _symusic_ogg(midi: bytes, sf2: str) -> bytes:
    """Render with symusic and encode OGG Vorbis with soundfile (runs in a render process)."""
    import soundfile
    import symusic

    synth, lock = _synthesizer(sf2)
    with lock:  # one render at a time per loaded SoundFont
        audio = synth.render(symusic.Score.from_midi(midi), stereo=True)
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
