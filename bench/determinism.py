"""How often a seeded request's output changes between running alone and running in a crowd.

    python bench/determinism.py [--lyrics 1000] [--pieces 200] [--json out.json]

Each request is generated twice with the shipped checkpoints and the same RNG
seed: alone (the single-stream path: the CLI, ``BOT_MAX_BATCH=0``, or a request
alone in the batching loop) and in a crowd (every request submitted at once
from 32 threads to the model's batching loop, 32 rows a step, requests joining
and leaving mid-stream as in the bot). A row of a batched matrix product may
differ from the same row alone in the last bits of float32 (BLAS kernels sum in
an order that depends on the CPU and the row count), so a drawn token can only
change where the random draw falls within that rounding of a boundary between
two tokens; once one token differs, the rest of the stream differs too. This
counts the requests whose output differs at all, and where the first
difference falls. With ``exact`` batching (``BOT_EXACT_BATCHING=1``) every row
is stepped alone, so no output may differ: checked on a sample.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO))

from generators.music.generator import MusicGenerator  # noqa: E402
from generators.paths import shipped_checkpoints  # noqa: E402
from generators.text import CharGenerator  # noqa: E402

SEEDS = ("Yeah, oho", "I walk alone", "Baby, baby", "In the night", "Oh", "We were young", "Hey", "Love")


def first_difference(a, b) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def compare(name: str, run_one, count: int, exact_sample: int, gen) -> dict:
    start = time.perf_counter()
    alone = [run_one(i) for i in range(count)]
    alone_s = time.perf_counter() - start
    results = {}
    for exact, n in ((False, count), (True, exact_sample)):
        gen.enable_batching(max_batch=32, exact=exact)
        try:
            start = time.perf_counter()
            with ThreadPoolExecutor(32) as pool:
                crowd = list(pool.map(run_one, range(n)))
            crowd_s = time.perf_counter() - start
        finally:
            gen.close_batching(wait=True)
            gen.batcher = None
        firsts = [first_difference(a, c) for a, c in zip(alone, crowd)]
        differing = [f for f in firsts if f is not None]
        label = "exact" if exact else "fast"
        results[label] = {"requests": n, "differ": len(differing), "first_difference_at": differing,
                          "median_length": statistics.median(len(a) for a in alone[:n]), "seconds": round(crowd_s, 1)}
        print(f"{name:7s} {label:5s} batching: {len(differing)} of {n} differ from alone"
              + (f" (first difference at {sorted(differing)})" if differing else "")
              + f"   alone {alone_s * n / count:.0f} s, crowd {crowd_s:.0f} s", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lyrics", type=int, default=1000, help="seeded lyrics (400 characters each)")
    parser.add_argument("--pieces", type=int, default=200, help="seeded pieces (500 notes each)")
    parser.add_argument("--exact-sample", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = shipped_checkpoints()
    lyrics = CharGenerator.load(root / "lyrics")
    music = MusicGenerator.load(root / "music")
    lyrics.generate("Yeah", length=20, rng_seed=0)
    music.generate(20, rng_seed=0)
    out = {
        "lyrics": compare("lyrics", lambda i: lyrics.generate(SEEDS[i % len(SEEDS)], length=400, temperature=0.5,
                                                              rng_seed=i).text,
                          args.lyrics, min(args.exact_sample, args.lyrics), lyrics),
        "music": compare("music", lambda i: [tuple(n) for n in music.generate(500, rng_seed=i).notes],
                         args.pieces, min(args.exact_sample, args.pieces), music),
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
