"""The bot under load, against the local stand-in of Discord (gateway and REST on 127.0.0.1).

    python bench/bench_bot.py [--users 1 10 32 50] [--modes one batched] [--commands lyrics compose] [--json F]

(a) Generation throughput of the shipped lyrics model: 32 requests of 400
    characters one at a time, against the same 32 requests at once through
    the model's batching loop (same RNG seeds, so the same text).
(b) The bot, once per server mode: ``one`` (each request alone in a thread
    of a two-worker pool, as before batching) and ``batched`` (continuous
    batching, up to 32 requests a step). For /lyrics (a song of 16 lines) and
    /compose notes:500 with the shipped checkpoints, at each number of
    concurrent users: time to acknowledgement (interaction sent -> deferred
    callback received) p50/p99, time to the reply (MIDI and piano roll)
    p50/p95 (one user: the median of ``--lone`` requests sent one after
    another, each alone on its server, both servers up at once and their
    requests interleaved, so a drift of the machine's speed falls on both), for /compose the time until the audio preview was added to the
    reply (p95), the largest gap between gateway heartbeats while it ran, and
    the process's resident memory after the burst. Request ``i`` of a row
    carries ``rng_seed:i+1`` in both modes, so both do the same work.

(c) Start-up of a serving process (``--startup``, also run by default): ``python -m bot --console`` started
    fresh, asked for ``/lyrics`` and ``/compose``; time from process start to the first reply (warm disk
    cache: each variant is started once before it is timed) and the process's peak resident memory, with the
    checkpoints read straight into NumPy (today) against Keras models built at load (as before; a child that
    patches ``load(keras=True)``), each started ``--starts`` times, interleaved.

Targets: throughput >= 6x; a lone request's reply within 1.1x of the
one-at-a-time server's; /lyrics p95 <= 3 s at 32 users; /compose p95 <= 5 s
at 10 users and <= 20 s at 50; heartbeat gaps < 1.5 x the 1 s interval;
acknowledgement p99 < 500 ms at 50 users.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO))

from bot.app import limit_blas_threads, load_generator  # noqa: E402
from bot.commands import Commands  # noqa: E402
from bot.discord_app import GhostwriterBot  # noqa: E402
from bot.jobs import JobQueue  # noqa: E402
from bot.settings import Settings  # noqa: E402
from generators.cli import checkpoint_root  # noqa: E402
from tests.bot.fake_discord import GUILD_ID, FakeDiscord  # noqa: E402

COMMANDS = {
    "lyrics": [{"name": "seed", "type": 3, "value": "Yeah, oho"}],  # a song of 16 lines (the default)
    "compose": [{"name": "notes", "type": 4, "value": 500}],
}


STARTUP_CHILD = """
import atexit, os, runpy, sys
if os.environ.get("BENCH_KERAS") == "1":  # as before: every checkpoint read into a Keras model
    import generators.sequence as sequence
    load = sequence.SequenceGenerator.load.__func__
    sequence.SequenceGenerator.load = classmethod(lambda cls, path, keras=False: load(cls, path, keras=True))
atexit.register(lambda: print("TENSORFLOW-IMPORTED", "tensorflow" in sys.modules, file=sys.stderr, flush=True))
sys.argv = ["bot", "--console"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


def start_once(keras: bool, folder: Path) -> dict:
    """One fresh ``python -m bot --console``: seconds from start to the /lyrics reply and to the /compose reply,
    its peak RSS (MB) and whether it imported TensorFlow."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env.update(BENCH_KERAS="1" if keras else "0", BOT_OUTPUT_DIR=str(folder / "out"), DATA_DIR=str(folder / "data"),
               PYTHONPATH=str(REPO))
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", STARTUP_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=folder)
    child.stdin.write("/lyrics seed:Yeah lines:4 rng_seed:1\n/compose notes:100 rng_seed:1\n")
    child.stdin.close()
    replies = []
    for line in child.stdout:
        if "rng_seed 1" in line or "RNG seed 1" in line:
            replies.append(time.perf_counter() - start)
    _, status, usage = os.wait4(child.pid, 0)
    err = child.stderr.read()
    if status or len(replies) < 2:
        raise RuntimeError(f"the console did not answer both commands (status {status}): {err[-2000:]}")
    return {"lyrics_s": replies[0], "compose_s": replies[1], "peak_rss_mb": usage.ru_maxrss / 1024,
            "tensorflow": "TENSORFLOW-IMPORTED True" in err}


def startup(starts: int) -> dict:
    """Keras at load (before) against NumPy only (now), interleaved; medians."""
    import tempfile

    runs = {"keras": [], "numpy": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(starts + 1):
            for name in runs:
                row = start_once(name == "keras", Path(tmp))
                if i:  # the first of each warms the disk cache
                    runs[name].append(row)
    out = {}
    for name, rows in runs.items():
        out[name] = {key: statistics.median(r[key] for r in rows) for key in ("lyrics_s", "compose_s", "peak_rss_mb")}
        out[name]["tensorflow"] = any(r["tensorflow"] for r in rows)
        print(f"start-up ({'Keras at load' if name == 'keras' else 'NumPy only'}): first reply /lyrics "
              f"{out[name]['lyrics_s']:.2f} s, then /compose {out[name]['compose_s']:.2f} s, peak RSS "
              f"{out[name]['peak_rss_mb']:.0f} MB, TensorFlow imported: {out[name]['tensorflow']}", flush=True)
    out["first_reply_ratio"] = out["keras"]["lyrics_s"] / out["numpy"]["lyrics_s"]
    out["rss_ratio"] = out["keras"]["peak_rss_mb"] / out["numpy"]["peak_rss_mb"]
    print(f"start-up: first reply {out['first_reply_ratio']:.2f}x sooner, peak RSS {out['rss_ratio']:.2f}x lower "
          f"(targets >= 2x)", flush=True)
    return out


def seeded(options: list[dict], i: int) -> list[dict]:
    """The command's options with RNG seed ``i + 1``: each mode gets the same requests, so the same work."""
    return [*options, {"name": "rng_seed", "type": 4, "value": i + 1}]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Patch:
    """monkeypatch.setattr without pytest."""

    def setattr(self, target, name, value):
        setattr(target, name, value)


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def throughput(gen, requests: int = 32, length: int = 400) -> dict:
    """Characters per second, the requests one after another vs all at once through the batching loop."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        return gen.generate("Yeah, oho", length=length, temperature=0.5, rng_seed=i).text

    gen.generate("Yeah", length=50, rng_seed=0)  # warm-up
    start = time.perf_counter()
    alone = [one(i) for i in range(requests)]
    alone_s = time.perf_counter() - start
    batcher = gen.enable_batching(max_batch=requests)
    with ThreadPoolExecutor(requests) as pool:
        start = time.perf_counter()
        batched = list(pool.map(one, range(requests)))
        batched_s = time.perf_counter() - start
    gen.close_batching(wait=True)
    gen.batcher = None
    chars = requests * length
    row = {"one_at_a_time_chars_per_s": chars / alone_s, "batched_chars_per_s": chars / batched_s,
           "ratio": alone_s / batched_s, "identical": sum(a == b for a, b in zip(alone, batched)),
           "mean_rows_per_step": batcher.rows_stepped / max(batcher.steps, 1)}
    print(f"throughput  lyrics, {requests} x {length} chars: one at a time {row['one_at_a_time_chars_per_s']:7.0f} chars/s"
          f"   batched {row['batched_chars_per_s']:7.0f} chars/s   ratio {row['ratio']:5.1f}x   "
          f"identical texts: {row['identical']}/{requests}   mean rows per step {row['mean_rows_per_step']:.1f}",
          flush=True)
    return row


async def audio_added_at(fake, token: str, timeout: float = 600) -> float | None:
    """When the reply of ``token`` was edited to carry its audio preview (None: never)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for edit in fake.exchanges[token].edits:
            if any(a["filename"].endswith(".ogg") for a in edit["attachments"]):
                return edit["at"]
        await asyncio.sleep(0.05)
    return None


class Server:
    """The bot in one server mode against its own stand-in Discord: ``one`` (each request alone in a thread of a
    two-worker pool) or ``batched`` (the batching loop, up to 32 rows a step)."""

    def __init__(self, mode: str, generators: dict):
        self.mode, self.generators = mode, generators

    async def __aenter__(self) -> "Server":
        settings = Settings(discord_token="t" * 40, guild_id=int(GUILD_ID))
        max_batch = 32 if self.mode == "batched" else 0
        workers = settings.generation_workers + max_batch
        self.commands = Commands(self.generators, JobQueue(workers, 1000, 1000, user_burst=0), max_batch=max_batch)
        self.fake = FakeDiscord()
        await self.fake.start()
        self.fake.patch_discord(Patch())
        self.bot = GhostwriterBot(settings, self.commands)
        self.runner = asyncio.ensure_future(self.bot.start(settings.discord_token))
        await asyncio.wait_for(self.fake.ready.wait(), 60)
        while not self.bot.is_ready():
            await asyncio.sleep(0.05)
        warm = await self.fake.interact("compose", [{"name": "notes", "type": 4, "value": 50}])
        await self.fake.reply(warm, timeout=120)
        await audio_added_at(self.fake, warm)
        return self

    async def __aexit__(self, *exc) -> None:
        self.fake.patch_discord(Patch())
        await self.bot.close()
        await self.runner
        await self.fake.stop()
        self.commands.shutdown()
        for gen in self.generators.values():
            gen.batcher = None  # the next server starts from plain generators

    async def ask(self, command: str, i: int) -> str:
        """Send request ``i`` of ``command`` and wait for its reply (and a /compose's audio); its token. (discord.py
        finds Discord through class attributes: two servers up at once are asked one at a time, each pointing
        them at its own stand-in first.)"""
        self.fake.patch_discord(Patch())
        token = await self.fake.interact(command, seeded(COMMANDS[command], i), user_id=10_000 + i)
        await self.fake.reply(token, timeout=600)
        if command == "compose":
            await audio_added_at(self.fake, token)
        return token


@contextlib.asynccontextmanager
async def all_up(servers: dict):
    """Every server of ``servers`` (name -> :class:`Server`) up at once, all stopped on leaving."""
    async with contextlib.AsyncExitStack() as stack:
        for server in servers.values():
            await stack.enter_async_context(server)
        yield servers


def alternating(names: list, i: int) -> list:
    """``names`` in order for even ``i``, reversed for odd: who goes first alternates."""
    return list(names) if i % 2 == 0 else list(names)[::-1]


def row_of(fake, tokens: list[str], audio: list[float], beats_from: int | None, rss: float) -> dict:
    acks = [fake.exchanges[t].acked_at - fake.exchanges[t].sent_at for t in tokens]
    finals = [fake.exchanges[t].first_reply_at() - fake.exchanges[t].sent_at for t in tokens]
    row = {"ack_p50_ms": 1000 * statistics.median(acks), "ack_p99_ms": 1000 * pct(acks, 99),
           "final_p50_s": statistics.median(finals), "final_p95_s": pct(finals, 95), "rss_mb": rss}
    if beats_from is not None:
        beats = fake.heartbeats[max(0, beats_from - 1):]
        row["max_heartbeat_gap_s"] = max((b - a for a, b in zip(beats, beats[1:])), default=float("nan"))
    if audio:
        row.update(audio_p95_s=pct(audio, 95), audio_added=len(audio))
    return row


def print_row(mode: str, command: str, users: int, row: dict) -> None:
    extra = f"   audio p95 {row['audio_p95_s']:6.2f} s ({row['audio_added']})" if "audio_p95_s" in row else ""
    gap = f"   heartbeat gap {row['max_heartbeat_gap_s']:5.2f} s" if "max_heartbeat_gap_s" in row else ""
    print(f"{mode:8s} {command:8s} {users:3d} users  ack p50 {row['ack_p50_ms']:7.1f} ms  "
          f"p99 {row['ack_p99_ms']:7.1f} ms   final p50 {row['final_p50_s']:6.2f} s  "
          f"p95 {row['final_p95_s']:6.2f} s{gap}   RSS {row['rss_mb']:6.0f} MB{extra}", flush=True)


async def crowds(mode: str, generators: dict, users_list: list[int], commands_run: tuple[str, ...]) -> dict:
    """Each crowd of ``users_list`` (more than one user) at once, for each command, on a server of ``mode``."""
    results = {}
    async with Server(mode, generators) as server:
        fake = server.fake
        for command in commands_run:
            for users in users_list:
                beats_from = len(fake.heartbeats)
                tokens = await asyncio.gather(*(fake.interact(command, seeded(COMMANDS[command], i),
                                                              user_id=10_000 + i) for i in range(users)))
                await asyncio.gather(*(fake.reply(t, timeout=600) for t in tokens))
                rss = rss_mb()
                audio = []
                if command == "compose":
                    added = await asyncio.gather(*(audio_added_at(fake, t) for t in tokens))
                    audio = [a - fake.exchanges[t].sent_at for t, a in zip(tokens, added) if a is not None]
                await asyncio.sleep(1.2)  # one more heartbeat after the last reply
                results[f"{command} x{users}"] = row = row_of(fake, tokens, audio, beats_from, rss)
                print_row(mode, command, users, row)
    return results


async def lone_interleaved(modes: list[str], lone: int, commands_run: tuple[str, ...]) -> dict:
    """A lone user on each server, both servers up at once (each with its own copy of the models), request ``i``
    sent to one server and then to the other, ``lone`` times: a drift of the machine's speed during the run falls
    on both alike. Per mode, per command: the row of the ``lone`` replies (p50 is their median)."""
    results = {mode: {} for mode in modes}
    servers = {mode: Server(mode, {m: load_generator(m, checkpoint_root() / m) for m in ("lyrics", "music")})
               for mode in modes}
    async with all_up(servers):
        for command in commands_run:
            tokens = {mode: [] for mode in modes}
            for i in range(lone):
                for mode in alternating(modes, i):
                    tokens[mode].append(await servers[mode].ask(command, i))
            for mode, server in servers.items():
                audio = []
                if command == "compose":
                    added = [await audio_added_at(server.fake, t) for t in tokens[mode]]
                    audio = [a - server.fake.exchanges[t].sent_at for t, a in zip(tokens[mode], added) if a is not None]
                results[mode][f"{command} x1"] = row = row_of(server.fake, tokens[mode], audio, None, rss_mb())
                print_row(mode, command, 1, row)
    return results


async def run(users_list: list[int], modes: list[str], lone: int, commands_run: tuple[str, ...]) -> dict:
    generators = {m: load_generator(m, checkpoint_root() / m) for m in ("lyrics", "music")}
    results = {"throughput": throughput(generators["lyrics"])}
    weights_mb = sum(w.nbytes for g in generators.values() for w in g.stepper_weights.arrays().values()) / 2**20
    results["model_weights_mb"] = weights_mb
    print(f"model weights (lyrics + music, float32): {weights_mb:.1f} MB, held once per model", flush=True)
    if 1 in users_list:
        for mode, rows in (await lone_interleaved(modes, lone, commands_run)).items():
            results.setdefault(mode, {}).update(rows)
    for mode in modes:
        results.setdefault(mode, {}).update(await crowds(mode, generators, [u for u in users_list if u > 1],
                                                         commands_run))
    if {"one", "batched"} <= set(modes) and 1 in users_list:
        for command in commands_run:
            key = f"{command} x1"
            ratio = results["batched"][key]["final_p50_s"] / results["one"][key]["final_p50_s"]
            results[f"lone_{command}_ratio"] = ratio
            print(f"lone /{command}: batched server / one-at-a-time server reply p50 = {ratio:.2f} (target <= 1.1; "
                  f"the two servers' requests interleaved)", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 32, 50])
    parser.add_argument("--modes", nargs="+", choices=("one", "batched"), default=["one", "batched"])
    parser.add_argument("--commands", nargs="+", choices=tuple(COMMANDS), default=list(COMMANDS))
    parser.add_argument("--lone", type=int, default=21, help="requests sent one after another for the 1-user row")
    parser.add_argument("--starts", type=int, default=3, help="fresh processes per variant for the start-up (c)")
    parser.add_argument("--only", choices=("load", "startup"), help="run only (a)+(b) or only the start-up (c)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--blas-threads", type=int, default=Settings().blas_threads,
                        help="threads per BLAS product, as BOT_BLAS_THREADS (default: the bot's, 1; 0: the library's)")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = {}
    if args.only != "startup":
        with limit_blas_threads(args.blas_threads):  # as the bot's process has it
            results = asyncio.run(run(args.users, args.modes, args.lone, tuple(args.commands)))
    if args.only != "load":
        results["startup"] = startup(args.starts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
