"""Start-up: settings, logging, the generators, and the transport (Discord, or the local console)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .settings import Settings, SettingsError

log = logging.getLogger("bot")


def configure_logging(level: int = logging.INFO) -> None:
    """The one logging configuration point."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("discord").setLevel(max(level, logging.INFO))


def load_generators(settings: Settings) -> dict:
    """Load each checkpoint once; a model whose checkpoint is missing or broken is left out and logged."""
    from generators.errors import GeneratorError
    from generators.music.generator import MusicGenerator
    from generators.text import CharGenerator

    loaded = {}
    for model, cls in (("text", CharGenerator), ("lyrics", CharGenerator), ("music", MusicGenerator)):
        path = settings.checkpoint_dir / model
        try:
            loaded[model] = cls.load(path)
        except GeneratorError as exc:
            log.warning("model %s not loaded: %s", model, exc)
    return loaded


def build_commands(settings: Settings, generators: dict | None = None):
    from .commands import Commands
    from .jobs import JobQueue

    jobs = JobQueue(settings.generation_workers, settings.queue_depth, settings.user_max_jobs,
                    settings.user_cooldown_s)
    return Commands(load_generators(settings) if generators is None else generators, jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Ghostwriter's Discord bot.")
    parser.add_argument("--console", action="store_true",
                        help="use the local console instead of Discord (the default when DISCORD_TOKEN is unset)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.WARNING if args.console else logging.INFO)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = args.console or settings.discord_token is None
    if console and not args.console:
        print("DISCORD_TOKEN is not set: using the local console (type /help).", file=sys.stderr)
    if not console:
        print("error: the Discord transport is not available yet; run with --console", file=sys.stderr)
        return 2
    from .console import run_console

    commands = build_commands(settings)
    try:
        errors = asyncio.run(run_console(commands, settings.output_dir))
    finally:
        commands.jobs.shutdown()
    return 1 if errors else 0
