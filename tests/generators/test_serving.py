"""Serving without TensorFlow: a checkpoint read to generate goes straight into the NumPy stepper; Keras is built
only when asked for, from exactly the same weights."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from generators.errors import CheckpointError
from generators.paths import shipped_checkpoints
from generators.text import CharGenerator

GENERATE_ONLY = r"""
import json, sys
from generators.paths import shipped_checkpoints
from generators.text import CharGenerator
from generators.music.generator import MusicGenerator
root = shipped_checkpoints()
lyrics = CharGenerator.load(root / "lyrics")
song = lyrics.song("Yeah, oho", lines=8, rng_seed=1)
text = lyrics.generate("Yeah", length=80, rng_seed=2).text
music = MusicGenerator.load(root / "music")
piece = music.generate(60, rng_seed=3)
print(json.dumps({"tf": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")),
                  "lines": len(song.lines), "text": text, "notes": len(piece.notes)}))
"""


def test_a_generation_only_process_never_imports_tensorflow(tmp_path):
    out = subprocess.run([sys.executable, "-c", GENERATE_ONLY], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["tf"] == []
    assert report["lines"] == 8 and report["text"].startswith("Yeah") and report["notes"] > 0


def test_the_keras_model_built_on_first_use_holds_the_checkpoints_weights():
    served = CharGenerator.load(shipped_checkpoints() / "lyrics")
    built = CharGenerator.load(shipped_checkpoints() / "lyrics", keras=True)
    assert served._model is None  # nothing of Keras yet
    for a, b in zip(served.model.get_weights(), built.model.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    first = served.generate("Yeah", length=120, rng_seed=4).text
    assert first == built.generate("Yeah", length=120, rng_seed=4).text


def test_a_checkpoint_that_does_not_match_its_config_is_refused_without_keras(tmp_path):
    import shutil

    path = tmp_path / "lyrics"
    shutil.copytree(shipped_checkpoints() / "lyrics", path)
    header = json.loads((path / "config.json").read_text())
    header["config"]["units"] = 128
    (path / "config.json").write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match=r"does not match config.json: 'lstm_0/lstm_cell/kernel' has shape"):
        CharGenerator.load(path)


def test_every_model_of_the_registry_loads_as_a_served_generator():
    from generators.paths import shipped_checkpoints
    from generators.protocol import MUSIC_METHODS, TEXT_METHODS, Generator
    from generators.registry import MODELS
    from generators.serving import load_generator

    for name, spec in MODELS.items():
        gen = load_generator(name, shipped_checkpoints() / spec.shipped)
        assert isinstance(gen, Generator) and gen.kind == name
        assert all(callable(getattr(gen, m)) for m in (TEXT_METHODS if spec.writes_text else MUSIC_METHODS))
        gen.ready(max_batch=4)
        assert gen.batcher is not None
        gen.retire()
