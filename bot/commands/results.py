"""Results: the buttons under a result (continue, again, calmer/wilder, listen, open), /history and /usage."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from generators.music.midi_io import midi_bytes_to_notes

from ..history import HistoryUnavailable
from ..render import piano_roll_png, preview_midi, render_audio
from .base import ACTION_LABELS, CommandsBase
from .core import MESSAGE_LIMIT, Attachment, Button, Invocation, Reply, UserError
from .generating import stem
from .options import MAX_CONTINUED_CHARS, MAX_TEMP, MIN_TEMP, USAGE_DAYS, VARY_STEP, number_text
from .requests import ComposeRequest, TextRequest

HISTORY_SHOWN = 10


@dataclass
class StoredPiece:
    """A piece read back from the history, as the audio preview wants it."""

    midi: bytes
    notes: list
    tempo: float
    program: int = 0


def _stored_piece(rec, doing: str) -> tuple[bytes, list]:
    """The MIDI and the notes of a stored piece; a :class:`UserError` when its file is gone or damaged."""
    midi = rec.midi()
    if midi is None:
        raise UserError(f"That piece's MIDI file is gone from the history, so it cannot be {doing}.")
    try:
        notes = midi_bytes_to_notes(midi)
    except Exception:
        notes = []
    if not notes:  # (cut short, or no notes left in it)
        raise UserError(f"That piece's MIDI file in the history is damaged (no notes can be read from it), so it "
                        f"cannot be {doing}. Compose it again with /again.")
    return midi, notes


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


class ResultsCommands(CommandsBase):
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
        request = (ComposeRequest if rec.model == "music" else TextRequest).from_dict(rec.options)
        rng_seed = rec.rng_seed
        if action == "again":
            rng_seed = None
        elif action in ("vary_up", "vary_down"):
            step = VARY_STEP if action == "vary_up" else -VARY_STEP
            request = replace(request, temp=round(min(MAX_TEMP, max(MIN_TEMP, request.temp + step)), 2))
        if action == "continue":
            note = "; ".join(filter(None, ["continued", note]))
            if rec.model == "music":  # (continues: the piece this one extends, for Again and Vary on the result)
                return await self._compose(inv, replace(request, continues=rec.id), None, action=action,
                                           parent=rec.id, previous=await self._notes_of(rec), note=note)
            if request.lines is None and len(rec.output_text) >= MAX_CONTINUED_CHARS:
                raise UserError(f"This text is already {len(rec.output_text):,} characters, the most a text is "
                                f"continued to here ({MAX_CONTINUED_CHARS:,}); start a new one with `/{rec.command}`.")
            continued = replace(request, seed=rec.output_text, continues=request.lines is not None)
            return await self._write(inv, rec.model, continued, None, action=action, parent=rec.id, note=note)
        if rec.model == "music":
            previous = None
            if request.continues:  # again/vary of a continuation: continue the same piece again
                previous = await self._notes_of(await self._record(request.continues))
            return await self._compose(inv, request, rng_seed, action=action, parent=rec.id, previous=previous,
                                       note=note)
        return await self._write(inv, rec.model, request, rng_seed, action=action, parent=rec.id, note=note)

    async def _notes_of(self, rec) -> list:
        """The notes of a stored piece (read and parsed off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.jobs.executor, lambda: _stored_piece(rec, "continued")[1])

    async def _open(self, rec) -> Reply:
        """A stored result shown again (to the user who asked), with its buttons."""
        if rec.model != "music":
            return self._text_reply(rec.model, rec.output_text, rec.rng_seed, rec.options.get("temp", 0), rec.id,
                                    ephemeral=True)

        def files() -> list[Attachment]:
            midi, notes = _stored_piece(rec, "opened")
            png = piano_roll_png(notes, float(rec.options.get("tempo") or 120))
            name = stem(rec.rng_seed, rec.id)
            return [Attachment(f"{name}.mid", midi, "MIDI"), Attachment(f"{name}.png", png, "piano roll")]

        attached = await asyncio.get_running_loop().run_in_executor(self.jobs.executor, files)
        return Reply(f"{rec.output_text}\n-# rng_seed {rec.rng_seed} · temp {rec.options.get('temp', 0):g}",
                     files=attached, buttons=self._buttons("music", rec.id), ephemeral=True)

    async def _listen(self, rec) -> Reply:
        """The audio preview of a stored piece, rendered now."""
        if rec.model != "music":
            raise UserError("only music can be listened to")

        def render() -> bytes | None:
            midi, notes = _stored_piece(rec, "played")
            piece = StoredPiece(midi, notes, float(rec.options.get("tempo") or 120))
            return render_audio(preview_midi(piece))

        ogg = await asyncio.get_running_loop().run_in_executor(None, render)
        if ogg is None:
            raise UserError("No audio preview can be rendered on this bot (no SoundFont, or rendering failed).")
        return Reply(f"🔊 {rec.output_text.removeprefix('🎹 ')}",
                     files=[Attachment(f"{stem(rec.rng_seed, rec.id)}.ogg", ogg, "audio preview")])

    async def history_list(self, inv: Invocation, limit: int = HISTORY_SHOWN) -> Reply:
        """`/history`: the user's last results, each with a button to open it again."""
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
        if not inv.is_admin:
            raise UserError("Only admins can see usage.")
        days = USAGE_DAYS.check(days)
        if self.history is None:
            raise UserError("History is off on this bot.")
        try:
            stats = await self.history.usage(days)
        except HistoryUnavailable as exc:
            raise UserError(str(exc)) from None
        lines = [f"**Usage over the last {number_text(days)} day{'s' if days != 1 else ''}**"]
        if not stats["by_command"]:
            lines.append("No generations.")
        for command, action, count, mean_s in stats["by_command"]:
            kind = "" if action == "command" else f" ({action})"
            lines.append(f"- /{command}{kind}: {count} (mean {mean_s or 0:.1f} s)")
        if stats["by_user"]:
            lines.append("**By user**")
            lines += [f"- {name or user_id}: {count}" for user_id, name, count in stats["by_user"]]
        return Reply("\n".join(lines)[:MESSAGE_LIMIT], ephemeral=True)
