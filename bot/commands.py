"""The command layer: what each slash command does, with no Discord in it.

Both transports (Discord and the local console) call :class:`Commands` with an
:class:`Invocation` and typed options, and get a :class:`Reply` back. Option
ranges live in :data:`OPTIONS`, the single source for the Discord signatures,
the console parser and the checks here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from generators.errors import GeneratorError

from .jobs import Busy, JobQueue

log = logging.getLogger("bot.commands")

MODELS = ("text", "lyrics", "music")
MESSAGE_LIMIT = 2000  # Discord's limit for one message
MAX_SEED_CHARS = 500
REPORT_SAMPLE_NOTES = 100  # the retrain report's music sample
REPORT_SAMPLE_CHARS = 300  # and its text sample


KIND_NAMES = {int: "a whole number", float: "a number", str: "text"}


def _number(x: float) -> str:
    """``4294967295`` stays an integer, ``0.1`` stays short: never ``4.29497e+09``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Option:
    name: str
    kind: type
    description: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    max_length: int | None = None

    def check(self, value: Any) -> Any:
        """Convert and validate one value; raise :class:`UserError` naming the option."""
        if value is None:
            return self.default
        try:
            if self.kind is int and isinstance(value, str):
                value = int(value)
            elif self.kind is float and isinstance(value, str):
                value = float(value)
            elif self.kind is str:
                value = str(value)
        except ValueError:
            raise UserError(f"`{self.name}` must be {KIND_NAMES.get(self.kind, 'text')}, got {value!r}") from None
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise UserError(f"`{self.name}` must be between {_number(self.min)} and {_number(self.max)}, "
                            f"got {_number(value)}")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"`{self.name}` must be one of {', '.join(map(str, self.choices))}")
        if self.max_length is not None and isinstance(value, str) and len(value) > self.max_length:
            raise UserError(f"`{self.name}` is too long ({len(value)} characters, at most {self.max_length})")
        return value


RNG = Option("rng_seed", int, "random seed; the same seed repeats a result", None, 0, 2**32 - 1)
OPTIONS: dict[str, dict[str, Option]] = {
    "lyrics": {o.name: o for o in (
        Option("seed", str, "how the lyrics begin", "", max_length=MAX_SEED_CHARS),
        Option("temp", float, "temperature: low is safe, high is wild", 0.5, 0.1, 2.0),
        Option("length", int, "characters to write", 400, 50, 2000),
        RNG)},
    "text": {o.name: o for o in (
        Option("seed", str, "how the text begins", "", max_length=MAX_SEED_CHARS),
        Option("temp", float, "temperature: low is safe, high is wild", 0.5, 0.1, 2.0),
        Option("length", int, "characters to write", 400, 50, 2000),
        RNG)},
    "compose": {o.name: o for o in (
        Option("notes", int, "notes to write (each note of a chord counts); default 500", None, 1, 2000),
        Option("bars", int, "or: bars of 4/4 to write", None, 1, 200),
        Option("seconds", float, "or: seconds of music to write", None, 1, 600),
        Option("key", str, "key, e.g. 'D minor', 'F#', 'Bb major' (default: the primer's or random)", "random",
               max_length=30),
        Option("temp", float, "temperature: low is safe, high is wild", 0.9, 0.1, 2.0),
        Option("tempo", int, "tempo in BPM", 120, 20, 300),
        Option("instrument", str, "General MIDI instrument name or number", "piano", max_length=40),
        Option("primer", str, "'random', or notes like C4 E4 G4", "random", max_length=200),
        RNG)},
}


RETRAIN_EPOCHS = Option("epochs", int, "stop after this many epochs", None, 1, 1000)
RETRAIN_MINUTES = Option("minutes", float, "stop after this many minutes", None, 1, 24 * 60)


class UserError(Exception):
    """Bad input from the user; the message is shown to them (ephemeral in Discord)."""


@dataclass
class Attachment:
    filename: str
    data: bytes
    description: str = ""


@dataclass
class Reply:
    content: str = ""
    files: list[Attachment] = field(default_factory=list)
    ephemeral: bool = False


@dataclass(frozen=True)
class Invocation:
    """Who asked, for limits, admin checks and logs."""

    user_id: int
    user_name: str = ""
    is_admin: bool = False
    interaction_id: str = ""


class Commands:
    """The bot's commands over a set of generators (real ones, or fakes in tests)."""

    def __init__(self, generators: dict[str, Any], jobs: JobQueue, *, retrainer: Any = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.generators = generators  # replaced whole on a model swap; running jobs keep their object
        self.jobs = jobs
        self.retrainer = retrainer  # a RetrainManager, or None where retraining is off
        self.clock = clock
        self.background: set = set()

    def generator(self, model: str) -> Any:
        gen = self.generators.get(model)
        if gen is None:
            raise UserError(f"the {model} model is not available right now (no checkpoint loaded)")
        return gen

    def swap(self, model: str, generator: Any) -> None:
        self.generators = {**self.generators, model: generator}

    def shutdown(self) -> None:
        """The bot is stopping: stop training children and the generation pool."""
        if self.retrainer is not None:
            self.retrainer.shutdown()
        self.jobs.shutdown()

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

    async def write(self, inv: Invocation, model: str, seed: str | None = None, temp: float | None = None,
                    length: int | None = None, rng_seed: int | None = None) -> Reply:
        """`/lyrics` and `/text`: text that begins with the seed."""
        opts = OPTIONS[model]
        seed, temp, length, rng_seed = (opts[n].check(v) for n, v in
                                        (("seed", seed), ("temp", temp), ("length", length), ("rng_seed", rng_seed)))
        if "\x00" in seed:
            raise UserError("`seed` must be text")
        gen = self.generator(model)
        result = await self._generate(inv, model, lambda: gen.generate(seed, length=length, temperature=temp,
                                                                        rng_seed=rng_seed))
        footer = f"\n-# rng_seed {result.rng_seed} · temp {temp:g}"
        if result.replaced:
            footer += " · replaced " + ", ".join(f"{k!r}→{v!r}" for k, v in list(result.replaced.items())[:8])
        body = result.text
        if len(body) + len(footer) <= MESSAGE_LIMIT:
            return Reply(body + footer)
        return Reply(body[: MESSAGE_LIMIT - len(footer) - 40].rsplit("\n", 1)[0] + "\n…(full text attached)" + footer,
                     files=[Attachment(f"{model}-{result.rng_seed}.txt", body.encode("utf-8"))])

    async def compose(self, inv: Invocation, notes: int | None = None, temp: float | None = None,
                      tempo: int | None = None, instrument: str | None = None, primer: str | None = None,
                      rng_seed: int | None = None, key: str | None = None, bars: int | None = None,
                      seconds: float | None = None) -> Reply:
        """`/compose`: a MIDI file, its piano roll, a summary, and an audio preview where FluidSynth is installed."""
        from .render import piano_roll_png, preview_midi, render_audio

        opts = OPTIONS["compose"]
        notes, bars, seconds, key, temp, tempo, instrument, primer, rng_seed = (
            opts[n].check(v) for n, v in (("notes", notes), ("bars", bars), ("seconds", seconds), ("key", key),
                                          ("temp", temp), ("tempo", tempo), ("instrument", instrument),
                                          ("primer", primer), ("rng_seed", rng_seed)))
        if primer.strip().lower().endswith((".mid", ".midi")):
            raise UserError("`primer` must be 'random' or notes like `C4 E4 G4 C5`")
        given = [name for name, v in (("notes", notes), ("bars", bars), ("seconds", seconds)) if v is not None]
        if len(given) > 1:
            raise UserError(f"give one length: `notes`, `bars` or `seconds` (got {' and '.join(given)})")
        gen = self.generator("music")

        def work():
            r = gen.generate(notes, bars=bars, seconds=seconds, key=key, temperature=temp, tempo=tempo,
                             instrument=instrument,
                             primer=None if primer.strip().lower() in ("", "random") else primer, rng_seed=rng_seed)
            return r, piano_roll_png(r.notes, r.tempo), render_audio(preview_midi(r))

        result, png, audio = await self._generate(inv, "compose", work)
        stem = f"compose-{result.rng_seed}"
        files = [Attachment(f"{stem}.mid", result.midi, "MIDI"), Attachment(f"{stem}.png", png, "piano roll")]
        if audio is not None:
            files.append(Attachment(f"{stem}.ogg", audio, "audio preview"))
        return Reply(f"🎹 {result.summary()} · primer {result.primer}\n-# rng_seed {result.rng_seed} · temp {temp:g}",
                     files=files)

    # -- admin ---------------------------------------------------------------
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
        import asyncio

        manager = self._admin(inv)
        if model not in MODELS:
            raise UserError(f"unknown model {model!r}; choose {', '.join(MODELS)}")
        epochs = RETRAIN_EPOCHS.check(epochs)
        minutes = RETRAIN_MINUTES.check(minutes)
        if manager.running(model):
            job = manager.running(model)
            raise UserError(f"{model} is already retraining (started by {job.started_by}, epoch "
                            f"{job.last.get('epoch', 0)}); `/retrain cancel` stops it")
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
                report = Reply(f"⚠️ {exc}", ephemeral=True)
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
        import asyncio

        figures = outcome.figures or {}
        lines = [("✅ " if outcome.promoted else "ℹ️ ") + outcome.message]
        if figures.get("epochs"):
            lines.append(f"-# {figures['epochs']} epoch{'s' if figures['epochs'] != 1 else ''} in "
                         f"{(figures.get('wall_time_s') or 0) / 60:.1f} min")
        gen = outcome.generator
        if gen is None or not hasattr(gen, "generate"):
            return Reply("\n".join(lines))

        def build() -> tuple[str, list[Attachment]]:
            from .render import loss_curve_png, piano_roll_png

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
        import asyncio

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
                lines.append(f"- retraining `{model}` ({job.version}, started by {job.started_by}): epoch "
                             f"{job.last.get('epoch', 0)}, val_loss {job.last.get('val_loss', float('nan')):.3f}")
        j = self.jobs
        lines.append(f"**Queue**: {j.active} jobs queued or running, {j.workers} workers, limit {j.queue_depth}")
        return Reply("\n".join(lines), ephemeral=True)

    @staticmethod
    def help() -> Reply:
        return Reply(HELP, ephemeral=True)


HELP = """**Ghostwriter** writes lyrics, prose and music.
- `/lyrics seed:"Yeah, oho" temp:0.5 length:400`: song lyrics that begin with the seed
- `/text seed:"the truth is" temp:0.6`: prose in the style of the `text` model
- `/compose notes:500 key:"D minor" tempo:100 instrument:violin primer:"C4 E4 G4"` (or `bars:16`, `seconds:30` instead of `notes`): a MIDI file, its piano roll and a summary
- `/status`: the models, the queue and any retraining
- `/retrain music` (admins): retrain a model on the team corpus; `/retrain cancel music`, `/retrain rollback music`
Every reply shows its `rng_seed`; pass it back (`rng_seed:1234`) to get the same result again.
`temp` runs from 0.1 (safe, repetitive) to 2.0 (wild)."""
