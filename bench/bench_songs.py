"""Songs from the shipped lyrics model: model time alone, and what the song decoding costs.

    python bench/bench_songs.py [--songs 10] [--json results.json]

For RNG seeds 1..N, a 16-line song (default settings: a form and a rhyme scheme drawn), the same with
``rhyme:AABB``, and with ``syllables:8``, each alone in this process (no batching loop): model time per song
(median and max) against the 1.5 s target, and the characters stepped per song. Beside them, plain text of the
same number of characters (``generate``, one stream), so the ratio is what the candidates and the rhyme search
cost per character stepped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO))

from generators.paths import shipped_checkpoints  # noqa: E402
from generators.text import CharGenerator  # noqa: E402

SETTINGS = {"default": {}, "rhyme AABB": {"rhyme": "AABB"}, "syllables 8": {"syllables": 8}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    gen = CharGenerator.load(shipped_checkpoints() / "lyrics")
    gen.song("Yeah", lines=4, rng_seed=0)  # warm-up (the dictionary's rhyme index is built once)
    results = {}
    for name, options in SETTINGS.items():
        seconds, chars = [], []
        for seed in range(1, args.songs + 1):
            song = gen.song("Yeah, oho", lines=16, rng_seed=seed, **options)
            seconds.append(song.seconds)
            chars.append(song.generated_chars)
        start = time.perf_counter()
        plain = gen.generate("Yeah, oho", length=int(statistics.median(chars)), rng_seed=1)
        plain_s = time.perf_counter() - start
        row = {"median_s": statistics.median(seconds), "max_s": max(seconds), "chars": statistics.median(chars),
               "plain_text_s": plain_s, "plain_chars": plain.generated_chars}
        results[name] = row
        print(f"16-line song, {name:11s}: model time median {row['median_s']:.2f} s, max {row['max_s']:.2f} s "
              f"(target <= 1.5 s); {row['chars']:.0f} characters stepped; the same characters of plain text "
              f"{plain_s:.2f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
