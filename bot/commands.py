"""The command layer: what each slash command does, with no Discord in it.

Both transports (Discord and the local console) call :class:`Commands` with an
:class:`Invocation` and typed options, and get a :class:`Reply` back. Option
ranges live in :data:`OPTIONS`, the single source for the Discord signatures,
the console parser and the checks here.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from generators.errors import GeneratorError

from .jobs import Busy, JobQueue

log = logging.getLogger("bot.commands")

MODELS = ("text", "lyrics", "music")
MESSAGE_LIMIT = 2000  # Discord's limit for one message
MAX_SEED_CHARS = 500
MAX_PIECE_NOTES = 2000  # a piece here, continuations included, has at most this many notes...
MAX_PIECE_SECONDS = 600  # ...and lasts at most this long (as asked for; a piece of N notes is as long as it is)
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
        out_of_range = self.min is not None and not value >= self.min or self.max is not None and not value <= self.max
        if out_of_range and isinstance(value, (int, float)):  # (NaN compares false both ways: out of range)
            raise UserError(f"`{self.name}` must be between {_number(self.min)} and {_number(self.max)}, "
                            f"got {_number(value) if math.isfinite(value) else value}")
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
        Option("notes", int, "notes to write (each note of a chord counts); default 500", None, 1, MAX_PIECE_NOTES),
        Option("bars", int, "or: bars of 4/4 to write", None, 1, 200),
        Option("seconds", float, "or: seconds of music to write", None, 1, MAX_PIECE_SECONDS),
        Option("key", str, "key, e.g. 'D minor', 'F#', 'Bb major' (default: the primer's or random)", "random",
               max_length=30),
        Option("temp", float, "temperature: low is safe, high is wild", 0.9, 0.1, 2.0),
        Option("texture", str, "notes at a time: sparse, medium or full (default: the primer's)", "auto",
               choices=("auto", "sparse", "medium", "full")),
        Option("register", str, "low, middle or high on the keyboard (default: the primer's)", "auto",
               choices=("auto", "low", "middle", "high")),
        Option("tempo", int, "tempo in BPM", 120, 20, 300),
        Option("instrument", str, "General MIDI instrument name or number", "piano", max_length=40),
        Option("primer", str, "'random', or notes like C4 E4 G4", "random", max_length=200),
        RNG)},
}


USAGE_DAYS = Option("days", float, "how many days back", 7, 1, 365)
CONTEXT_CHARS = 4_000  # the text generators' longest seed: a continuation keeps the result's last 4,000 characters
MIN_TEMP, MAX_TEMP, VARY_STEP = 0.1, 2.0, 0.1
HISTORY_SHOWN = 10
RESULT_ACTIONS = ("continue", "again", "vary_down", "vary_up")
ACTION_LABELS = {"continue": "Continue", "again": "Again", "vary_down": "Calmer (temp −0.1)",
                 "vary_up": "Wilder (temp +0.1)", "listen": "Listen", "open": "Open"}


def instrument_suggestions(current: str, limit: int = 25) -> list[str]:
    """General MIDI instrument names for autocomplete: those containing what was typed, prefix matches first."""
    from generators.music.midi_io import GM_NAMES

    typed = (current or "").strip().lower()
    found = [n for n in GM_NAMES if typed in n.lower()]
    return sorted(found, key=lambda n: not n.lower().startswith(typed))[:limit]


def key_suggestions(current: str, limit: int = 25) -> list[str]:
    """Keys for autocomplete ("random", then the 24 major and minor keys), filtered by what was typed."""
    tonics = ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")
    keys = ["random"] + [f"{t} major" for t in tonics] + [f"{t} minor" for t in ("A", "E", "B", "F#", "C#", "G#",
                                                                                   "D#", "Bb", "F", "C", "G", "D")]
    typed = (current or "").strip().lower()
    found = [k for k in keys if typed in k.lower()]
    return sorted(found, key=lambda k: not k.lower().startswith(typed))[:limit]


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


RETRAIN_EPOCHS = Option("epochs", int, "stop after this many epochs", None, 1, 1000)
RETRAIN_MINUTES = Option("minutes", float, "stop after this many minutes", None, 1, 24 * 60)


class UserError(Exception):
    """Bad input from the user; the message is shown to them (ephemeral in Discord)."""


#: An absolute path inside a message (``/srv/data/primers/6dfd.mid``): users see only its last part.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:/[^\s/:'\"()]+){2,}")


def user_message(exc: BaseException) -> str:
    """The line a user sees for an error they can act on (:class:`UserError`, a library ``GeneratorError``,
    :class:`Busy`): the message with server paths cut to their file names."""
    return "⚠️ " + _ABSOLUTE_PATH.sub(lambda m: m.group(0).rsplit("/", 1)[-1], str(exc))


def _stem(rng_seed: int, gen_id: str | None) -> str:
    """A result's file name without suffix: unique per stored generation, so files of two results (Vary keeps
    the RNG seed) never overwrite each other in a folder."""
    return f"compose-{rng_seed}" + (f"-{gen_id[:6]}" if gen_id else "")


def _continuation_budget(previous: list, options: dict) -> tuple[int | None, int, str]:
    """What a continuation of ``previous`` may add within a piece's caps: ``(notes, max_notes, note)``. The
    default or asked-for notes are cut to what is left (``note`` says so); a piece at a cap is refused."""
    spq = 4  # the MIDI files here are read on the sixteenth grid
    so_far_s = max(n.onset + n.duration for n in previous) / spq * 60.0 / options["tempo"]
    left_notes, left_s = MAX_PIECE_NOTES - len(previous), MAX_PIECE_SECONDS - so_far_s
    if left_notes < 1 or left_s < 1:
        raise UserError(f"This piece is already {len(previous):,} notes and {so_far_s:,.0f} s long; a piece here "
                        f"has at most {MAX_PIECE_NOTES:,} notes and {MAX_PIECE_SECONDS} s, so it cannot be continued.")
    asked_s = (options["bars"] * 240 / options["tempo"] if options.get("bars") is not None
               else options.get("seconds"))
    if asked_s is not None:
        if asked_s > left_s:
            raise UserError(f"This piece is {so_far_s:,.0f} s long: it can be continued by at most {left_s:,.0f} s "
                            f"(a piece here lasts at most {MAX_PIECE_SECONDS} s).")
        return None, left_notes, ""
    wanted = options.get("notes") or 500
    if wanted <= left_notes:
        return wanted, left_notes, ""
    return left_notes, left_notes, f"continued by {left_notes:,} notes: a piece here has at most {MAX_PIECE_NOTES:,}"


def _stored_piece(rec, doing: str) -> tuple[bytes, list]:
    """The MIDI and the notes of a stored piece; a :class:`UserError` when its file is gone or damaged."""
    from generators.music.midi_io import midi_bytes_to_notes

    midi = rec.midi()
    if midi is None:
        raise UserError(f"That piece's MIDI file is gone from the history, so it cannot be {doing}.")
    try:
        return midi, midi_bytes_to_notes(midi)
    except Exception:
        raise UserError(f"That piece's MIDI file in the history is damaged, so it cannot be {doing}.") from None


@dataclass
class Attachment:
    filename: str
    data: bytes
    description: str = ""


@dataclass
class Reply:
    """What a command answers. ``later``, when set, makes more attachments after the reply is sent (the
    transport adds them to the sent message, e.g. an audio preview that must never delay the MIDI)."""

    content: str = ""
    files: list[Attachment] = field(default_factory=list)
    ephemeral: bool = False
    later: Callable[[], Awaitable[list[Attachment]]] | None = None
    buttons: list["Button"] = field(default_factory=list)


@dataclass(frozen=True)
class Button:
    """A button under a reply: ``action`` on the stored generation ``target`` (see :meth:`Commands.act`)."""

    action: str
    target: str
    label: str


@dataclass(frozen=True)
class Invocation:
    """Who asked, for limits, admin checks and logs."""

    user_id: int
    user_name: str = ""
    is_admin: bool = False
    interaction_id: str = ""
    channel_id: int | None = None


class Commands:
    """The bot's commands over a set of generators (real ones, or fakes in tests)."""

    def __init__(self, generators: dict[str, Any], jobs: JobQueue, *, retrainer: Any = None,
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
        self.generators: dict[str, Any] = {}  # replaced whole on a model swap; running jobs keep their object
        self.serve(generators)

    def _batched(self, generator: Any) -> Any:
        if self.max_batch and hasattr(generator, "enable_batching"):
            try:
                generator.enable_batching(self.max_batch, exact=self.exact_batching)
            except GeneratorError as exc:  # e.g. a window model: it serves one request per thread
                log.info("batching off for %s: %s", getattr(generator, "kind", "?"), exc)
        return generator

    def serve(self, generators: dict[str, Any]) -> None:
        """Serve these generators (each with its batching loop when batching is on)."""
        self.generators = {model: self._batched(gen) for model, gen in generators.items()}

    def generator(self, model: str) -> Any:
        gen = self.generators.get(model)
        if gen is None:
            raise UserError(f"the {model} model is not available right now (no checkpoint loaded)")
        return gen

    def swap(self, model: str, generator: Any) -> None:
        """Serve ``generator`` for ``model``; the old one's batching loop drains (its requests finish)."""
        old = self.generators.get(model)
        self.generators = {**self.generators, model: self._batched(generator)}
        if old is not None and old is not generator and hasattr(old, "close_batching"):
            old.close_batching()

    def shutdown(self) -> None:
        """The bot is stopping: stop training children, the generation pool and the batching loops."""
        if self.retrainer is not None:
            self.retrainer.shutdown()
        self.jobs.shutdown()
        for gen in self.generators.values():
            if hasattr(gen, "close_batching"):
                gen.close_batching()
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

    async def write(self, inv: Invocation, model: str, seed: str | None = None, temp: float | None = None,
                    length: int | None = None, rng_seed: int | None = None) -> Reply:
        """`/lyrics` and `/text`: text that begins with the seed."""
        opts = OPTIONS[model]
        seed, temp, length, rng_seed = (opts[n].check(v) for n, v in
                                        (("seed", seed), ("temp", temp), ("length", length), ("rng_seed", rng_seed)))
        if "\x00" in seed:
            raise UserError("`seed` must be text")
        return await self._write(inv, model, {"seed": seed, "temp": temp, "length": length}, rng_seed)

    async def continue_text(self, inv: Invocation, model: str, text: str) -> Reply:
        """The *Continue lyrics* message menu: the message's text (its end, if long) is the seed."""
        text = (text or "").replace("\x00", "").strip()
        if not text:
            raise UserError("that message has no text to continue")
        opts = OPTIONS[model]
        return await self._write(inv, model, {"seed": text[-MAX_SEED_CHARS:] + "\n", "temp": opts["temp"].default,
                                              "length": opts["length"].default}, None, action="context")

    async def _write(self, inv: Invocation, model: str, options: dict, rng_seed: int | None, *,
                     action: str = "command", parent: str | None = None, note: str = "") -> Reply:
        """Generate text from stored-form options (a seed of any length: continuing uses the whole result)."""
        gen = self.generator(model)
        seed, temp, length = options["seed"], options["temp"], options["length"]
        head, seed_tail = seed[:-CONTEXT_CHARS] if len(seed) > CONTEXT_CHARS else "", seed[-CONTEXT_CHARS:]
        start = self.clock()
        result = await self._generate(inv, model, lambda: gen.generate(seed_tail, length=length, temperature=temp,
                                                                        rng_seed=rng_seed))
        text = head + result.text
        gen_id = await self._remember(inv, model, model, options, result.rng_seed, text,
                                      model_s=getattr(result, "seconds", None), total_s=self.clock() - start,
                                      action=action, parent=parent)
        return self._text_reply(model, text, result.rng_seed, temp, gen_id, note=note,
                                replaced=getattr(result, "replaced", None), tail=action == "continue")

    def _text_reply(self, model: str, text: str, rng_seed: int, temp: float, gen_id: str | None, *,
                    note: str = "", replaced: dict | None = None, ephemeral: bool = False, tail: bool = False) -> Reply:
        """The text with its footer; too long for one message, a preview (its end, with ``tail``) and the file."""
        footer = f"\n-# rng_seed {rng_seed} · temp {temp:g}"
        if replaced:
            footer += " · replaced " + ", ".join(f"{k!r}→{v!r}" for k, v in list(replaced.items())[:8])
        head = f"-# {note}\n" if note else ""
        buttons = self._buttons(model, gen_id)
        if len(head) + len(text) + len(footer) <= MESSAGE_LIMIT:
            return Reply(head + text + footer, buttons=buttons, ephemeral=ephemeral)
        keep = MESSAGE_LIMIT - len(head) - len(footer) - 40
        shown = "…" + text[-keep:].split("\n", 1)[-1] if tail else text[:keep].rsplit("\n", 1)[0]
        return Reply(head + shown + "\n…(full text attached)" + footer, buttons=buttons, ephemeral=ephemeral,
                     files=[Attachment(f"{model}-{rng_seed}.txt", text.encode("utf-8"))])

    async def compose(self, inv: Invocation, notes: int | None = None, temp: float | None = None,
                      tempo: int | None = None, instrument: str | None = None, primer: str | None = None,
                      rng_seed: int | None = None, key: str | None = None, bars: int | None = None,
                      seconds: float | None = None, primer_file: tuple[str, bytes | None] | None = None,
                      texture: str | None = None, register: str | None = None) -> Reply:
        """`/compose`: a MIDI file, its piano roll and a summary; the audio preview follows (``Reply.later``).

        ``primer_file``: ``(filename, data)`` of an uploaded MIDI sketch whose opening primes the model
        (checked like a corpus upload)."""
        opts = OPTIONS["compose"]
        notes, bars, seconds, key, temp, tempo, instrument, primer, rng_seed, texture, register = (
            opts[n].check(v) for n, v in (("notes", notes), ("bars", bars), ("seconds", seconds), ("key", key),
                                          ("temp", temp), ("tempo", tempo), ("instrument", instrument),
                                          ("primer", primer), ("rng_seed", rng_seed), ("texture", texture),
                                          ("register", register)))
        if primer.strip().lower().endswith((".mid", ".midi")):
            raise UserError("`primer` must be 'random' or notes like `C4 E4 G4 C5` (attach a MIDI file as `primer_file`)")
        given = [name for name, v in (("notes", notes), ("bars", bars), ("seconds", seconds)) if v is not None]
        if len(given) > 1:
            raise UserError(f"give one length: `notes`, `bars` or `seconds` (got {' and '.join(given)})")
        if bars is not None and bars * 240 / tempo > MAX_PIECE_SECONDS:
            raise UserError(f"{bars} bars at {tempo} BPM last {bars * 240 / tempo:,.0f} s; a piece here lasts at most "
                            f"{MAX_PIECE_SECONDS} s")
        primer = None if primer.strip().lower() in ("", "random") else primer
        if primer_file is not None:
            if primer is not None:
                raise UserError("give `primer` or `primer_file`, not both")
            primer = await self._store_primer(*primer_file)
        options = {"notes": notes, "bars": bars, "seconds": seconds, "key": key, "temp": temp, "tempo": tempo,
                   "instrument": instrument, "primer": primer}
        options.update({k: v for k, v in (("texture", texture), ("register", register)) if v != "auto"})
        return await self._compose(inv, options, rng_seed)

    async def _store_primer(self, filename: str, data: bytes | None) -> str:
        """Check an uploaded MIDI primer like a corpus upload; keep it (by content) so the result can be replayed."""
        import asyncio
        import hashlib

        from .corpus import MIDI_SUFFIXES, _atomic_write, check_midi

        if not filename.lower().endswith(MIDI_SUFFIXES):
            raise UserError(f"`primer_file` {filename}: not a MIDI file (.mid, .midi)")

        def check() -> str:
            _, reason = check_midi(data)
            if reason is not None:
                raise UserError(f"`primer_file` {filename}: {reason}")
            path = self.primer_dir / f"{hashlib.sha256(data).hexdigest()[:16]}.mid"
            if path.exists():
                os.utime(path)  # used again: retention counts its age from now
            else:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                _atomic_write(path, data)
            return str(path)

        return await asyncio.get_running_loop().run_in_executor(self.jobs.executor, check)

    async def _compose(self, inv: Invocation, options: dict, rng_seed: int | None, *, action: str = "command",
                       parent: str | None = None, previous: list | None = None, note: str = "") -> Reply:
        """Compose from stored-form options; with ``previous`` (notes), continue that piece instead."""
        import asyncio

        from .render import JOIN_LEAD_S, piano_roll_png, preview_midi, render_audio

        gen = self.generator("music")
        o = options
        common = dict(bars=o["bars"], seconds=o["seconds"], temperature=o["temp"], tempo=o["tempo"],
                      instrument=o["instrument"], rng_seed=rng_seed)
        common.update({k: o[k] for k in ("texture", "register") if o.get(k)})  # only when asked for

        new_notes = o["notes"]
        if o["primer"] and str(o["primer"]).endswith(".mid") and not Path(o["primer"]).is_file():
            raise UserError("The MIDI sketch this piece was primed with is gone from the history; compose again "
                            "with `primer_file`.")
        if previous is not None:
            new_notes, common["max_notes"], cut = _continuation_budget(previous, o)
            note = "; ".join(filter(None, [note, cut]))
        else:
            common["max_notes"] = MAX_PIECE_NOTES

        def work():
            if previous is not None:
                r = gen.continue_piece(previous, new_notes, piece_key=o.get("piece_key"), **common)
            else:
                r = gen.generate(new_notes, key=o["key"], primer=o["primer"], **common)
            return r, piano_roll_png(r.notes, r.tempo)

        start = self.clock()
        result, png = await self._generate(inv, "compose", work)
        options = {**options, "piece_key": getattr(result, "key", None)}  # a continuation reads the piece in this key
        primer = o["primer"]
        primer_desc = result.primer if not (primer and str(primer).endswith(".mid")) else "your MIDI file"
        summary = f"🎹 {result.summary()} · primer {primer_desc}"
        gen_id = await self._remember(inv, "compose", "music", options, result.rng_seed, summary, midi=result.midi,
                                      model_s=getattr(result, "seconds", None), total_s=self.clock() - start, action=action,
                                      parent=parent)
        stem = _stem(result.rng_seed, gen_id)
        files = [Attachment(f"{stem}.mid", result.midi, "MIDI"), Attachment(f"{stem}.png", png, "piano roll")]

        async def audio() -> list[Attachment]:  # after the reply is out: a slow render never delays the MIDI
            # A continuation is previewed from just before where it continues: the new part is what is new.
            start_s = max(0.0, result.join_s - JOIN_LEAD_S) if previous is not None else 0.0
            ogg = await asyncio.get_running_loop().run_in_executor(
                None, lambda: render_audio(preview_midi(result, start_s=start_s)))
            return [] if ogg is None else [Attachment(f"{stem}.ogg", ogg, "audio preview")]

        head = f"-# {note}\n" if note else ""
        return Reply(f"{head}{summary}\n-# rng_seed {result.rng_seed} · temp {o['temp']:g}", files=files, later=audio,
                     buttons=self._buttons("music", gen_id))

    # -- results: history, buttons ----------------------------------------------------
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
        from .history import HistoryUnavailable, Record, new_id

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
        from .history import HistoryUnavailable

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

    async def act(self, inv: Invocation, action: str, gen_id: str) -> Reply:
        """A button under a result (or its console word): continue, again, vary_up, vary_down, listen, open."""
        if action not in ACTION_LABELS:
            raise UserError(f"unknown action {action!r}")
        rec = await self._record(gen_id)
        if action == "open":
            return await self._open(rec)
        if action == "listen":
            return await self._listen(rec)
        note = ""
        current = self._version(rec.model)
        if rec.model_version != current:
            gone = "is gone" if not self._version_exists(rec.model, rec.model_version) else "no longer serves"
            note = (f"made by {rec.model} version {rec.model_version}, which {gone}; this uses the serving version "
                    f"{current}")
        options, rng_seed = dict(rec.options), rec.rng_seed
        if action == "again":
            rng_seed = None
        elif action in ("vary_up", "vary_down"):
            step = VARY_STEP if action == "vary_up" else -VARY_STEP
            options["temp"] = round(min(MAX_TEMP, max(MIN_TEMP, options["temp"] + step)), 2)
        if action == "continue":
            note = "; ".join(filter(None, ["continued", note]))
            if rec.model == "music":
                options["continues"] = rec.id  # the piece this one continues (for Again and Vary on the result)
                return await self._compose(inv, options, None, action=action, parent=rec.id,
                                           previous=await self._notes_of(rec), note=note)
            options["seed"] = rec.output_text
            return await self._write(inv, rec.model, options, None, action=action, parent=rec.id, note=note)
        if rec.model == "music":
            previous = None
            if options.get("continues"):  # again/vary of a continuation: continue the same piece again
                previous = await self._notes_of(await self._record(options["continues"]))
            return await self._compose(inv, options, rng_seed, action=action, parent=rec.id, previous=previous,
                                       note=note)
        return await self._write(inv, rec.model, options, rng_seed, action=action, parent=rec.id, note=note)

    async def _notes_of(self, rec) -> list:
        """The notes of a stored piece (read and parsed off the event loop)."""
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(
            self.jobs.executor, lambda: _stored_piece(rec, "continued")[1])

    async def _open(self, rec) -> Reply:
        """A stored result shown again (to the user who asked), with its buttons."""
        import asyncio

        if rec.model != "music":
            return self._text_reply(rec.model, rec.output_text, rec.rng_seed, rec.options.get("temp", 0), rec.id,
                                    ephemeral=True)

        def files() -> list[Attachment]:
            from .render import piano_roll_png

            midi, notes = _stored_piece(rec, "opened")
            png = piano_roll_png(notes, float(rec.options.get("tempo") or 120))
            stem = _stem(rec.rng_seed, rec.id)
            return [Attachment(f"{stem}.mid", midi, "MIDI"), Attachment(f"{stem}.png", png, "piano roll")]

        attached = await asyncio.get_running_loop().run_in_executor(self.jobs.executor, files)
        return Reply(f"{rec.output_text}\n-# rng_seed {rec.rng_seed} · temp {rec.options.get('temp', 0):g}",
                     files=attached, buttons=self._buttons("music", rec.id), ephemeral=True)

    async def _listen(self, rec) -> Reply:
        """The audio preview of a stored piece, rendered now."""
        import asyncio
        from types import SimpleNamespace

        from .render import preview_midi, render_audio

        if rec.model != "music":
            raise UserError("only music can be listened to")

        def render() -> bytes | None:
            midi, notes = _stored_piece(rec, "played")
            piece = SimpleNamespace(midi=midi, notes=notes, program=0, tempo=float(rec.options.get("tempo") or 120))
            return render_audio(preview_midi(piece))

        ogg = await asyncio.get_running_loop().run_in_executor(None, render)
        if ogg is None:
            raise UserError("No audio preview can be rendered on this bot (no SoundFont, or rendering failed).")
        return Reply(f"🔊 {rec.output_text.removeprefix('🎹 ')}",
                     files=[Attachment(f"{_stem(rec.rng_seed, rec.id)}.ogg", ogg, "audio preview")])

    async def history_list(self, inv: Invocation, limit: int = HISTORY_SHOWN) -> Reply:
        """`/history`: the user's last results, each with a button to open it again."""
        from .history import HistoryUnavailable

        if self.history is None:
            raise UserError("History is off on this bot.")
        try:
            records = await self.history.recent(inv.user_id, limit)
        except HistoryUnavailable as exc:
            raise UserError(str(exc)) from None
        if not records:
            return Reply("You have no results yet (or they are older than the history keeps).", ephemeral=True)
        now = time.time()
        lines = ["**Your last results**"]
        for i, rec in enumerate(records, 1):
            what = rec.output_text.replace("\n", " ").removeprefix("🎹 ")
            label = f"/{rec.command}" + ("" if rec.action == "command" else f" ({rec.action})")
            lines.append(f"`{i}.` {label} · {_ago(now - rec.created)} · {what[:70]}{'…' if len(what) > 70 else ''}")
        return Reply("\n".join(lines), ephemeral=True,
                     buttons=[Button("open", rec.id, f"Open {i}") for i, rec in enumerate(records, 1)])

    async def usage(self, inv: Invocation, days: float | None = None) -> Reply:
        """`/usage` (admins): generations per command and per user over the last days."""
        from .history import HistoryUnavailable

        if not inv.is_admin:
            raise UserError("Only admins can see usage.")
        days = USAGE_DAYS.check(days)
        if self.history is None:
            raise UserError("History is off on this bot.")
        try:
            stats = await self.history.usage(days)
        except HistoryUnavailable as exc:
            raise UserError(str(exc)) from None
        lines = [f"**Usage over the last {_number(days)} day{'s' if days != 1 else ''}**"]
        if not stats["by_command"]:
            lines.append("No generations.")
        for command, action, count, mean_s in stats["by_command"]:
            kind = "" if action == "command" else f" ({action})"
            lines.append(f"- /{command}{kind}: {count} (mean {mean_s or 0:.1f} s)")
        if stats["by_user"]:
            lines.append("**By user**")
            lines += [f"- {name or user_id}: {count}" for user_id, name, count in stats["by_user"]]
        return Reply("\n".join(lines)[:MESSAGE_LIMIT], ephemeral=True)

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
        if self.history is not None and self.history.error:
            lines.append(f"**History**: {self.history.error}")
        j = self.jobs
        lines.append(f"**Queue**: {j.active} jobs queued or running, {j.workers} workers, limit {j.queue_depth}")
        return Reply("\n".join(lines), ephemeral=True)

    @staticmethod
    def help() -> Reply:
        return Reply(HELP, ephemeral=True)


HELP = """**Ghostwriter** writes lyrics, prose and music.
- `/lyrics seed:"Yeah, oho" temp:0.5 length:400`: song lyrics that begin with the seed
- `/text seed:"the truth is" temp:0.6`: prose in the style of the `text` model
- `/compose notes:500 key:"D minor" tempo:100 instrument:violin primer:"C4 E4 G4"` (or `bars:16`, `seconds:30` instead of `notes`; `texture:sparse|medium|full`, `register:low|middle|high`): a MIDI file, its piano roll and a summary
- `/compose primer_file:<your .mid>`: continue your own sketch; `instrument` and `key` suggest as you type
- Buttons under each result: **Continue**, **Again** (new seed), **Calmer**/**Wilder** (temp ∓0.1), **Listen** (music)
- `/history`: your last results, to open again · right-click a message → Apps → **Continue lyrics**
- `/status`: the models, the queue and any retraining
- `/retrain music` (admins): retrain a model on the team corpus; `/retrain cancel music`, `/retrain rollback music`
Every reply shows its `rng_seed`; pass it back (`rng_seed:1234`) to get the same result again.
`temp` runs from 0.1 (safe, repetitive) to 2.0 (wild)."""
