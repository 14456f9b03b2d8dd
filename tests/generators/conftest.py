"""Fixtures: a small generated corpus and one tiny model trained once per test session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from generators.config import CharConfig

WORDS = "yeah oh baby love night light heart fire dance tonight we you me my the and in on".split()

#: A tiny architecture that learns the fixture corpus in a few seconds on 2 cores.
TINY = CharConfig(preset="lyrics", seq_len=32, embedding=16, layers=2, units=48, dropout=0.0,
                  batch_size=32, learning_rate=1e-2, patience=50, lr_patience=0)


def make_songs(n_songs: int = 30, seed: int = 0) -> str:
    """Lyrics-like text: short lines of a small vocabulary, a blank line between songs."""
    rnd = random.Random(seed)
    songs = []
    for _ in range(n_songs):
        lines = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 6))).capitalize() for _ in range(rnd.randint(3, 6))]
        songs.append("\n".join(lines))
    return "\n\n".join(songs) + "\n"


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "songs.txt"
    path.write_text(make_songs(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus_file):
    """``(generator, checkpoint_path)`` for a tiny model trained for a few epochs."""
    from generators.text import CharGenerator

    out = tmp_path_factory.mktemp("ckpt") / "lyrics"
    gen = CharGenerator.train("lyrics", corpus_file, config=TINY, epochs=6, out=out, progress="none")
    return gen, out
