"""Side-by-side benchmark of the text/lyrics generators against the book chapter's method.

    python bench/bench_char.py [--data ../shared/data] [--json results.json]

In one process, on this machine, it measures:

(a) generation speed, characters per second: this project's stateful stepping
    (prime once, one LSTM step per character) versus the baseline, which runs
    ``model.predict`` over the whole 100-character window for every character;
(b) training throughput, supervised targets per second: sequence-to-sequence
    windows (a target at every timestep) versus the baseline's windowed
    training (one target per window, windows every 5 characters).

Both at the book chapter's architecture (one LSTM of 128 units, window 100) and
at the shipped ``lyrics`` preset; plus generation with the shipped lyrics
checkpoint itself. Architectures and weights are identical on both sides; only
the method differs. Prints a table with the ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from common import REPO, predict_loop, timed_fit

import numpy as np  # noqa: E402

from generators.config import CharConfig, preset  # noqa: E402
from generators.data import dataset_for, read_text_corpus  # noqa: E402
from generators.model import build_model  # noqa: E402
from generators.engine import generate_tokens  # noqa: E402
from generators.sampling import SamplingOptions, make_rng, sample  # noqa: E402
from generators.stepper import LSTMStepper, StepperWeights  # noqa: E402
from generators.vocab import CharVocab  # noqa: E402

BOOK = CharConfig(preset="book", layers=1, units=128, embedding=64, seq_len=100, dropout=0.0, batch_size=128)


def baseline_generate(model, window: np.ndarray, n: int, opts, rng) -> float:
    """The book's loop: model.predict over the whole window for every character. Returns chars/s."""
    return predict_loop(model, window, n, lambda out: sample(out[0, -1], opts, rng))


def stepped_generate(model, prime: np.ndarray, n: int, opts, rng) -> float:
    """This project's loop: prime the LSTM state once, then one step per character. Returns chars/s."""
    start = time.perf_counter()
    stepper = LSTMStepper(StepperWeights(model))
    generate_tokens(stepper.step, stepper.feed(prime), n, opts, rng)
    return n / (time.perf_counter() - start)


def train_throughput(cfg: CharConfig, vocab_size: int, ids: np.ndarray, steps: int) -> float:
    """Supervised targets per second of ``fit`` on ``steps`` batches (after a warm-up)."""
    from generators.tf_runtime import keras

    ds, _ = dataset_for(cfg, ids, train=True)
    per_step = cfg.batch_size * (1 if cfg.objective == "window" else cfg.seq_len)
    model = build_model(cfg, vocab_size)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clipnorm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return timed_fit(model, ds, steps, per_step)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "lyrics")
    parser.add_argument("--baseline-chars", type=int, default=40, help="characters the slow baseline generates")
    parser.add_argument("--chars", type=int, default=2000, help="characters the stepped generator produces")
    parser.add_argument("--train-steps", type=int, default=6, help="timed training batches per method")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from generators.tf_runtime import keras

    text = read_text_corpus(args.data / "nietzsche.txt").text
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    opts = SamplingOptions(temperature=0.5)
    prime = ids[:100]
    results: dict = {"machine": {"cpus": os.cpu_count()}, "generation": {}, "training": {}}

    for name, cfg in (("book 1x128", BOOK), ("lyrics preset", preset("lyrics"))):
        keras.utils.set_random_seed(0)
        model = build_model(cfg, len(vocab))
        base = baseline_generate(model, prime, args.baseline_chars, opts, make_rng(0)[0])
        ours = stepped_generate(model, prime, args.chars, opts, make_rng(0)[0])
        results["generation"][name] = {"baseline_chars_per_s": base, "ours_chars_per_s": ours, "ratio": ours / base}
        print(f"generation  {name:14s} baseline {base:8.1f} chars/s   ours {ours:9.1f} chars/s   ratio {ours / base:7.1f}x", flush=True)

    if (args.checkpoint / "weights.npz").exists():
        from generators.text import CharGenerator

        gen = CharGenerator.load(args.checkpoint)
        gen.generate("Yeah, oho", length=50, rng_seed=0)  # extract weights once, as a serving process would
        runs = [gen.generate("Yeah, oho", length=args.chars, temperature=0.5, rng_seed=s).chars_per_second for s in range(3)]
        best = max(runs)
        results["generation"]["shipped lyrics checkpoint"] = {"ours_chars_per_s": best, "runs": runs}
        print(f"generation  shipped lyrics checkpoint: {best:.0f} chars/s (best of 3 x {args.chars} chars)", flush=True)

    train_ids = ids[: len(ids) * 95 // 100]
    for name, cfg in (("book 1x128", BOOK), ("lyrics preset", preset("lyrics"))):
        ours = train_throughput(cfg, len(vocab), train_ids, args.train_steps)
        base_cfg = dataclasses.replace(cfg, objective="window", window_step=5)
        base = train_throughput(base_cfg, len(vocab), train_ids, args.train_steps)
        results["training"][name] = {"baseline_targets_per_s": base, "ours_targets_per_s": ours, "ratio": ours / base}
        print(f"training    {name:14s} baseline {base:8.0f} targets/s ours {ours:9.0f} targets/s ratio {ours / base:7.1f}x", flush=True)

    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
