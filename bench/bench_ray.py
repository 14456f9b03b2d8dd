"""Generation in-process against generation on Ray Serve replicas, through the bot and the stand-in Discord.

    python bench/bench_ray.py [--users 32] [--commands lyrics compose] [--replicas 1] [--json F]

A local Ray cluster is started here (as many CPUs as the machine has), the shipped lyrics and music models
deployed (``--replicas`` replicas each, each running the batching loop, 32 rows a step). For each command, a crowd
of ``--users`` users at once (request ``i`` carries ``rng_seed:i+1``), on the in-process server and on the Ray
server in turn, ``--rounds`` times, alternating which goes first: reply p50/p95, and capacity, the requests
answered per second per core (requests / the crowd's wall time / the machine's cores). The texts of both servers
are compared (the same seed gives the same song).

Target: the 32-user crowd's p95 through Ray no worse than 1.5x in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO))

from bench_bot import COMMANDS, Patch, Server, all_up, alternating, pct, seeded  # noqa: E402

from bot.app import limit_blas_threads, load_generator  # noqa: E402
from bot.settings import Settings  # noqa: E402
from generators.cli import checkpoint_root  # noqa: E402


async def crowd(server: Server, command: str, users: int) -> dict:
    server.fake.patch_discord(Patch())  # (both servers are up: discord.py must reach this one's stand-in)
    fake = server.fake
    start = time.monotonic()
    tokens = await asyncio.gather(*(fake.interact(command, seeded(COMMANDS[command], i), user_id=10_000 + i)
                                    for i in range(users)))
    await asyncio.gather(*(fake.reply(t, timeout=900) for t in tokens))
    wall = time.monotonic() - start
    finals = [fake.exchanges[t].first_reply_at() - fake.exchanges[t].sent_at for t in tokens]
    texts = [fake.exchanges[t].messages[0]["content"].rsplit("\n-# ", 1)[0] for t in tokens]
    return {"p50_s": statistics.median(finals), "p95_s": pct(finals, 95), "wall_s": wall,
            "per_s_per_core": users / wall / (os.cpu_count() or 1), "texts": texts}


async def run(users: int, commands_run: list[str], replicas: int, rounds: int) -> dict:
    import ray

    from bot.ray_backend import RayBackend

    from generators.ray_serve import local_cluster_env

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    local_cluster_env()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, namespace="ghostwriter")
    settings = Settings(generation_backend="ray", ray_replicas=replicas, max_batch=32)  # (CPUs fitted, as the bot does)
    backend = RayBackend.connect(settings)
    started = time.monotonic()
    remote = {m: backend.load(m, checkpoint_root() / m) for m in ("lyrics", "music")}
    for gen in remote.values():
        gen.roll_out()
    print(f"deployed lyrics and music, {replicas} replica(s) each, in {time.monotonic() - started:.1f} s", flush=True)
    local = {m: load_generator(m, checkpoint_root() / m) for m in ("lyrics", "music")}
    results = {}
    servers = {"in-process": Server("batched", local), "ray": Server("batched", remote)}
    try:
        async with all_up(servers):
            for command in commands_run:
                rows = {name: [] for name in servers}
                for r in range(rounds):
                    for name in alternating(servers, r):
                        rows[name].append(await crowd(servers[name], command, users))
                same = sum(a == b for a, b in zip(rows["in-process"][0]["texts"], rows["ray"][0]["texts"]))
                out = {}
                for name, runs in rows.items():
                    out[name] = {k: statistics.median(run[k] for run in runs)
                                 for k in ("p50_s", "p95_s", "wall_s", "per_s_per_core")}
                    print(f"{name:10s} {command:8s} {users} users: reply p50 {out[name]['p50_s']:6.2f} s  "
                          f"p95 {out[name]['p95_s']:6.2f} s   {out[name]['per_s_per_core']:.2f} requests/s per core",
                          flush=True)
                out["p95_ratio"] = out["ray"]["p95_s"] / out["in-process"]["p95_s"]
                out["same_texts"] = same
                print(f"{command}: Ray / in-process p95 = {out['p95_ratio']:.2f} (target <= 1.5); same replies for "
                      f"the same seeds: {same}/{users}", flush=True)
                results[command] = out
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--commands", nargs="+", choices=tuple(COMMANDS), default=list(COMMANDS))
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    with limit_blas_threads(Settings().blas_threads):
        results = asyncio.run(run(args.users, args.commands, args.replicas, args.rounds))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
