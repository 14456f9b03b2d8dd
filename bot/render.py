"""Files a `/compose` reply carries besides the MIDI: a piano-roll PNG and, where possible, audio.

The audio preview (the first 30 seconds) needs FluidSynth and a General MIDI SoundFont (on Debian:
``apt-get install fluidsynth fluid-soundfont-gm``); without them it is skipped
and the rest of the reply is unchanged.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

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
    configured = os.environ.get("SOUNDFONT")
    for path in ([configured] if configured else []) + list(SOUNDFONTS):
        if path and Path(path).is_file():
            return path
    return None


def render_audio(midi: bytes, timeout_s: float = 60.0) -> bytes | None:
    """OGG Vorbis audio of the MIDI, or None when FluidSynth or a SoundFont is missing or rendering fails."""
    exe, sf2 = shutil.which("fluidsynth"), soundfont()
    if exe is None or sf2 is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        mid, ogg = Path(tmp) / "in.mid", Path(tmp) / "out.ogg"
        mid.write_bytes(midi)
        try:
            subprocess.run([exe, "-ni", "-F", str(ogg), "-T", "oga", "-r", "44100", sf2, str(mid)],
                           check=True, capture_output=True, timeout=timeout_s)
        except (OSError, subprocess.SubprocessError):
            return None
        return ogg.read_bytes() if ogg.is_file() and ogg.stat().st_size else None
