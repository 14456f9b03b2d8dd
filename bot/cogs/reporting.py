"""Where a retraining's progress and final report go (used by the admin cog; a plain module, not a cog, so one
class serves however the cog is loaded)."""

from __future__ import annotations

import logging
import time

import discord

from ..commands import MESSAGE_LIMIT, Reply
from ..respond import to_files

log = logging.getLogger("bot.admin")


class ChannelReporter:
    """Where a retrain's progress and final report go: ordinary bot messages in the command's channel.

    An interaction's token (and with it ``edit_original_response`` and ``followup``) dies 15 minutes after
    the command, while training may run for hours. So progress is one channel message, edited at most every
    ``min_interval_s``, and the final report is a new channel message that mentions the admin. Where the
    channel cannot be written (no access, deleted), both go to the admin's DMs instead.
    """

    min_interval_s = 5.0

    def __init__(self, interaction: discord.Interaction, model: str):
        self.channel = interaction.channel
        self.user = interaction.user
        self.model = model
        self.message: discord.Message | None = None
        self.last_edit = 0.0
        self.use_dm = self.channel is None

    async def _send(self, content: str, **kwargs) -> discord.Message:
        """Send to the channel; on a channel that cannot be written, to the admin's DMs from then on."""
        if not self.use_dm:
            try:
                return await self.channel.send(content, **kwargs)
            except discord.HTTPException as exc:
                log.warning("retrain %s: cannot write to channel %s (%s); using DMs", self.model,
                            getattr(self.channel, "id", "?"), exc)
                self.use_dm = True
        return await self.user.send(content, **kwargs)

    async def progress(self, event: dict) -> None:
        text = progress_line(self.model, event)
        now = time.monotonic()
        if self.message is not None and now - self.last_edit < self.min_interval_s:
            return
        self.last_edit = now
        if self.message is not None:
            try:
                await self.message.edit(content=text)
                return
            except discord.HTTPException as exc:  # deleted, or no longer editable: post a fresh one
                log.warning("retrain %s: progress edit failed (%s)", self.model, exc)
        self.message = await self._send(text)

    async def done(self, report: Reply) -> None:
        files, dropped = to_files(report, DEFAULT_UPLOAD_LIMIT)
        content = f"{self.user.mention} {report.content}"
        if dropped:
            content += f"\n-# left out (over the upload limit): {', '.join(dropped)}"
        await self._send(content[:MESSAGE_LIMIT], files=files, allowed_mentions=discord.AllowedMentions(users=[self.user]))


DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # what any channel accepts from a bot


def progress_line(model: str, event: dict, width: int = 12) -> str:
    """``Retraining `music` ▰▰▰▰▱▱▱▱▱▱▱▱ 33% · epoch 3 · loss 2.104 · val 2.215 · ETA 12.5 min``."""
    elapsed, eta = float(event.get("elapsed_s") or 0), event.get("eta_s")
    if isinstance(eta, (int, float)) and elapsed + eta > 0:
        done = elapsed / (elapsed + eta)
    else:
        done = min(1.0, (event.get("epoch") or 0) / max(1, event.get("max_epochs") or 1))
    filled = round(done * width)
    text = (f"Retraining `{model}` {'▰' * filled}{'▱' * (width - filled)} {done:.0%} · epoch {event.get('epoch')} · "
            f"loss {event.get('loss', float('nan')):.3f} · val {event.get('val_loss', float('nan')):.3f}")
    return text + (f" · ETA {eta / 60:.1f} min" if isinstance(eta, (int, float)) else "")
