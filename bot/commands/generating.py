"""Generating: /lyrics, /text, the *Continue lyrics* menu, and /compose (new pieces and continuations)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import replace
from pathlib import Path

from generators.errors import GeneratorError
from generators.music.request import check_length, continuation_budget
from generators.songs.form import parse_song_form

from ..corpus import MIDI_SUFFIXES, _atomic_write, check_midi
from ..render import JOIN_LEAD_S, piano_roll_png, preview_midi, render_audio
from .base import CommandsBase
from .core import MESSAGE_LIMIT, Attachment, Invocation, Reply, UserError
from .options import MAX_PIECE_NOTES, MAX_PIECE_SECONDS, MAX_SEED_CHARS, OPTIONS
from .requests import ComposeRequest, TextRequest

CONTEXT_CHARS = MAX_SEED_CHARS  # a continuation keeps the result's end, as long a seed as the model takes


def stem(rng_seed: int, gen_id: str | None, command: str = "compose") -> str:
    """A result's file name without suffix: unique per stored generation, so files of two results (Vary keeps
    the RNG seed) never overwrite each other in a folder."""
    return f"{command}-{rng_seed}" + (f"-{gen_id[:6]}" if gen_id else "")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class GeneratingCommands(CommandsBase):
    async def write(self, inv: Invocation, model: str, seed: str | None = None, temp: float | None = None,
                    length: int | None = None, rng_seed: int | None = None, *, lines: int | None = None,
                    rhyme: str | None = None, form: str | None = None, syllables: int | None = None) -> Reply:
        """`/text`: text that begins with the seed. `/lyrics`: a song that begins with it."""
        opts = OPTIONS[model]
        asked = {"seed": seed, "temp": temp, "length": length, "rng_seed": rng_seed, "lines": lines, "rhyme": rhyme,
                 "form": form, "syllables": syllables}
        given = [name for name, value in asked.items() if value is not None and name not in opts]
        if given:
            raise UserError(f"/{model} has no option {', '.join(given)}")
        values = {name: o.check(asked[name]) for name, o in opts.items()}
        if "\x00" in values["seed"]:
            raise UserError("`seed` must be text")
        if model == "lyrics" and values["length"] is not None:
            shaped = [name for name in ("lines", "rhyme", "form", "syllables") if asked[name] is not None]
            if shaped:
                raise UserError(f"`length` writes free-running lyrics, not a song: give it or {', '.join(shaped)}, "
                                "not both")
            request = TextRequest(values["seed"], values["temp"], values["length"])
        elif model == "lyrics":
            form = values["form"]
            if form.strip().lower() not in ("auto", "none"):
                await self._library(lambda: parse_song_form(form))
            request = TextRequest(values["seed"], values["temp"], lines=values["lines"], rhyme=values["rhyme"],
                                  form=form, syllables=values["syllables"])
        else:
            request = TextRequest(values["seed"], values["temp"], values["length"])
        return await self._write(inv, model, request, values["rng_seed"])

    async def continue_text(self, inv: Invocation, model: str, text: str) -> Reply:
        """The *Continue lyrics* message menu: the message's text (its end, if long) is the seed; lyrics get the
        song's next section."""
        text = (text or "").replace("\x00", "").strip()
        if not text:
            raise UserError("that message has no text to continue")
        opts = OPTIONS[model]
        if model == "lyrics":
            request = TextRequest(text[-MAX_SEED_CHARS:], opts["temp"].default, lines=opts["lines"].default,
                                  continues=True)
        else:
            request = TextRequest(text[-MAX_SEED_CHARS:] + "\n", opts["temp"].default, opts["length"].default)
        return await self._write(inv, model, request, None, action="context")

    async def _library(self, fn):
        """``fn()``, a library check: its refusal (a ``GeneratorError``) is the user's line, in its words."""
        try:
            return fn()
        except GeneratorError as exc:
            raise UserError(str(exc)) from None

    async def _write(self, inv: Invocation, model: str, request: TextRequest, rng_seed: int | None, *,
                     action: str = "command", parent: str | None = None, note: str = "") -> Reply:
        """Generate text for a request (a seed of any length: continuing uses the whole result)."""
        gen = self.generator(model)
        seed, temp = request.seed, request.temp
        head, seed_tail = seed[:-CONTEXT_CHARS] if len(seed) > CONTEXT_CHARS else "", seed[-CONTEXT_CHARS:]
        start = self.clock()
        if request.lines is not None:  # a song
            head = ""
            song = dict(rhyme=request.rhyme, form=request.form, syllables=request.syllables, temperature=temp,
                        rng_seed=rng_seed)
            result = await self._generate(inv, model, lambda: gen.continue_song(seed, **song) if request.continues
                                          else gen.song(seed, lines=request.lines, **song))
            request = replace(request, rhyme=result.plan.scheme or "none", form=result.plan.form or "none")
        else:
            result = await self._generate(inv, model, lambda: gen.generate(seed_tail, length=request.length,
                                                                            temperature=temp, rng_seed=rng_seed))
        text = head + result.text
        gen_id = await self._remember(inv, model, model, request.to_dict(), result.rng_seed, text,
                                      model_s=getattr(result, "seconds", None), total_s=self.clock() - start,
                                      action=action, parent=parent)
        shape = result.plan.describe() if request.lines is not None else ""
        return self._text_reply(model, text, result.rng_seed, temp, gen_id, note=note, shape=shape,
                                replaced=getattr(result, "replaced", None), tail=action == "continue")

    def _text_reply(self, model: str, text: str, rng_seed: int, temp: float, gen_id: str | None, *,
                    note: str = "", replaced: dict | None = None, ephemeral: bool = False, tail: bool = False,
                    shape: str = "") -> Reply:
        """The text with its footer (``shape``: a song's form and scheme); too long for one message, a preview (its
        end, with ``tail``) and the file."""
        footer = f"\n-# {shape + ' · ' if shape else ''}rng_seed {rng_seed} · temp {temp:g}"
        if replaced:
            footer += " · replaced " + ", ".join(f"{k!r}→{v!r}" for k, v in list(replaced.items())[:8])
        head = f"-# {note}\n" if note else ""
        buttons = self._buttons(model, gen_id)
        if len(head) + len(text) + len(footer) <= MESSAGE_LIMIT:
            return Reply(head + text + footer, buttons=buttons, ephemeral=ephemeral)
        keep = MESSAGE_LIMIT - len(head) - len(footer) - 40
        shown = "…" + text[-keep:].split("\n", 1)[-1] if tail else text[:keep].rsplit("\n", 1)[0]
        return Reply(head + shown + "\n…(full text attached)" + footer, buttons=buttons, ephemeral=ephemeral,
                     files=[Attachment(f"{stem(rng_seed, gen_id or _digest(text), model)}.txt", text.encode("utf-8"))])

    async def compose(self, inv: Invocation, notes: int | None = None, temp: float | None = None,
                      tempo: int | None = None, instrument: str | None = None, primer: str | None = None,
                      rng_seed: int | None = None, key: str | None = None, bars: int | None = None,
                      seconds: float | None = None, primer_file: tuple[str, bytes | None] | None = None,
                      texture: str | None = None, register: str | None = None, form: str | None = None,
                      chords: str | None = None) -> Reply:
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
        form, chords = opts["form"].check(form), opts["chords"].check(chords)
        notes, bars, seconds = await self._library(lambda: check_length(notes, bars, seconds, tempo=tempo, form=form,
                                                                         chords=chords, max_seconds=MAX_PIECE_SECONDS))
        primer = None if primer.strip().lower() in ("", "random") else primer
        if primer_file is not None:
            if primer is not None:
                raise UserError("give `primer` or `primer_file`, not both")
            primer = await self._store_primer(*primer_file)
        request = ComposeRequest(notes, bars, seconds, key, temp, tempo, instrument, primer,
                                 texture=None if texture == "auto" else texture,
                                 register=None if register == "auto" else register,
                                 form=None if form == "auto" else form, chords=chords.strip() or None)
        return await self._compose(inv, request, rng_seed)

    async def _store_primer(self, filename: str, data: bytes | None) -> str:
        """Check an uploaded MIDI primer like a corpus upload; keep it (by content) so the result can be replayed."""
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

    async def _compose(self, inv: Invocation, request: ComposeRequest, rng_seed: int | None, *,
                       action: str = "command", parent: str | None = None, previous: list | None = None,
                       note: str = "") -> Reply:
        """Compose for a request; with ``previous`` (notes), continue that piece instead."""
        gen = self.generator("music")
        o = request
        common = dict(bars=o.bars, seconds=o.seconds, temperature=o.temp, tempo=o.tempo, instrument=o.instrument,
                      rng_seed=rng_seed)
        common.update({k: v for k, v in (("texture", o.texture), ("register", o.register)) if v})  # when asked
        if o.form and previous is None:  # (a continuation goes on through-composed)
            common["form"] = o.form
        if o.chords and previous is None:
            common["chords"] = o.chords

        new_notes = o.notes
        if previous is None and o.uploaded_primer and not Path(o.primer).is_file():  # (a continuation needs the piece)
            raise UserError("The MIDI sketch this piece was primed with is gone from the history; compose again "
                            "with `primer_file`.")
        if previous is not None:
            budget = await self._library(lambda: continuation_budget(
                previous, tempo=o.tempo, notes=o.notes, bars=o.bars, seconds=o.seconds, max_notes=MAX_PIECE_NOTES,
                max_seconds=MAX_PIECE_SECONDS))
            new_notes, common["max_notes"], common["max_seconds"] = budget.notes, budget.max_notes, budget.max_seconds
            note = "; ".join(filter(None, [note, budget.note]))
        else:
            common["max_notes"], common["max_seconds"] = MAX_PIECE_NOTES, MAX_PIECE_SECONDS

        def work():
            if previous is not None:
                r = gen.continue_piece(previous, new_notes, piece_key=o.piece_key, **common)
            else:
                r = gen.generate(new_notes, key=o.key, primer=o.primer, **common)
            return r, piano_roll_png(r.notes, r.tempo, sections=getattr(r, "sections", ("", 0)))

        start = self.clock()
        result, png = await self._generate(inv, "compose", work)
        note = "; ".join(filter(None, [note, getattr(result, "cut_note", "")]))
        stored = replace(request, piece_key=getattr(result, "key", None))  # a continuation reads the piece in this key
        primer_desc = "your MIDI file" if o.uploaded_primer else result.primer
        summary = f"🎹 {result.summary()} · primer {primer_desc}"
        gen_id = await self._remember(inv, "compose", "music", stored.to_dict(), result.rng_seed, summary,
                                      midi=result.midi,
                                      model_s=getattr(result, "seconds", None), total_s=self.clock() - start, action=action,
                                      parent=parent)
        name = stem(result.rng_seed, gen_id)
        files = [Attachment(f"{name}.mid", result.midi, "MIDI"), Attachment(f"{name}.png", png, "piano roll")]

        async def audio() -> list[Attachment]:  # after the reply is out: a slow render never delays the MIDI
            # A continuation is previewed from just before where it continues: the new part is what is new.
            start_s = max(0.0, result.join_s - JOIN_LEAD_S) if previous is not None else 0.0
            ogg = await asyncio.get_running_loop().run_in_executor(
                None, lambda: render_audio(preview_midi(result, start_s=start_s)))
            return [] if ogg is None else [Attachment(f"{name}.ogg", ogg, "audio preview")]

        head = f"-# {note}\n" if note else ""
        return Reply(f"{head}{summary}\n-# rng_seed {result.rng_seed} · temp {o.temp:g}", files=files, later=audio,
                     buttons=self._buttons("music", gen_id))
