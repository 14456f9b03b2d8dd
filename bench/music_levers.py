"""Compare music checkpoints on the same held-out pieces: where the loss goes, and what the pieces sound like.

    python bench/music_levers.py CHECKPOINT [CHECKPOINT ...] [--corpus ../shared/data/midi_classical]
                                 [--pieces 10] [--notes 500] [--json out.json]

For each checkpoint, on the held-out split of ``--corpus`` (the pieces that
training with ``val_fraction`` 0.1 holds out, chosen by content hash, so every
checkpoint is scored on the same pieces):

* nats per note (total nats / notes, comparable across encodings) and per event;
* the loss split by event kind: pitch (``P``) events versus the rest;
* ``in-scale mass``: the probability the model gives to pitches of the piece's
  own best-fitting scale before each pitch event (chance is 7/12 = 0.58);
* the musical statistics of ``--pieces`` generated pieces of ``--notes`` notes
  at the checkpoint's default temperature, RNG seeds 1 onwards.

This is how the lever table in the README was made (one fixed CPU budget per
training run, see the README for the commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import REPO

import numpy as np  # noqa: E402

from generators.data import dataset_for  # noqa: E402
from generators.music.corpus import load_corpus  # noqa: E402
from generators.music.corpus import model_space, split_pieces  # noqa: E402
from generators.music.generator import DEFAULT_TEMPERATURE, MusicGenerator  # noqa: E402
from generators.music.encoder import MAJOR_SCALE, notes_in_scale  # noqa: E402
from generators.music.stats import mean_stats, pitch_class_histogram  # noqa: E402


def token_losses(gen: MusicGenerator, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-target log-probabilities (nats) and the full log-softmax rows, over windows of seq_len."""
    ds, _ = dataset_for(gen.config, ids, train=False)
    nll, rows = [], []
    for x, y in ds:
        logits = gen.model(x, training=False).numpy().astype(np.float64)
        logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
        y = y.numpy()
        nll.append(-np.take_along_axis(logp, y[..., None], -1)[..., 0].ravel())
        rows.append(logp.reshape(-1, logp.shape[-1]))
    return np.concatenate(nll), np.concatenate(rows)


def score(gen: MusicGenerator, pieces, n_generated: int, notes: int) -> dict:
    vocab = gen.vocab
    pitch_ids = np.array([i for i, t in enumerate(vocab.tokens) if t.startswith("P")])
    pitch_of = np.array([int(vocab.tokens[i][1:]) for i in pitch_ids])
    nll_all, kinds, in_scale, events, note_total = [], [], [], 0, 0
    for p in pieces:
        spaced = model_space(p.notes, gen.config.augment)[0]
        counts = pitch_class_histogram(spaced, weighted=False)
        tonic = max(range(12), key=lambda t: notes_in_scale(counts, t))
        scale = {(tonic + d) % 12 for d in MAJOR_SCALE}
        ids, _ = vocab.encode_lenient(gen.codec.encode(spaced))
        ids = np.asarray(ids, np.int32)
        nll, logp = token_losses(gen, ids)
        targets = ids[1: 1 + len(nll)]
        is_pitch = np.isin(targets, pitch_ids)
        probs = np.exp(logp[is_pitch][:, pitch_ids])
        mask = np.isin(pitch_of % 12, list(scale))
        in_scale.append((probs[:, mask].sum(1) / probs.sum(1)))
        nll_all.append(nll)
        kinds.append(is_pitch)
        events += len(ids)
        note_total += len(p.notes)
    nll, is_pitch = np.concatenate(nll_all), np.concatenate(kinds)
    generated = [gen.generate(notes, temperature=DEFAULT_TEMPERATURE, rng_seed=1 + i).notes for i in range(n_generated)]
    return {
        "nats_per_note": float(nll.mean() * events / note_total), "nats_per_event": float(nll.mean()),
        "nats_per_pitch_event": float(nll[is_pitch].mean()), "nats_per_other_event": float(nll[~is_pitch].mean()),
        "in_scale_mass": float(np.concatenate(in_scale).mean()), "generated": mean_stats(generated),
        "trained": {k: gen.metrics.get(k) for k in ("epochs", "wall_time_s", "val_loss_nats_per_event")},
        "config": {k: getattr(gen.config, k) for k in ("augment", "layers", "units", "seq_len", "dropout",
                                                        "learning_rate", "plan_bars")},
        "corpus": gen.metrics.get("corpus", {}).get("path"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "midi_classical")
    parser.add_argument("--pieces", type=int, default=10)
    parser.add_argument("--notes", type=int, default=500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    loaded = load_corpus(args.corpus, progress=False)
    held_out = split_pieces(loaded.pieces, 0.1)[1]
    print(f"{len(held_out)} held-out pieces, {sum(len(p.notes) for p in held_out)} notes", file=sys.stderr)
    results = {}
    for path in args.checkpoints:
        results[str(path)] = r = score(MusicGenerator.load(path), held_out, args.pieces, args.notes)
        g = r["generated"]
        print(f"{path}: {r['nats_per_note']:.3f} nats/note, {r['nats_per_event']:.3f} nats/event "
              f"(pitch {r['nats_per_pitch_event']:.3f}, other {r['nats_per_other_event']:.3f}), "
              f"in-scale mass {r['in_scale_mass']:.3f}; generated: scale {g['scale_consistency']}, "
              f"local {g['local_scale_consistency']}, entropy {g['pitch_class_entropy']}, "
              f"polyphony {g['polyphony']}, shift {g['quarter_shift']}, collapsed {g['collapsed']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
