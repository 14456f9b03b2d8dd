"""The bot's settings, read once from the environment (and ``.env``, through python-dotenv).

A missing or malformed value stops start-up with one line naming the variable.
The Discord token is never part of ``repr`` or any log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

from generators.paths import checkpoint_root, user_data_dir


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _ids(name: str) -> frozenset[int]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return frozenset()
    out = set()
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit():
            raise SettingsError(f"{name} must be comma-separated Discord IDs (digits), got {part!r}")
        out.add(int(part))
    return frozenset(out)


def _number(name: str, default, minimum, maximum, kind=int):
    """An int (or float) setting within [minimum, maximum]; empty means the default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _shards() -> tuple[bool, int | None, tuple[int, ...]]:
    """BOT_SHARDS (empty: one gateway connection, unsharded; ``auto``: as many shards as Discord recommends; N)
    and BOT_SHARD_IDS (the shards this process runs, ``0,1`` or ``0-3``; empty: all): (sharded, count, ids)."""
    raw = os.environ.get("BOT_SHARDS", "").strip().lower()
    ids_raw = os.environ.get("BOT_SHARD_IDS", "").strip()
    if not raw:
        if ids_raw:
            raise SettingsError("BOT_SHARD_IDS needs BOT_SHARDS set to the total number of shards")
        return False, None, ()
    count = None if raw == "auto" else _number("BOT_SHARDS", None, 1, 100_000)
    if not ids_raw:
        return True, count, ()
    if count is None:
        raise SettingsError("BOT_SHARD_IDS needs BOT_SHARDS to be a number (every process must agree on the total), "
                            "not auto")
    ids: set[int] = set()
    for part in ids_raw.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise SettingsError(f"BOT_SHARD_IDS must be shard numbers or ranges like 0,2-3, got {part.strip()!r}")
        span = range(int(low), int(high or low) + 1)
        if not span:
            raise SettingsError(f"BOT_SHARD_IDS range {part.strip()!r} runs backwards: write it low-high, like "
                                f"{high}-{low}")
        if span[-1] >= count:
            raise SettingsError(f"BOT_SHARD_IDS {part.strip()!r} is not within 0..{count - 1} (BOT_SHARDS={count})")
        ids.update(span)
    return True, count, tuple(sorted(ids))


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default, for an empty value)."""
    raw = os.environ.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _path(name: str, default: Path | None) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else default


@dataclass(frozen=True)
class Settings:
    discord_token: str | None = field(default=None, repr=False)
    guild_id: int | None = None
    admin_role_ids: frozenset[int] = frozenset()
    admin_user_ids: frozenset[int] = frozenset()
    checkpoint_dir: Path = field(default_factory=checkpoint_root)
    data_dir: Path = field(default_factory=user_data_dir)
    music_corpus_dir: Path | None = None
    text_corpus: Path | None = None
    lyrics_corpus: Path | None = None
    generation_workers: int = os.cpu_count() or 2
    queue_depth: int = 64
    user_max_jobs: int = 2
    user_burst: int = 5
    user_rate: float = 0.5
    shared_limits: bool = False  # per-user limits kept in DATA_DIR/limits.sqlite3, for every process over it
    max_batch: int = 32
    exact_batching: bool = False
    blas_threads: int = 1
    history_days: float = 30.0
    history_max_rows: int = 100_000
    output_dir: Path = Path("out")
    sharded: bool = False  # gateway sharding (BOT_SHARDS set); shard_count None: as Discord recommends
    shard_count: int | None = None
    shard_ids: tuple[int, ...] = ()  # the shards this process runs (empty: all of them)
    generation_backend: str = "local"  # "local": in this process; "ray": Ray Serve replicas (bot/ray_backend.py)
    generation_fallback: str = "refuse"  # with "ray" and the cluster unreachable: "local" serves in-process instead
    ray_address: str = ""  # empty: a local Ray instance on this machine
    ray_replicas: int = 1
    ray_max_replicas: int = 1  # above ray_replicas: autoscaling on queued requests up to this many
    ray_cpus_per_replica: float | None = None  # None: fitted to the cluster (generators.ray_serve.fit_replicas)

    @property
    def syncs_commands(self) -> bool:
        """The process that runs shard 0 (or the only process) syncs the slash commands; the others leave it."""
        return not self.shard_ids or 0 in self.shard_ids

    @classmethod
    def from_env(cls, load_dotenv_file: bool = True) -> "Settings":
        if load_dotenv_file:
            load_dotenv(find_dotenv(usecwd=True), override=False)  # the .env beside the user, not the package
        token = os.environ.get("DISCORD_TOKEN", "").strip() or None
        if token is not None and (len(token) < 20 or any(c.isspace() for c in token)):
            raise SettingsError("DISCORD_TOKEN is malformed (expected a bot token without spaces)")
        guild = os.environ.get("DISCORD_GUILD_ID", "").strip()
        if guild and not guild.isdigit():
            raise SettingsError(f"DISCORD_GUILD_ID must be a Discord ID (digits), got {guild!r}")
        data_dir = _path("DATA_DIR", user_data_dir())
        sharded, shard_count, shard_ids = _shards()
        backend = _choice("GENERATION_BACKEND", ("local", "ray"))
        replicas = _number("RAY_REPLICAS", 1, 1, 1000)
        return cls(
            discord_token=token,
            guild_id=int(guild) if guild else None,
            admin_role_ids=_ids("BOT_ADMIN_ROLE_IDS"),
            admin_user_ids=_ids("BOT_ADMIN_USER_IDS"),
            checkpoint_dir=checkpoint_root(),
            data_dir=data_dir,
            music_corpus_dir=_path("MUSIC_CORPUS_DIR", data_dir / "music"),
            text_corpus=_path("TEXT_CORPUS", data_dir / "text.txt"),
            lyrics_corpus=_path("LYRICS_CORPUS", data_dir / "lyrics.txt"),
            generation_workers=_number("GENERATION_WORKERS", os.cpu_count() or 2, 1, 64),
            queue_depth=_number("BOT_QUEUE_DEPTH", 64, 1, 10_000),
            user_max_jobs=_number("BOT_USER_MAX_JOBS", 2, 1, 100),
            user_burst=_number("BOT_USER_BURST", 5, 0, 1000),
            user_rate=_number("BOT_USER_RATE", 0.5, 0.001, 1000.0, kind=float),
            shared_limits={"auto": bool(shard_ids), "on": True, "off": False}[
                _choice("BOT_SHARED_LIMITS", ("auto", "on", "off"))],
            max_batch=_number("BOT_MAX_BATCH", 32, 0, 256),
            exact_batching=bool(_number("BOT_EXACT_BATCHING", 0, 0, 1)),
            blas_threads=_number("BOT_BLAS_THREADS", 1, 0, 256),
            history_days=_number("BOT_HISTORY_DAYS", 30.0, 0.01, 36_500.0, kind=float),
            history_max_rows=_number("BOT_HISTORY_MAX_ROWS", 100_000, 10, 100_000_000),
            output_dir=_path("BOT_OUTPUT_DIR", Path("out")),
            sharded=sharded,
            shard_count=shard_count,
            shard_ids=shard_ids,
            generation_backend=backend,
            generation_fallback=_choice("GENERATION_FALLBACK", ("refuse", "local")),
            ray_address=os.environ.get("RAY_ADDRESS", "").strip(),
            ray_replicas=replicas,
            ray_max_replicas=_number("RAY_MAX_REPLICAS", replicas, replicas, 1000),
            ray_cpus_per_replica=(None if os.environ.get("RAY_CPUS_PER_REPLICA", "").strip().lower() in ("", "auto")
                                  else _number("RAY_CPUS_PER_REPLICA", None, 0.0, 256.0, kind=float)),
        )
