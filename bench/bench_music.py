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
(c) loading the MIDI corpus cold (parsing) versus from the cache.
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
from generators.sampling import SamplingOptions, generate_tokens, make_rng  # noqa: E402
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
