"""Per-user limits: how many jobs a user may have at once, and a token bucket of commands in a row.

Each user has a token bucket: ``burst`` commands may come in a row, then one more every ``1 / rate`` seconds (a
full bucket refills in ``burst / rate`` s); ``burst=0`` turns the bucket off.

:class:`LocalLimits` keeps them in this process. :class:`SharedLimits` keeps them in a SQLite file in
``DATA_DIR``, so every bot process over that folder (the processes of a sharded bot, each running some shards)
counts the same user once: a user with commands in two servers whose shards run in two processes still has
``max_jobs`` at once and one bucket. A process that dies with jobs running leaves rows behind; they are cleared
when their process is found gone (same machine) or after :data:`STALE_S`. When the file cannot be used (locked
past its timeout, a disk error), that one admission falls back to this process's own count, logged: a limit is
never a reason to refuse everyone, nor to stall the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

from generators.checkpoint import process_alive

log = logging.getLogger("bot.limits")

STALE_S = 900.0  # a job row older than this is taken for a leftover of a process that died
TIMEOUT_S = 0.25  # how long an admission waits for another process's write to the file


class Busy(Exception):
    """The request was refused for load; the message is for the user."""


def _too_many(max_jobs: int) -> Busy:
    return Busy(f"You already have {max_jobs} jobs running; wait for them to finish.")


def _slow_down(burst: int, rate: float, tokens: float) -> Busy:
    return Busy(f"Slow down: that is more than {burst} commands in a row; try again in {(1 - tokens) / rate:.1f} s.")


def refilled(tokens: float, then: float, now: float, burst: int, rate: float) -> float:
    """A bucket holding ``tokens`` at ``then``, refilled at ``rate`` per second up to ``burst``, at ``now``."""
    return min(float(burst), tokens + (now - then) * rate)


class LocalLimits:
    """The limits of this process alone."""

    def __init__(self, max_jobs: int, burst: int = 5, rate: float = 0.5, clock: Callable[[], float] = time.monotonic):
        self.max_jobs, self.burst, self.rate, self.clock = max_jobs, burst, rate, clock
        self.per_user: dict[int, int] = {}
        self.buckets: dict[int, tuple[float, float]] = {}  # user -> (tokens, when counted)

    def admit(self, user_id: int) -> None:
        """Take one job and one command of ``user_id``'s, or raise :class:`Busy`; the ticket to release."""
        now = self.clock()
        if self.per_user.get(user_id, 0) >= self.max_jobs:
            raise _too_many(self.max_jobs)
        tokens, then = self.buckets.get(user_id, (float(self.burst), now))
        tokens = refilled(tokens, then, now, self.burst, self.rate)
        if self.burst and tokens < 1:
            raise _slow_down(self.burst, self.rate, tokens)
        self.per_user[user_id] = self.per_user.get(user_id, 0) + 1
        if self.burst:
            self.buckets[user_id] = (tokens - 1, now)
        return None

    def release(self, user_id: int, ticket=None) -> None:
        left = self.per_user.get(user_id, 1) - 1
        if left:
            self.per_user[user_id] = left
        else:
            self.per_user.pop(user_id, None)


class SharedLimits:
    """The limits of every process over one ``DATA_DIR`` (see the module docstring). Call :meth:`open` first."""

    def __init__(self, data_dir: Path, max_jobs: int, burst: int = 5, rate: float = 0.5,
                 clock: Callable[[], float] = time.time):
        self.path = Path(data_dir) / "limits.sqlite3"
        self.max_jobs, self.burst, self.rate, self.clock = max_jobs, burst, rate, clock
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.local = LocalLimits(max_jobs, burst, rate, clock)  # when the file cannot be used
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> "SharedLimits":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=TIMEOUT_S, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, "
                   "host TEXT NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS jobs_user ON jobs (user_id)")
        db.execute("CREATE TABLE IF NOT EXISTS buckets (user_id INTEGER PRIMARY KEY, tokens REAL NOT NULL, "
                   "at REAL NOT NULL)")
        self._db = db
        with self._lock:
            self._write(self._clear_gone)
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- admissions --------------------------------------------------------------------
    def admit(self, user_id: int):
        """Take one job and one command of ``user_id``'s for every process, or raise :class:`Busy`; the ticket to
        :meth:`release` (a job row, or ``("local", None)`` when this admission fell back to this process's count)."""
        with self._lock:
            try:
                return self._write(self._admit, user_id)
            except sqlite3.Error as exc:
                log.warning("shared user limits unavailable (%s): counting in this process for now", exc)
        self.local.admit(user_id)
        return ("local", None)

    def release(self, user_id: int, ticket=None) -> None:
        if isinstance(ticket, tuple):
            self.local.release(user_id)
            return
        with self._lock:
            try:
                self._write(lambda db: db.execute("DELETE FROM jobs WHERE id = ?", (ticket,)))
            except sqlite3.Error as exc:  # the row is cleared as stale later
                log.warning("shared user limits: job %s not released (%s)", ticket, exc)

    def _write(self, fn, *args):
        """``fn(db, *args)`` in one write transaction (taken at once, so two processes never interleave)."""
        db = self._db
        if db is None:
            raise sqlite3.OperationalError("closed")
        db.execute("BEGIN IMMEDIATE")
        try:
            out = fn(db, *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return out

    def _admit(self, db: sqlite3.Connection, user_id: int) -> int:
        now = self.clock()
        running = db.execute("SELECT COUNT(*) FROM jobs WHERE user_id = ?", (user_id,)).fetchone()[0]
        if running >= self.max_jobs:
            self._clear_gone(db, user_id)
            running = db.execute("SELECT COUNT(*) FROM jobs WHERE user_id = ?", (user_id,)).fetchone()[0]
            if running >= self.max_jobs:
                raise _too_many(self.max_jobs)
        if self.burst:
            row = db.execute("SELECT tokens, at FROM buckets WHERE user_id = ?", (user_id,)).fetchone()
            tokens = refilled(*(row or (float(self.burst), now)), now, self.burst, self.rate)
            if tokens < 1:
                raise _slow_down(self.burst, self.rate, tokens)
            db.execute("INSERT OR REPLACE INTO buckets (user_id, tokens, at) VALUES (?, ?, ?)",
                       (user_id, tokens - 1, now))
        return db.execute("INSERT INTO jobs (user_id, host, pid, started) VALUES (?, ?, ?, ?)",
                          (user_id, self.host, self.pid, now)).lastrowid

    def _clear_gone(self, db: sqlite3.Connection, user_id: int | None = None) -> None:
        """Delete job rows left by processes that are gone: on this machine, a pid no longer running (or this
        process's own rows at start-up); anywhere, rows older than :data:`STALE_S`. ``user_id``: only theirs."""
        where, args = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        oldest = self.clock() - STALE_S

        def gone(host: str, pid: int, started: float) -> bool:
            if started < oldest:
                return True
            if host != self.host:
                return False
            if pid == self.pid:  # at start-up, rows a former process with this pid left; later, this process's own
                return user_id is None
            return not process_alive(pid)

        rows = db.execute(f"SELECT id, host, pid, started FROM jobs {where}", args).fetchall()
        db.executemany("DELETE FROM jobs WHERE id = ?", [(job,) for job, *rest in rows if gone(*rest)])
