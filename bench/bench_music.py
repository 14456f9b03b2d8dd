"""Side-by-side benchmark of the music generator against the Classical-Piano-Composer tutorial's method.

    python bench/bench_music.py [--data ../shared/data] [--json results.json]

In one process, on this machine:

(a) generation speed, events per second: this project's stateful stepping
    versus the tutorial's loop (``model.predict`` over a 100-event window for
    every note, argmax), both at the tutorial's architecture (three LSTM(512)
    layers), plus 500 notes from the shipped checkpoint (model time);
(b) training throughput, supervised targets per second: sequence-to-sequence
    training versus the tutorial's windowed training (one target per
    100-event window, windows every event, batch 64), at the same three
    LSTM(512) layers. The baseline model is the tutorial's as described there
    (normalized scalar input, LSTM 512 x 3, Dense 256, softmax, RMSprop);
(c) loading the MIDI corpus cold (parsing) versus from the cache;
(d) one ``/compose notes:500`` reply from the shipped checkpoint (MIDI and
    piano roll, no audio), through the bot's command layer: its server time
    against the model time inside it, and the two files' writers against the
    ones used before (music21's stream writer, a matplotlib figure).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

from common import REPO, predict_loop, timed_fit

import numpy as np  # noqa: E402

from generators.data import seq2seq_dataset  # noqa: E402
from generators.model import build_model  # noqa: E402
from generators.music.config import MUSIC  # noqa: E402
from generators.music.corpus import load_corpus  # noqa: E402
from generators.music.encoder import EventCodec, EventVocab  # noqa: E402
from generators.engine import generate_tokens  # noqa: E402
from generators.sampling import SamplingOptions, make_rng  # noqa: E402
from generators.stepper import LSTMStepper, StepperWeights  # noqa: E402

WINDOW = 100
TUTORIAL_ARCH = dict(layers=3, units=512, dropout=0.3)


def tutorial_model(vocab_size: int):
    """The tutorial's network: scalar inputs, LSTM(512) x 3 with dropout, Dense(256), Dense(vocab), softmax."""
    from generators.tf_runtime import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((WINDOW, 1)),
        L.LSTM(512, return_sequences=True), L.Dropout(0.3),
        L.LSTM(512, return_sequences=True), L.Dropout(0.3),
        L.LSTM(512), L.Dense(256), L.Dropout(0.3), L.Dense(vocab_size), L.Activation("softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


def tutorial_dataset(ids: np.ndarray, vocab_size: int, batch: int = 64):
    """Windows every event, input normalized by the vocabulary size, one-hot target (as in the tutorial)."""
    from generators.tf_runtime import tf

    data = tf.constant(ids.astype(np.float32) / vocab_size)
    labels = tf.constant(ids)
    starts = tf.data.Dataset.range(len(ids) - WINDOW).shuffle(len(ids)).repeat()

    def window(s):
        return data[s:s + WINDOW][:, None], tf.one_hot(labels[s + WINDOW], vocab_size)

    return starts.map(window, num_parallel_calls=tf.data.AUTOTUNE).batch(batch, drop_remainder=True).prefetch(2)


def music21_midi(notes, tempo: float, steps_per_quarter: int = 4) -> bytes:
    """The MIDI writer used before: a music21 stream of notes and chords, written by music21."""
    from music21 import chord, midi, note, stream, tempo as m21tempo

    part = stream.Stream()
    part.insert(0, m21tempo.MetronomeMark(number=tempo))
    by_onset: dict[tuple[int, int], list[int]] = {}
    for n in notes:
        by_onset.setdefault((n.onset, n.duration), []).append(n.pitch)
    for (onset, duration), pitches in sorted(by_onset.items()):
        el = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
        el.quarterLength = duration / steps_per_quarter
        part.insert(onset / steps_per_quarter, el)
    mf = midi.translate.streamToMidiFile(part)
    return mf.writestr()


def matplotlib_roll(notes, tempo: float, steps_per_quarter: int = 4) -> bytes:
    """The piano roll drawn before: a matplotlib figure per request."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), dpi=100)
    ax = fig.add_subplot()
    step_s = 60.0 / tempo / steps_per_quarter
    ax.barh([n.pitch for n in notes], [n.duration * step_s for n in notes],
            left=[n.onset * step_s for n in notes], height=0.8, color="#3b6ea5")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def compose_reply(gen, runs: int = 5) -> dict:
    """Server time of /compose notes:500 (command layer, no audio) against its model time; the writers' times."""
    import asyncio
    import time

    from bot.commands import Commands, Invocation
    from bot.jobs import JobQueue
    from bot.render import piano_roll_png
    from generators.music.midi_io import notes_to_midi_bytes

    commands = Commands({"music": gen}, JobQueue(2, 10, 10, user_burst=0))
    seen = []
    original = gen.generate

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        seen.append(result)
        return result

    gen.generate = recording
    rows = []
    try:
        for i in range(runs):
            start = time.perf_counter()
            reply = asyncio.run(commands.compose(Invocation(1), notes=500, rng_seed=100 + i))
            server = time.perf_counter() - start
            assert [f.filename[-4:] for f in reply.files] == [".mid", ".png"]
            rows.append((server, seen[-1].seconds))
    finally:
        gen.generate = original
        commands.jobs.shutdown()
    server, model = (sorted(x)[len(x) // 2] for x in zip(*rows))  # medians
    notes, tempo = seen[-1].notes, seen[-1].tempo

    def timed(fn, n=3):
        fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    writers = {"midi_symusic_s": timed(lambda: notes_to_midi_bytes(notes, tempo=tempo)),
               "midi_music21_s": timed(lambda: music21_midi(notes, tempo)),
               "roll_numpy_s": timed(lambda: piano_roll_png(notes, tempo)),
               "roll_matplotlib_s": timed(lambda: matplotlib_roll(notes, tempo))}
    row = {"server_s": server, "model_s": model, "ratio": server / model, **writers}
    print(f"compose      notes:500 reply (no audio): server {server:.3f} s, model {model:.3f} s, "
          f"ratio {server / model:.2f} (median of {runs})", flush=True)
    print(f"compose      MIDI writer: symusic {writers['midi_symusic_s'] * 1000:7.1f} ms   music21 "
          f"{writers['midi_music21_s'] * 1000:7.1f} ms   piano roll: NumPy {writers['roll_numpy_s'] * 1000:6.1f} ms   "
          f"matplotlib {writers['roll_matplotlib_s'] * 1000:6.1f} ms", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "music")
    parser.add_argument("--baseline-events", type=int, default=20)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from generators.tf_runtime import keras

    results: dict = {"machine": {"cpus": os.cpu_count()}}
    folder = args.data / "midi_piano"
    os.environ["GHOSTWRITER_CACHE"] = tempfile.mkdtemp(prefix="ghostwriter-bench-")
    cold = load_corpus(folder, progress=False)
    warm = load_corpus(folder, progress=False)
    results["corpus_load"] = {"cold_s": cold.seconds, "cached_s": warm.seconds, "ratio": cold.seconds / warm.seconds}
    print(f"corpus load  cold {cold.seconds:6.2f} s   cached {warm.seconds:6.3f} s   ratio {cold.seconds / warm.seconds:6.1f}x "
          f"({cold.summary()})", flush=True)

    codec = EventCodec()
    tokens = [t for p in cold.pieces for t in codec.encode(p.notes)]
    vocab = EventVocab.from_tokens(tokens)
    ids = np.array([vocab.index[t] for t in tokens], np.int32)
    V = len(vocab)

    # (a) generation
    keras.utils.set_random_seed(0)
    base_model = tutorial_model(V)
    base = predict_loop(base_model, ids[:WINDOW] / V, args.baseline_events, lambda p: int(np.argmax(p[0])) / V,
                        to_input=lambda w: np.array(w, np.float32).reshape(1, WINDOW, 1))
    ours_cfg = dataclasses.replace(MUSIC, **TUTORIAL_ARCH)
    ours_model = build_model(ours_cfg, V)
    rng, _ = make_rng(0)
    import time

    start = time.perf_counter()
    stepper = LSTMStepper(StepperWeights(ours_model))
    generate_tokens(stepper.step, stepper.feed(ids[:WINDOW]), args.events, SamplingOptions(0.9), rng)
    ours = args.events / (time.perf_counter() - start)
    results["generation"] = {"baseline_events_per_s": base, "ours_events_per_s": ours, "ratio": ours / base}
    print(f"generation   3x512  baseline {base:8.2f} events/s   ours {ours:9.1f} events/s   ratio {ours / base:8.1f}x", flush=True)

    if (args.checkpoint / "weights.npz").exists():
        from generators.music.generator import MusicGenerator

        gen = MusicGenerator.load(args.checkpoint)
        gen.generate(20, rng_seed=0)
        runs = [gen.generate(500, rng_seed=s) for s in range(3)]
        worst = max(r.seconds for r in runs)
        results["shipped_500_notes_s"] = {"worst_of_3": worst, "events": [r.events for r in runs]}
        print(f"generation   shipped checkpoint: 500 notes in {worst:.3f} s of model time (worst of 3)", flush=True)

        results["compose_reply"] = compose_reply(gen)

    # (b) training
    base_tps = timed_fit(tutorial_model(V), tutorial_dataset(ids, V), args.train_steps, 64)
    rows = {}
    for label, batch in (("ours, preset batch %d" % ours_cfg.batch_size, ours_cfg.batch_size), ("ours, batch 64", 64)):
        cfg = dataclasses.replace(ours_cfg, batch_size=batch, seq_len=WINDOW)
        model = build_model(cfg, V)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clipnorm),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ds, _ = seq2seq_dataset(ids, cfg.seq_len, cfg.batch_size, train=True)
        rows[label] = timed_fit(model, ds, args.train_steps, cfg.batch_size * cfg.seq_len)
    results["training"] = {"baseline_targets_per_s": base_tps, **{k: {"targets_per_s": v, "ratio": v / base_tps} for k, v in rows.items()}}
    print(f"training     3x512  baseline (tutorial, batch 64) {base_tps:8.1f} targets/s", flush=True)
    for k, v in rows.items():
        print(f"training     3x512  {k:26s} {v:8.0f} targets/s   ratio {v / base_tps:7.1f}x", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
