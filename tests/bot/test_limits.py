"""Per-user limits shared by the bot's processes over one DATA_DIR (bot/limits.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading

import pytest

from bot.jobs import Busy, JobQueue
from bot.limits import STALE_S, LocalLimits, SharedLimits
from bot.settings import Settings, SettingsError


def shared(tmp_path, max_jobs=2, burst=0, rate=0.5, clock=None):
    kwargs = {"clock": clock} if clock else {}
    return SharedLimits(tmp_path, max_jobs, burst, rate, **kwargs).open()


def test_two_processes_count_a_users_jobs_once(tmp_path):
    """As two bot processes over one DATA_DIR would: a user's jobs in either count against one limit."""
    a, b = shared(tmp_path), shared(tmp_path)
    first = a.admit(1)
    second = b.admit(1)
    with pytest.raises(Busy, match="2 jobs running"):
        a.admit(1)
    b.admit(2)  # another user is not affected
    a.release(1, first)
    third = b.admit(1)
    for limits, ticket in ((b, second), (b, third)):
        limits.release(1, ticket)
    a.close()
    b.close()


def test_the_rate_bucket_is_shared_too(tmp_path):
    now = [1000.0]
    a, b = (shared(tmp_path, max_jobs=100, burst=3, rate=0.5, clock=lambda: now[0]) for _ in range(2))
    for limits in (a, b, a):
        limits.release(1, limits.admit(1))
    with pytest.raises(Busy, match=r"more than 3 commands in a row; try again in 2\.0 s"):
        b.admit(1)
    now[0] += 2.0  # one command regained
    b.release(1, b.admit(1))
    with pytest.raises(Busy, match="Slow down"):
        a.admit(1)


def test_jobs_of_a_process_that_died_are_cleared(tmp_path):
    """A process killed with jobs running leaves rows; they are cleared when it is found gone (same machine)."""
    code = ("import sys, os; from bot.limits import SharedLimits; "
            "l = SharedLimits(sys.argv[1], 2).open(); l.admit(1); l.admit(1); os._exit(0)")
    running = shared(tmp_path)  # a process up while the other dies
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    with sqlite3.connect(tmp_path / "limits.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 2
    running.admit(1)  # the dead process's two rows were cleared, not counted
    with sqlite3.connect(tmp_path / "limits.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    subprocess.run([sys.executable, "-c", code.replace("admit(1)", "admit(2)"), str(tmp_path)], check=True)
    shared(tmp_path)  # a process starting clears what dead ones left
    with sqlite3.connect(tmp_path / "limits.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE user_id = 2").fetchone()[0] == 0


def test_rows_older_than_the_stale_limit_are_cleared(tmp_path):
    """On another machine a process cannot be checked: its rows go once older than STALE_S."""
    now = [1000.0]
    limits = shared(tmp_path, max_jobs=1, clock=lambda: now[0])
    with sqlite3.connect(tmp_path / "limits.sqlite3") as db:
        db.execute("INSERT INTO jobs (user_id, host, pid, started) VALUES (1, 'elsewhere', 1, 1000.0)")
    with pytest.raises(Busy):
        limits.admit(1)
    now[0] += STALE_S + 1
    limits.admit(1)


def test_a_locked_file_falls_back_to_this_process_count(tmp_path, caplog):
    limits = shared(tmp_path, max_jobs=1)
    holder = sqlite3.connect(tmp_path / "limits.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        ticket = limits.admit(1)
        assert ticket == ("local", None) and "counting in this process" in caplog.text
        with pytest.raises(Busy):
            limits.admit(1)  # the local count still limits
        limits.release(1, ticket)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    limits.release(1, limits.admit(1))  # back on the file


def test_job_queues_of_two_processes_share_the_limit(tmp_path):
    """JobQueue with SharedLimits: a user's running job in one process refuses their next in the other."""
    queues = [JobQueue(2, 8, 1, limits=shared(tmp_path, max_jobs=1)) for _ in range(2)]
    started, finish = threading.Event(), threading.Event()

    def slow():
        started.set()
        finish.wait(10)
        return "done"

    async def go():
        running = asyncio.ensure_future(queues[0].run(7, slow))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        with pytest.raises(Busy, match="1 jobs running"):
            await queues[1].run(7, lambda: "no")
        assert await queues[1].run(8, lambda: "other user") == "other user"
        finish.set()
        assert await running == "done"
        assert await queues[1].run(7, lambda: "now") == "now"

    try:
        asyncio.run(go())
    finally:
        for q in queues:
            q.shutdown()


def test_local_limits_unchanged():
    limits = LocalLimits(1, burst=0)
    limits.admit(1)
    with pytest.raises(Busy):
        limits.admit(1)
    limits.release(1)
    limits.admit(1)


def test_setting(monkeypatch):
    for raw, ids, want in (("", "", False), ("", "0,1", True), ("on", "", True), ("off", "0", False)):
        monkeypatch.setenv("BOT_SHARED_LIMITS", raw)
        monkeypatch.setenv("BOT_SHARDS", "2" if ids else "")
        monkeypatch.setenv("BOT_SHARD_IDS", ids)
        assert Settings.from_env(load_dotenv_file=False).shared_limits is want
    monkeypatch.setenv("BOT_SHARED_LIMITS", "maybe")
    with pytest.raises(SettingsError, match="BOT_SHARED_LIMITS must be one of auto, on, off, got 'maybe'"):
        Settings.from_env(load_dotenv_file=False)


def test_the_app_shares_limits_when_asked_and_falls_back_when_it_cannot(tmp_path, caplog):
    from bot.app import build_commands

    commands = build_commands(Settings(data_dir=tmp_path / "data", shared_limits=True), generators={})
    try:
        assert isinstance(commands.jobs.limits, SharedLimits)
        assert (tmp_path / "data" / "limits.sqlite3").exists()
    finally:
        commands.shutdown()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    commands = build_commands(Settings(data_dir=blocked, shared_limits=True), generators={})
    try:
        assert isinstance(commands.jobs.limits, LocalLimits) and "shared user limits are off" in caplog.text
    finally:
        commands.shutdown()
