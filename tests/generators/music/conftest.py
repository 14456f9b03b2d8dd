"""Fixtures: a small MIDI corpus written by the tests, and one tiny music model trained once."""

from __future__ import annotations

import random

import pytest

from generators.music.config import MusicConfig
from generators.music.encoder import Note
from generators.music.midi_io import notes_to_midi_bytes

TINY_MUSIC = MusicConfig(seq_len=24, embedding=8, layers=1, units=32, dropout=0.0, batch_size=8,
                         learning_rate=1e-2, patience=50, lr_patience=0, val_fraction=0.2, augment="corpus-keys")

SCALE = [0, 2, 4, 5, 7, 9, 11]


def make_piece(seed: int, tonic: int = 60) -> list[Note]:
    """Melody over chords, with rests, varied durations and dynamics (a soft chord, a melody louder bar by bar)."""
    rnd = random.Random(seed)
    notes, t = [], 0
    for bar in range(8):
        root = tonic + SCALE[rnd.choice([0, 3, 4, 5])] - 12
        notes += [Note(t, root, 16, 50), Note(t, root + 4, 16, 50), Note(t, root + 7, 16, 50)]
        beat = t
        while beat < t + 16:
            dur = rnd.choice([2, 2, 4, 4, 6, 8])
            if rnd.random() < 0.15:
                beat += dur  # a rest
                continue
            notes.append(Note(beat, tonic + SCALE[rnd.randrange(7)] + 12 * rnd.choice([0, 0, 1]), min(dur, t + 16 - beat),
                              60 + 8 * bar))
            beat += dur
        t += 16
    return notes


@pytest.fixture(scope="session")
def midi_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("midi")
    for i, tonic in enumerate([60, 62, 67, 60, 65, 57]):
        (folder / f"piece{i}.mid").write_bytes(notes_to_midi_bytes(make_piece(i, tonic), tempo=100))
    return folder


@pytest.fixture(scope="session")
def music_trained(tmp_path_factory, midi_corpus):
    """``(generator, checkpoint_path)`` for a tiny music model."""
    import os

    from generators.music.generator import MusicGenerator

    os.environ["GHOSTWRITER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    out = tmp_path_factory.mktemp("music_ckpt") / "music"
    gen = MusicGenerator.train(midi_corpus, config=TINY_MUSIC, epochs=8, out=out, progress="none", workers=2)
    return gen, out


@pytest.fixture(scope="session")
def music_normalized(tmp_path_factory, midi_corpus, music_trained):
    """A tiny key-normalised music model (pieces moved to C major / A minor)."""
    import dataclasses

    from generators.music.generator import MusicGenerator

    config = dataclasses.replace(TINY_MUSIC, augment="normalize")
    return MusicGenerator.train(midi_corpus, config=config, epochs=4, progress="none", workers=1)


@pytest.fixture(scope="session")
def music_planned(tmp_path_factory, midi_corpus, music_trained):
    """A tiny key-normalised music model with bar lines, register/texture plans, bar chords and dynamics."""
    import dataclasses

    from generators.music.generator import MusicGenerator

    config = dataclasses.replace(TINY_MUSIC, augment="normalize", plan_bars=2, velocity_bins=16, chord_plan=True)
    return MusicGenerator.train(midi_corpus, config=config, epochs=4, progress="none", workers=1)
