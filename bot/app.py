"""Start-up: settings, logging, the generators, and the transport (Discord, or the local console)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sqlite3
import sys
import tempfile
from pathlib import Path

from generators.errors import GeneratorError
from generators.serving import limit_blas_threads, load_generator

from .commands import MODELS, Commands
from .console import run_console
from .discord_app import DiscordUnreachable
from .discord_app import run as run_discord
from .history import History
from .jobs import JobQueue
from .limits import SharedLimits
from .ray_backend import BackendUnavailable  # (the module imports Ray only when the Ray backend connects)
from .retrain import RetrainManager
from .settings import Settings, SettingsError

log = logging.getLogger("bot")


def configure_logging(level: int = logging.INFO) -> None:
    """The one logging configuration point."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("discord").setLevel(max(level, logging.INFO))
    for name in ("discord.client", "discord.voice_state"):  # (the bot has no voice: no PyNaCl notice at start-up)
        logging.getLogger(name).addFilter(lambda record: "voice will NOT be supported" not in record.getMessage())


def generation_backend(settings: Settings):
    """``(load, trainer)`` for the settings' backend: in this process (None for the default trainer), or on Ray
    (imported only then). An unreachable cluster raises ``BackendUnavailable`` unless GENERATION_FALLBACK=local."""
    if settings.generation_backend != "ray":
        return load_generator, None
    from .ray_backend import RayBackend

    try:
        backend = RayBackend.connect(settings)
    except BackendUnavailable as exc:
        if settings.generation_fallback != "local":
            raise
        log.warning("%s; GENERATION_FALLBACK=local: generating in this process", exc)
        return load_generator, None
    return backend.load, backend.trainer


def build_commands(settings: Settings, generators: dict | None = None):
    """The command layer with its job queue and retrain manager; loads each serving checkpoint once."""
    # With batching, most pool threads only wait for their request's turn in a batch: one per batch row,
    # plus the workers that prepare requests and write their files.
    limits = None
    if settings.shared_limits:  # several processes (the shards of one bot) over one DATA_DIR count a user once
        try:
            limits = SharedLimits(settings.data_dir, settings.user_max_jobs, settings.user_burst,
                                  settings.user_rate).open()
        except (sqlite3.Error, OSError) as exc:
            log.warning("shared user limits are off (%s cannot be used: %s); each process counts its own",
                        settings.data_dir / "limits.sqlite3", exc)
    jobs = JobQueue(settings.generation_workers + settings.max_batch, settings.queue_depth, settings.user_max_jobs,
                    settings.user_burst, settings.user_rate, limits=limits)
    corpora = {"text": settings.text_corpus, "lyrics": settings.lyrics_corpus, "music": settings.music_corpus_dir}
    history = History(settings.data_dir, retention_days=settings.history_days,
                      max_rows=settings.history_max_rows).open()
    commands = Commands({}, jobs, max_batch=settings.max_batch, exact_batching=settings.exact_batching, history=history,
                        primer_dir=settings.data_dir / "primers")
    load, trainer = generation_backend(settings) if generators is None else (load_generator, None)
    commands.retrainer = RetrainManager(settings.data_dir, corpora, settings.checkpoint_dir, load, commands.swap,
                                        trainer=trainer)
    if generators is None:
        generators = {}
        for model in MODELS:
            path = commands.retrainer.current(model)
            try:
                generators[model] = load(model, path)
            except GeneratorError as exc:
                log.warning("model %s not loaded: %s", model, exc)
    commands.serve(generators)
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Ghostwriter's Discord bot.")
    parser.add_argument("--console", action="store_true",
                        help="use the local console instead of Discord (the default when DISCORD_TOKEN is unset)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = args.console or settings.discord_token is None
    configure_logging(logging.DEBUG if args.verbose else logging.WARNING if console else logging.INFO)
    if console and not args.console:
        print("DISCORD_TOKEN is not set: using the local console (type /help).", file=sys.stderr)
    if console:  # one local operator: the per-user rate limit is for Discord crowds
        settings = dataclasses.replace(settings, user_burst=0)
        problem = _unwritable(settings.output_dir)
        if problem:
            print(f"error: BOT_OUTPUT_DIR ({settings.output_dir}): {problem}", file=sys.stderr)
            return 2
    with limit_blas_threads(settings.blas_threads):
        return _serve(settings, console)


def _serve(settings: Settings, console: bool) -> int:
    try:
        commands = build_commands(settings)
    except BackendUnavailable as exc:
        print(f"error: {exc} (GENERATION_BACKEND=ray; set GENERATION_FALLBACK=local to generate in this process "
              f"instead)", file=sys.stderr)
        return 1
    # SIGTERM (a service manager stopping the bot) unwinds like Ctrl-C, so training children are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    code = 0
    try:
        if not console:
            run_discord(settings, commands)
        else:
            code = 1 if asyncio.run(run_console(commands, settings.output_dir)) else 0
    except DiscordUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:  # Ctrl-C: a clean stop, no traceback
        print("stopped", file=sys.stderr)
        code = 130
    except SystemExit as exc:  # SIGTERM
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        commands.shutdown()
    if not commands.jobs.wait_idle(5.0):  # a long piece still running: leave now, a stop is never ignored
        log.warning("stopping with a generation still running; it is abandoned")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _unwritable(folder: Path) -> str | None:
    """Why the console could not write its attachments into ``folder`` (made if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        return "exists and is not a folder"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
