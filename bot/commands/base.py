"""The command layer's shared state: the generators it serves, the job queue, history and buttons.

:class:`CommandsBase` holds what every group of commands uses (``bot/commands/generating.py``,
``results.py``, ``admin.py``); :class:`~bot.commands.Commands` is all of them together.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from generators.errors import GeneratorError
from generators.protocol import Generator

from ..history import HistoryUnavailable, Record, new_id
from ..jobs import Busy, JobQueue
from .core import Button, Invocation, UserError

log = logging.getLogger("bot.commands")
RESULT_ACTIONS = ("continue", "again", "vary_down", "vary_up")
ACTION_LABELS = {"continue": "Continue", "again": "Again", "vary_down": "Calmer (temp −0.1)",
                 "vary_up": "Wilder (temp +0.1)", "listen": "Listen", "open": "Open"}


class CommandsBase:
    """The bot's commands over a set of generators (real ones, or fakes in tests): what they share."""

    def __init__(self, generators: dict[str, Generator], jobs: JobQueue, *, retrainer: Any = None,
                 clock: Callable[[], float] = time.perf_counter, max_batch: int = 0, exact_batching: bool = False,
                 history: Any = None, primer_dir: Path | None = None):
        self.jobs = jobs
        self.history = history  # a bot.history.History, or None: no buttons, no /history
        self.primer_dir = primer_dir or Path(tempfile.gettempdir()) / "ghostwriter-primers"
        self.retrainer = retrainer  # a RetrainManager, or None where retraining is off
        self.clock = clock
        self.max_batch = max_batch  # > 0: concurrent requests for a model are stepped together
        self.exact_batching = exact_batching  # each row stepped alone: results independent of the crowd, slower
        self.background: set = set()
        self.generators: dict[str, Generator] = {}  # replaced whole on a model swap; running jobs keep their object
        self.serve(generators)

    def _batched(self, generator: Generator) -> Generator:
        """Ready ``generator`` to serve: a remote one rolled out to its replicas (blocking), a local one with its
        batching loop when batching is on."""
        generator.ready(self.max_batch, exact=self.exact_batching)
        return generator

    def serve(self, generators: dict[str, Generator]) -> None:
        """Serve these generators (each with its batching loop when batching is on)."""
        self.generators = {model: self._batched(gen) for model, gen in generators.items()}

    def generator(self, model: str) -> Generator:
        gen = self.generators.get(model)
        if gen is None:
            raise UserError(f"the {model} model is not available right now (no checkpoint loaded)")
        return gen

    def swap(self, model: str, generator: Generator) -> None:
        """Serve ``generator`` for ``model``; the old one's batching loop drains (its requests finish)."""
        old = self.generators.get(model)
        self.generators = {**self.generators, model: self._batched(generator)}
        if old is not None and old is not generator:
            old.retire()

    def shutdown(self) -> None:
        """The bot is stopping: stop training children, the generation pool and the batching loops."""
        if self.retrainer is not None:
            self.retrainer.shutdown()
        self.jobs.shutdown()
        for gen in self.generators.values():
            gen.retire()
        if self.history is not None:
            self.history.close()

    async def _generate(self, inv: Invocation, command: str, fn: Callable, *args) -> Any:
        start = self.clock()
        outcome = "ok"
        try:
            return await self.jobs.run(inv.user_id, fn, *args)
        except Busy:
            outcome = "busy"
            raise
        except GeneratorError:
            outcome = "bad input"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            log.info("interaction=%s user=%s command=%s duration=%.3fs outcome=%s", inv.interaction_id,
                     inv.user_id, command, self.clock() - start, outcome)

    # -- history and buttons ---------------------------------------------------------
    def _version(self, model: str) -> str:
        if self.retrainer is None:
            return "shipped"
        name = self.retrainer.current(model).name
        return "shipped" if name == model else name

    def _version_exists(self, model: str, version: str) -> bool:
        return version == "shipped" or (self.retrainer is not None and version in self.retrainer.versions(model))

    async def _remember(self, inv: Invocation, command: str, model: str, options: dict, rng_seed: int, text: str, *,
                        midi: bytes | None = None, model_s: float | None, total_s: float, action: str,
                        parent: str | None) -> str | None:
        """Store the generation; its id (for buttons), or None when history is off or failed (logged)."""
        if self.history is None or not self.history.available:
            return None
        rec = Record(id=new_id(), created=time.time(), user_id=inv.user_id, user_name=inv.user_name,
                     channel_id=inv.channel_id, command=command, options=options, rng_seed=rng_seed, model=model,
                     model_version=self._version(model), output_text=text, action=action, parent_id=parent,
                     model_s=model_s, total_s=total_s)
        try:
            await self.history.record(rec, midi)
        except HistoryUnavailable:  # reported once, when it went off (log and /status)
            return None
        except Exception:
            log.exception("history: could not record %s", rec.id)
            return None
        return rec.id

    def _buttons(self, model: str, gen_id: str | None) -> list[Button]:
        if gen_id is None:
            return []
        actions = RESULT_ACTIONS + (("listen",) if model == "music" else ())
        return [Button(a, gen_id, ACTION_LABELS[a]) for a in actions]

    async def _record(self, gen_id: str):
        if self.history is None:
            raise UserError("History is off on this bot, so results cannot be acted on later.")
        try:
            rec = await self.history.get(gen_id)
        except HistoryUnavailable as exc:
            raise UserError(f"That result cannot be found: {exc}.") from None
        if rec is None:
            raise UserError("That result is no longer in the history (older results are removed after "
                            f"{self.history.retention_days:g} days).")
        return rec
