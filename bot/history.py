"""Every generation's record in SQLite: for buttons that act on a result, /history and /usage.

One database file (``DATA_DIR/history.sqlite3``) and a folder of the MIDI files
results carry (``DATA_DIR/history/<id>.mid``). The schema version lives in
``PRAGMA user_version``; :data:`MIGRATIONS` brings any older file up to date at
start-up. All SQL runs in one dedicated thread (the event loop only awaits it),
so a slow disk never stalls Discord's heartbeat.

A file that is not a SQLite database, one that stays locked, or one that cannot
be written is reported at start-up (:attr:`History.error`, shown by /status)
and history is off: every generation command still answers, and the buttons say
the result is unknown. A write that fails later (the file made read-only, a full
disk) turns history off the same way, reported once, and leaves no MIDI file
without its row. Retention: rows older than ``retention_days``, and the oldest
past ``max_rows``, are deleted with their MIDI files at start-up and once an
hour, and so are uploaded primers (``DATA_DIR/primers``) that no remaining row
names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("bot.history")

#: Schema migrations: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``.
MIGRATIONS = (
    """
    CREATE TABLE generations (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        user_id INTEGER NOT NULL,
        user_name TEXT NOT NULL DEFAULT '',
        channel_id INTEGER,
        command TEXT NOT NULL,
        action TEXT NOT NULL DEFAULT 'command',
        parent_id TEXT,
        options TEXT NOT NULL,
        rng_seed INTEGER,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        model_s REAL,
        total_s REAL,
        output_text TEXT NOT NULL DEFAULT '',
        output_path TEXT
    );
    CREATE INDEX generations_user ON generations (user_id, created);
    CREATE INDEX generations_created ON generations (created);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
PRUNE_EVERY_S = 3600.0


def _no_path(exc: Exception, path: Path) -> str:
    """An error's text for a user, without the server's folders."""
    return str(exc).replace(str(path.parent), "DATA_DIR")


@dataclass
class Record:
    """One generation, as stored."""

    id: str
    created: float
    user_id: int
    command: str  # lyrics, text, compose
    options: dict[str, Any]
    rng_seed: int | None
    model: str
    model_version: str
    output_text: str = ""
    output_path: str | None = None
    user_name: str = ""
    channel_id: int | None = None
    action: str = "command"  # command, continue, again, vary, context, ...
    parent_id: str | None = None
    model_s: float | None = None
    total_s: float | None = None
    extra: dict = field(default_factory=dict)

    def midi(self) -> bytes | None:
        if not self.output_path:
            return None
        try:
            return Path(self.output_path).read_bytes()
        except OSError:
            return None


def new_id() -> str:
    """A generation's id: 12 hex digits, short enough for a button's custom ID."""
    return secrets.token_hex(6)


class HistoryUnavailable(Exception):
    """History is off (a corrupt or locked database at start-up); the message says why."""


class History:
    def __init__(self, data_dir: Path, retention_days: float = 30.0, max_rows: int = 100_000,
                 clock: Callable[[], float] = time.time):
        self.path = Path(data_dir) / "history.sqlite3"
        self.files = Path(data_dir) / "history"
        self.primers = Path(data_dir) / "primers"  # uploaded MIDI sketches, kept while a row names them
        self.retention_days, self.max_rows = retention_days, max_rows
        self.clock = clock
        self.error: str | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._db: sqlite3.Connection | None = None
        self._last_prune = 0.0

    # -- start-up ----------------------------------------------------------------------
    def open(self) -> "History":
        """Open (create, migrate, prune); on failure history is off and :attr:`error` says why."""
        try:
            self._executor.submit(self._open).result()
        except (sqlite3.DatabaseError, OSError) as exc:
            self.error = f"history is off: DATA_DIR/{self.path.name} cannot be used ({_no_path(exc, self.path)})"
            log.warning("history is off: %s cannot be used (%s); generation commands still work", self.path, exc)
            self._close_db()
        return self

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.files.mkdir(parents=True, exist_ok=True, mode=0o755)
        db = sqlite3.connect(self.path, timeout=2.0)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version} is newer than this bot's {SCHEMA_VERSION}")
        for target in range(version, SCHEMA_VERSION):
            with db:
                db.executescript(MIGRATIONS[target])
                db.execute(f"PRAGMA user_version = {target + 1}")
        with db:  # a database that opens but cannot be written (read-only file or folder) is no history
            db.execute("CREATE TABLE IF NOT EXISTS write_check (x)")
            db.execute("DROP TABLE write_check")
        self._prune()

    def _close_db(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            self._executor.submit(db.close)

    def close(self) -> None:
        self._close_db()
        self._executor.shutdown(wait=True)

    @property
    def available(self) -> bool:
        return self._db is not None

    # -- the event loop's side -------------------------------------------------------------
    async def _run(self, fn, *args):
        if self._db is None:
            raise HistoryUnavailable(self.error or "history is off")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def record(self, rec: Record, midi: bytes | None = None) -> None:
        await self._run(self._record, rec, midi)

    async def get(self, generation_id: str) -> Record | None:
        return await self._run(self._get, generation_id)

    async def recent(self, user_id: int, limit: int = 10) -> list[Record]:
        return await self._run(self._recent, user_id, limit)

    async def usage(self, days: float) -> dict[str, list[tuple]]:
        return await self._run(self._usage, days)

    async def prune(self) -> int:
        return await self._run(self._prune)

    # -- the history thread's side -------------------------------------------------------------
    def _record(self, rec: Record, midi: bytes | None) -> None:
        path = None
        try:
            if midi is not None:
                path = self.files / f"{rec.id}.mid"
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                tmp.write_bytes(midi)
                os.replace(tmp, path)
                rec.output_path = str(path)
            self._insert(rec)
        except (sqlite3.DatabaseError, OSError) as exc:  # e.g. made read-only, or the disk is full: history goes off
            if path is not None:  # never a file without a row: retention would never delete it
                path.unlink(missing_ok=True)
            self.error = f"history is off: DATA_DIR/{self.path.name} cannot be written ({_no_path(exc, self.path)})"
            log.warning("history is off: %s cannot be written (%s); generation commands still work, without buttons",
                        self.path, exc)
            db, self._db = self._db, None
            db.close()
            raise HistoryUnavailable(self.error) from None
        if self.clock() - self._last_prune > PRUNE_EVERY_S:
            self._prune()

    def _insert(self, rec: Record) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO generations (id, created, user_id, user_name, channel_id, command, action, parent_id, "
                "options, rng_seed, model, model_version, model_s, total_s, output_text, output_path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.id, rec.created, rec.user_id, rec.user_name, rec.channel_id, rec.command, rec.action,
                 rec.parent_id, json.dumps(rec.options), rec.rng_seed, rec.model, rec.model_version, rec.model_s,
                 rec.total_s, rec.output_text, rec.output_path))

    _COLUMNS = ("id, created, user_id, user_name, channel_id, command, action, parent_id, options, rng_seed, model, "
                "model_version, model_s, total_s, output_text, output_path")

    @staticmethod
    def _row(row) -> Record:
        (id_, created, user_id, user_name, channel_id, command, action, parent_id, options, rng_seed, model,
         model_version, model_s, total_s, output_text, output_path) = row
        return Record(id=id_, created=created, user_id=user_id, user_name=user_name, channel_id=channel_id,
                      command=command, action=action, parent_id=parent_id, options=json.loads(options),
                      rng_seed=rng_seed, model=model, model_version=model_version, model_s=model_s, total_s=total_s,
                      output_text=output_text, output_path=output_path)

    def _get(self, generation_id: str) -> Record | None:
        row = self._db.execute(f"SELECT {self._COLUMNS} FROM generations WHERE id = ?", (generation_id,)).fetchone()
        return None if row is None else self._row(row)

    def _recent(self, user_id: int, limit: int) -> list[Record]:
        rows = self._db.execute(f"SELECT {self._COLUMNS} FROM generations WHERE user_id = ? "
                                "ORDER BY created DESC LIMIT ?", (user_id, limit)).fetchall()
        return [self._row(r) for r in rows]

    def _usage(self, days: float) -> dict[str, list[tuple]]:
        since = self.clock() - days * 86400
        by_command = self._db.execute(
            "SELECT command, action, COUNT(*), AVG(total_s) FROM generations WHERE created >= ? "
            "GROUP BY command, action ORDER BY COUNT(*) DESC", (since,)).fetchall()
        by_user = self._db.execute(
            "SELECT user_id, MAX(user_name), COUNT(*) FROM generations WHERE created >= ? "
            "GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT 15", (since,)).fetchall()
        return {"by_command": by_command, "by_user": by_user}

    def _prune(self) -> int:
        """Delete rows (and their MIDI files) older than the retention, then the oldest past ``max_rows``;
        returns how many."""
        self._last_prune = self.clock()
        cutoff = self.clock() - self.retention_days * 86400
        old = self._db.execute(
            "SELECT id, output_path FROM generations WHERE created < ? OR id IN "
            "(SELECT id FROM generations ORDER BY created DESC LIMIT -1 OFFSET ?)", (cutoff, self.max_rows)).fetchall()
        for _, path in old:
            if path:
                Path(path).unlink(missing_ok=True)
        with self._db:
            self._db.executemany("DELETE FROM generations WHERE id = ?", [(i,) for i, _ in old])
        self._prune_primers(cutoff)
        return len(old)

    def _prune_primers(self, cutoff: float) -> None:
        """Delete uploaded primers older than the retention that no remaining row names (a primer used again is
        touched when it is stored again, so its age is its last use)."""
        if not self.primers.is_dir():
            return
        for path in self.primers.glob("*.mid"):
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
            except OSError:
                continue
            named = self._db.execute("SELECT 1 FROM generations WHERE options LIKE ? LIMIT 1",
                                     (f"%{path.name}%",)).fetchone()
            if named is None:
                path.unlink(missing_ok=True)
