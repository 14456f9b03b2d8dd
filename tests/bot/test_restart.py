"""The bot killed during a real retrain: no orphan trainer, no half-written version, the old model serves."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.retrain import RetrainManager
from generators.cli import checkpoint_root

LYRICS = "oh yeah we sing along tonight\nthe city lights are burning bright\n\n" * 120


def _trainers(data_dir: Path) -> list[int]:
    """Processes training on this test's data folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"train" in cmdline and any(str(data_dir).encode() in part for part in cmdline):
            pids.append(int(entry.name))
    return pids


def _lines(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def test_bot_killed_during_a_retrain(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lyrics.txt").write_text(LYRICS)
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env.update(DATA_DIR=str(data), BOT_OUTPUT_DIR=str(tmp_path / "out"), CHECKPOINT_DIR=str(checkpoint_root()))
    bot = subprocess.Popen([sys.executable, "-m", "bot", "--console"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        bot.stdin.write("/retrain lyrics minutes:30\n")
        bot.stdin.flush()
        lines, seen = _lines(bot.stdout), []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            assert line is not None, "the bot exited early:\n" + "".join(seen)
            seen.append(line)
            if "[retrain lyrics] epoch 1" in line:
                break
        else:
            raise AssertionError("no progress from the retrain:\n" + "".join(seen))
        trainers = _trainers(data)
        assert trainers, "no training child found"
        bot.send_signal(signal.SIGKILL)  # no clean-up code of the bot runs
        bot.wait(10)
        deadline = time.monotonic() + 15
        while _trainers(data) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _trainers(data) == [], "the training child outlived the bot"
    finally:
        if bot.poll() is None:
            bot.kill()
        for pid in _trainers(data):
            os.kill(pid, signal.SIGKILL)

    # At the next start: what the killed run left is removed, and the shipped model serves.
    restarted = RetrainManager(data, {"lyrics": data / "lyrics.txt"}, checkpoint_root(), lambda m, p: p,
                               lambda m, g: None)
    folder = data / "checkpoints" / "lyrics"
    assert restarted.removed and all("lyrics/" in r for r in restarted.removed)
    assert not folder.exists() or [p.name for p in folder.iterdir() if p.is_dir()] == []
    assert restarted.current("lyrics") == checkpoint_root() / "lyrics"
