"""Fake generators for the command layer: the same interface as the real ones, no model."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from bot.commands import Commands
from bot.jobs import JobQueue


@dataclass
class FakeTextResult:
    text: str
    rng_seed: int
    replaced: dict = field(default_factory=dict)


class Serving:
    """What serving asks of a generator (see generators.protocol.Generator): nothing to ready or drain here."""

    kind = "fake"

    def ready(self, max_batch: int = 0, exact: bool = False) -> None:
        pass

    def retire(self) -> None:
        pass


class FakeTextGenerator(Serving):
    unit = "char"
    metrics = {"date": "2026-01-01", "val_loss_nats_per_char": 1.2, "corpus": {"path": "fake.txt"}}

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate
        self.calls = []
        self.song_options = []

    def song(self, seed, *, lines, temperature, rng_seed=None, **options):
        return _song_call(self, seed, lines, temperature, rng_seed, options)

    def continue_song(self, text, *, temperature, rng_seed=None, **options):
        """The song and a section of 2 more lines."""
        return _song_call(self, text, text.count("\n") + 3, temperature, rng_seed, {**options, "continues": True})

    def generate(self, seed, *, length, temperature, rng_seed=None, **_):
        self.calls.append((seed, length, temperature, rng_seed))
        if self.gate is not None:
            self.gate.wait(10)
        rng_seed = 42 if rng_seed is None else rng_seed
        return FakeTextResult(seed + ("la " * length)[:length], rng_seed)


@dataclass
class FakePlan:
    scheme: str = "AABB"
    form: str = "VC"

    def describe(self) -> str:
        return f"form {self.form}, rhyme {self.scheme}"


@dataclass
class FakeSongResult:
    text: str
    rng_seed: int
    plan: FakePlan
    replaced: dict = field(default_factory=dict)


def _song_call(fake, seed, lines, temperature, rng_seed, options):
    fake.calls.append((seed, lines, temperature, rng_seed))
    fake.song_options.append(options)
    if fake.gate is not None:
        fake.gate.wait(10)
    rng_seed = 42 if rng_seed is None else rng_seed
    scheme = {"none": "", None: "AABB", "auto": "AABB"}.get(options.get("rhyme"), options.get("rhyme"))
    form = {"none": "", None: "VC", "auto": "VC"}.get(options.get("form"), options.get("form"))
    return FakeSongResult(seed + "\nla la" * (lines - seed.count("\n") - 1), rng_seed, FakePlan(scheme, form))


class FakeMusicGenerator(Serving):
    unit = "event"
    metrics = {}

    def generate(self, notes=None, *, temperature, tempo, instrument, primer, rng_seed=None, key=None, bars=None,
                 seconds=None, **plan):
        self.last = {"notes": notes, "key": key, "bars": bars, "seconds": seconds, **plan}
        notes = notes or 500
        from generators.music.encoder import Note
        from generators.music.midi_io import notes_to_midi_bytes

        class R:
            pass

        r = R()
        r.notes = [Note(i * 2, 60 + i % 12, 2) for i in range(notes)]
        r.midi = notes_to_midi_bytes(r.notes, tempo=tempo)
        r.tempo, r.rng_seed, r.primer = float(tempo), 7 if rng_seed is None else rng_seed, primer or "corpus excerpt #0"
        r.summary = lambda: f"{len(r.notes)} notes"
        return r

    def continue_piece(self, previous, notes=None, *, piece_key=None, **options):
        """The piece, then ``notes`` more (a fake continuation: only the note count matters)."""
        from generators.music.midi_io import notes_to_midi_bytes

        r = self.generate(notes, primer="the piece so far", **options)
        start = max(n.onset + n.duration for n in previous)
        r.notes = sorted(previous) + [n._replace(onset=n.onset + start) for n in r.notes]
        r.midi = notes_to_midi_bytes(r.notes, tempo=r.tempo)
        r.join_s, r.key = start / 4 * 60 / r.tempo, piece_key
        return r


@pytest.fixture
def fakes():
    return {"text": FakeTextGenerator(), "lyrics": FakeTextGenerator(), "music": FakeMusicGenerator()}


@pytest.fixture
def commands(fakes):
    cmds = Commands(fakes, JobQueue(workers=2, queue_depth=8, user_max_jobs=2, user_burst=0))
    yield cmds
    cmds.jobs.shutdown()
