"""The bot under load, against the local stand-in of Discord (gateway and REST on 127.0.0.1).

    python bench/bench_bot.py [--users 1 10 50] [--json results.json]

For /lyrics (400 characters) and /compose notes:500 with the shipped
checkpoints, at each number of concurrent users: time to acknowledgement
(interaction sent -> deferred callback received) p50/p99, time to the final
reply p50/p95, and the largest gap between gateway heartbeats while it ran.
Targets: acknowledgement p99 < 500 ms at 50 users; /lyrics p95 < 2 s at 10
users; no heartbeat gap over 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO))

from bot.app import load_generator  # noqa: E402
from bot.commands import Commands  # noqa: E402
from bot.discord_app import GhostwriterBot  # noqa: E402
from bot.jobs import JobQueue  # noqa: E402
from bot.settings import Settings  # noqa: E402
from generators.cli import checkpoint_root  # noqa: E402
from tests.bot.fake_discord import GUILD_ID, FakeDiscord  # noqa: E402

COMMANDS = {
    "lyrics": [{"name": "seed", "type": 3, "value": "Yeah, oho"}, {"name": "length", "type": 4, "value": 400}],
    "compose": [{"name": "notes", "type": 4, "value": 500}],
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Patch:
    """monkeypatch.setattr without pytest."""

    def setattr(self, target, name, value):
        setattr(target, name, value)


async def run(users_list: list[int]) -> dict:
    generators = {m: load_generator(m, checkpoint_root() / m) for m in ("lyrics", "music")}
    settings = Settings(discord_token="t" * 40, guild_id=int(GUILD_ID))
    commands = Commands(generators, JobQueue(settings.generation_workers, 1000, 1000, user_burst=0))
    fake = FakeDiscord()
    await fake.start()
    fake.patch_discord(Patch())
    bot = GhostwriterBot(settings, commands)
    runner = asyncio.ensure_future(bot.start(settings.discord_token))
    await asyncio.wait_for(fake.ready.wait(), 60)
    while not bot.is_ready():
        await asyncio.sleep(0.05)
    warm = await fake.interact("compose", [{"name": "notes", "type": 4, "value": 50}])
    await fake.reply(warm, timeout=120)
    results = {}
    try:
        for command, options in COMMANDS.items():
            for users in users_list:
                beats_from = len(fake.heartbeats)
                tokens = await asyncio.gather(*(fake.interact(command, options, user_id=10_000 + i) for i in range(users)))
                await asyncio.gather(*(fake.reply(t, timeout=600) for t in tokens))
                await asyncio.sleep(1.2)  # one more heartbeat after the last reply
                acks = [fake.exchanges[t].acked_at - fake.exchanges[t].sent_at for t in tokens]
                finals = [fake.exchanges[t].first_reply_at() - fake.exchanges[t].sent_at for t in tokens]
                beats = fake.heartbeats[max(0, beats_from - 1):]
                gap = max((b - a for a, b in zip(beats, beats[1:])), default=float("nan"))
                row = {"ack_p50_ms": 1000 * statistics.median(acks), "ack_p99_ms": 1000 * pct(acks, 99),
                       "final_p50_s": statistics.median(finals), "final_p95_s": pct(finals, 95),
                       "max_heartbeat_gap_s": gap}
                results[f"{command} x{users}"] = row
                print(f"{command:8s} {users:3d} users  ack p50 {row['ack_p50_ms']:7.1f} ms  p99 {row['ack_p99_ms']:7.1f} ms   "
                      f"final p50 {row['final_p50_s']:6.2f} s  p95 {row['final_p95_s']:6.2f} s   "
                      f"max heartbeat gap {gap:5.2f} s", flush=True)
    finally:
        await bot.close()
        await runner
        await fake.stop()
        commands.jobs.shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(run(args.users))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
