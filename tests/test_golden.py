"""Golden outputs: for fixed RNG seeds, the CLI and the console give the same text and the same MIDI as when
this file was recorded (a refactoring that changes behaviour fails here).

The shipped checkpoints step in float64 here (the weights cast once): a float32 product's last bits depend on
the CPU's BLAS kernels, and a draw that lands on a token boundary would then make the recording a property of
one machine; in float64 that takes a difference a billion times smaller. Timings, history ids and paths are
taken out of the printed lines. Record again (after a deliberate change of behaviour) with
``GHOSTWRITER_RECORD_GOLDEN=1 python -m pytest tests/test_golden.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from generators.paths import shipped_checkpoints
from generators.stepper import StepperWeights

GOLDEN = Path(__file__).parent / "golden" / "outputs.json"

CLI_RUNS = {
    "text": ["generate", "text", "--seed", "the truth is", "--temp", "0.6", "--length", "300", "--rng-seed", "7"],
    "lyrics": ["generate", "lyrics", "--seed", "Yeah, oho", "--temp", "0.5", "--top-p", "0.95", "--rng-seed", "7",
               "--length", "400"],
    "lyrics-song": ["generate", "lyrics", "--seed", "Yeah, oho", "--lines", "12", "--rhyme", "AABB", "--form", "VCVC",
                    "--syllables", "8", "--rng-seed", "7"],
    "music": ["generate", "music", "--notes", "200", "--key", "D minor", "--rng-seed", "3"],
    "music-form-chords": ["generate", "music", "--form", "ABA", "--section-bars", "4", "--chords", "Am F C G",
                          "--rng-seed", "6"],
    "music-bars-primer": ["generate", "music", "--bars", "8", "--primer", "C4 E4 G4 C5", "--tempo", "100",
                          "--instrument", "violin", "--rng-seed", "5"],
    "music-plan": ["generate", "music", "--notes", "150", "--texture", "full", "--register", "low", "--temp", "0.8",
                   "--top-k", "20", "--rng-seed", "11"],
}
CONSOLE = ('/lyrics seed:"Yeah, oho" temp:0.5 rng_seed:7 lines:8 rhyme:ABAB\n/vary up\n/compose notes:120 rng_seed:4 key:"E minor"\n'
           '/vary down\n/text seed:"the truth is" rng_seed:2 length:200\n')  # (Continue and Again draw new seeds)


def _float64(monkeypatch):
    original = StepperWeights.__init__

    def init(self, model):
        original(self, model)
        self.embedding = self.embedding.astype(np.float64)
        self.cells = [(fused.astype(np.float64), bias.astype(np.float64), n) for fused, bias, n in self.cells]
        self.dense_w, self.dense_b = self.dense_w.astype(np.float64), self.dense_b.astype(np.float64)

    monkeypatch.setattr(StepperWeights, "__init__", init)


def _clean(text: str, tmp_path: Path) -> str:
    text = text.replace(str(tmp_path), "TMP")
    text = re.sub(r"\d+\.\d+ s of model time|in \d+\.\d+ s", "T", text)
    return re.sub(r"\b[0-9a-f]{12}\b", "ID", text)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _record_or_compare(name: str, value) -> None:
    stored = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("GHOSTWRITER_RECORD_GOLDEN"):
        stored[name] = value
        GOLDEN.write_text(json.dumps(stored, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        return
    assert name in stored, f"no golden output for {name}: record it (see the module docstring)"
    assert value == stored[name]


@pytest.fixture
def shipped(monkeypatch):
    root = shipped_checkpoints()
    if not all((root / m / "weights.npz").is_file() for m in ("text", "lyrics", "music")):
        pytest.skip("the shipped checkpoints are not here")
    _float64(monkeypatch)
    monkeypatch.setenv("CHECKPOINT_DIR", str(root))
    return root


@pytest.mark.parametrize("name", sorted(CLI_RUNS))
def test_cli_outputs_are_unchanged(shipped, tmp_path, capsys, name):
    from generators.cli import main

    argv = list(CLI_RUNS[name])
    if argv[1] == "music":
        argv += ["--out", str(tmp_path / "piece.mid")]
    assert main(argv) == 0
    value = {"stdout": _clean(capsys.readouterr().out, tmp_path)}
    if argv[1] == "music":
        value["midi"] = _digest(tmp_path / "piece.mid")
        assert main(["generate", "music", "--continue-from", str(tmp_path / "piece.mid"), "--notes", "60",
                     "--rng-seed", "9", "--out", str(tmp_path / "longer.mid")]) == 0
        value["continued"] = _clean(capsys.readouterr().out, tmp_path)
        value["continued_midi"] = _digest(tmp_path / "longer.mid")
    _record_or_compare(f"cli {name}", value)


def test_console_outputs_are_unchanged(shipped, tmp_path, monkeypatch):
    from bot.app import build_commands
    from bot.console import LAST, run_console
    from bot.settings import Settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    LAST.clear()
    commands = build_commands(Settings.from_env(load_dotenv_file=False))
    out = io.StringIO()
    try:
        asyncio.run(run_console(commands, tmp_path / "out", stdin=io.StringIO(CONSOLE), out=out))
    finally:
        commands.shutdown()
    printed = [line for line in out.getvalue().splitlines()  # the audio previews arrive whenever they are ready
               if ".ogg" not in line and not line.startswith("waiting for")]
    attached = [Path(line.split(maxsplit=1)[1]) for line in printed if line.startswith("[attachment]")]
    value = {"stdout": re.sub(r"-[0-9a-f]{6}\.", "-ID.", _clean("\n".join(printed), tmp_path)),
             "files": [_digest(p) for p in attached if p.suffix in (".mid", ".txt")]}
    _record_or_compare("console", value)
