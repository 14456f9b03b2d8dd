"""Administration: /retrain (start, cancel, rollback, promote), /corpus, /status and /help."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from generators.protocol import Generator

from ..render import loss_curve_png, piano_roll_png
from .base import CommandsBase
from .core import MESSAGE_LIMIT, MODELS, Attachment, Invocation, Reply, UserError, user_message
from .options import RETRAIN_EPOCHS, RETRAIN_MINUTES, options_help

log = logging.getLogger("bot.commands")
REPORT_SAMPLE_NOTES = 100  # the retrain report's music sample
REPORT_SAMPLE_CHARS = 300  # and its text sample


class AdminCommands(CommandsBase):
    def _admin(self, inv: Invocation) -> Any:
        if not inv.is_admin:
            raise UserError("Only admins can do that.")
        if self.retrainer is None:
            raise UserError("Retraining is not enabled on this bot.")
        return self.retrainer

    async def retrain(self, inv: Invocation, model: str, *, epochs: int | None = None, minutes: float | None = None,
                      uploads: list[tuple[str, bytes | None]] | None = None, on_progress: Callable | None = None,
                      on_done: Callable | None = None) -> Reply:
        """`/retrain MODEL`: start training in the background; ``on_done(report)`` gets the final report (a
        :class:`Reply`: the outcome with before/after validation loss, epochs and wall time, a loss-curve PNG
        and a short sample from the new model). The transport decides where progress and report go."""
        manager = self._admin(inv)
        if model not in MODELS:
            raise UserError(f"unknown model {model!r}; choose {', '.join(MODELS)}")
        epochs = RETRAIN_EPOCHS.check(epochs)
        minutes = RETRAIN_MINUTES.check(minutes)
        manager.check_free(model)  # (before any attachment joins the corpus)
        added = ""
        if uploads:  # attachments join the team corpus first, validated as by /corpus add
            result = await asyncio.get_running_loop().run_in_executor(self.jobs.executor, manager.corpus.add, model,
                                                                      uploads)
            if not result.accepted:
                rejections = result.summary().split("\n", 1)[1]  # the lines after "Accepted 0 file(s)."
                raise UserError(f"none of the attachments could be used, so nothing was retrained.\n{rejections}")
            added = result.summary() + "\n"
        started = asyncio.Event()
        began = []  # set once the child process is about to start

        def mark_started() -> None:
            began.append(True)
            started.set()

        async def task() -> Reply:
            try:
                outcome = await manager.retrain(model, user=inv.user_name or str(inv.user_id), epochs=epochs,
                                                minutes=minutes, on_progress=on_progress, before_start=mark_started)
                report = await self._retrain_report(model, outcome)
            except UserError as exc:
                report = Reply(user_message(exc), ephemeral=True)
            except Exception:
                log.exception("retrain %s crashed", model)
                report = Reply(f"⚠️ Retraining {model} crashed; the current model keeps serving.")
            started.set()
            if began and on_done is not None:
                try:
                    await on_done(report)
                except Exception:  # the report could not be delivered anywhere: say so in the log
                    log.exception("the retrain report for %s could not be delivered", model)
            return report

        t = asyncio.ensure_future(task())
        self.background.add(t)
        t.add_done_callback(self.background.discard)
        await started.wait()
        if t.done():  # refused before starting
            return Reply(added + t.result().content, ephemeral=True)
        budget = f"{minutes:g} min" if minutes else f"{epochs} epoch{'s' if epochs != 1 else ''}" if epochs else "until early stopping"
        return Reply(f"{added}Retraining `{model}` on the team corpus ({budget}). The current model keeps serving "
                     "meanwhile.")

    async def _retrain_report(self, model: str, outcome) -> Reply:
        """The final report: the outcome, epochs and wall time, a loss curve and a sample of the new model."""
        figures = outcome.figures or {}
        lines = [("✅ " if outcome.promoted else "ℹ️ ") + outcome.message]
        if figures.get("epochs"):
            lines.append(f"-# {figures['epochs']} epoch{'s' if figures['epochs'] != 1 else ''} in "
                         f"{(figures.get('wall_time_s') or 0) / 60:.1f} min")
        gen = outcome.generator
        if not isinstance(gen, Generator):  # (none, or a stand-in)
            return Reply("\n".join(lines))

        def build() -> tuple[str, list[Attachment]]:
            files = []
            history = (getattr(gen, "metrics", None) or {}).get("history") or []
            if history:
                files.append(Attachment(f"{model}-loss.png", loss_curve_png(history, getattr(gen, "unit", "token")),
                                        "loss curve"))
            if model == "music":
                r = gen.generate(REPORT_SAMPLE_NOTES, rng_seed=1)
                files += [Attachment(f"{model}-sample.mid", r.midi, "sample"),
                          Attachment(f"{model}-sample.png", piano_roll_png(r.notes, r.tempo), "sample piano roll")]
                return f"Sample: {r.summary()}", files
            text = gen.generate("", length=REPORT_SAMPLE_CHARS, temperature=0.6, rng_seed=1).text.strip()
            return "Sample:\n" + "\n".join("> " + line for line in text.splitlines()[:8]), files

        try:
            sample, files = await asyncio.get_running_loop().run_in_executor(self.jobs.executor, build)
        except Exception:
            log.exception("retrain report for %s: sample or loss curve failed", model)
            return Reply("\n".join(lines))
        return Reply("\n".join(lines + [sample])[:MESSAGE_LIMIT], files=files)

    async def corpus_add(self, inv: Invocation, model: str, uploads: list[tuple[str, bytes]]) -> Reply:
        """`/corpus add`: validate uploads and add what passes to the model's team corpus."""
        manager = self._admin(inv)
        if model not in MODELS:
            raise UserError(f"unknown model {model!r}; choose {', '.join(MODELS)}")
        if not uploads:
            raise UserError("attach at least one file")
        result = await asyncio.get_running_loop().run_in_executor(self.jobs.executor, manager.corpus.add, model, uploads)
        return Reply(result.summary(), ephemeral=not result.accepted)

    def corpus_list(self) -> Reply:
        if self.retrainer is None:
            raise UserError("Retraining is not enabled on this bot.")
        return Reply(self.retrainer.corpus.describe(), ephemeral=True)

    def cancel_retrain(self, inv: Invocation, model: str) -> Reply:
        return Reply(self._admin(inv).cancel(model))

    async def rollback(self, inv: Invocation, model: str) -> Reply:
        return Reply(await self._admin(inv).rollback(model))

    async def promote(self, inv: Invocation, model: str) -> Reply:
        """`/retrain promote MODEL`: serve the newest version although it was not better."""
        return Reply(await self._admin(inv).promote(model))

    def status(self) -> Reply:
        """`/status`: each model's checkpoint and the queue."""
        lines = ["**Models**"]
        for model in MODELS:
            gen = self.generators.get(model)
            if gen is None:
                lines.append(f"- `{model}`: not loaded")
                continue
            m = getattr(gen, "metrics", {}) or {}
            unit = getattr(gen, "unit", "token")
            loss = m.get(f"val_loss_nats_per_{unit}")
            corpus = m.get("corpus", {})
            version = self.retrainer.current(model).name if self.retrainer is not None else "shipped"
            version = "shipped" if version == model else version
            lines.append(f"- `{model}` ({version}): trained {m.get('date', '?')} on "
                         f"{corpus.get('credit') or corpus.get('path', '?')}"
                         + (f", validation loss {loss:.3f} nats/{unit}" if isinstance(loss, (int, float)) else ""))
        for model in MODELS:
            job = self.retrainer.running(model) if self.retrainer is not None else None
            if job is not None:
                lines.append(f"- retraining `{model}` ({job.version}, started by {job.started_by}): {job.progress()}")
        if self.history is not None and self.history.error:
            lines.append(f"**History**: {self.history.error}")
        j = self.jobs
        lines.append(f"**Queue**: {j.active} jobs queued or running, {j.workers} workers, limit {j.queue_depth}")
        return Reply("\n".join(lines), ephemeral=True)

    @staticmethod
    def help() -> Reply:
        return Reply(f"{HELP}\n**Options**\n{options_help()}", ephemeral=True)


HELP = """**Ghostwriter** writes lyrics, prose and music.
- `/lyrics seed:"Yeah, oho" temp:0.5 lines:16 rhyme:ABAB form:"verse chorus verse chorus"`: a song that begins with the seed (its chorus returns; `syllables:8` per line); `length:400` for free-running lyrics instead
- `/text seed:"the truth is" temp:0.6`: prose in the style of the `text` model
- `/compose notes:500 key:"D minor" tempo:100 instrument:violin primer:"C4 E4 G4"` (or `bars:16`, `seconds:30` instead of `notes`; `texture:sparse|medium|full`, `register:low|middle|high`; `form:AABA` for 8-bar sections where A comes back, `chords:"C G Am F"` for a progression to follow): a MIDI file, its piano roll and a summary
- `/compose primer_file:<your .mid>`: continue your own sketch; `instrument` and `key` suggest as you type
- Buttons under each result: **Continue**, **Again** (new seed), **Calmer**/**Wilder** (temp ∓0.1), **Listen** (music)
- `/history`: your last results, to open again · right-click a message → Apps → **Continue lyrics**
- `/status`: the models, the queue and any retraining
- `/retrain music` (admins): retrain a model on the team corpus; `/retrain cancel music`, `/retrain rollback music`
Every reply shows its `rng_seed`; pass it back (`rng_seed:1234`) to get the same result again.
`temp` runs from safe and repetitive (low) to wild (high)."""
