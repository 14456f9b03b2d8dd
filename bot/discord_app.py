"""The Discord transport: a discord.py bot whose cogs call the command layer.

Start-up (``setup_hook``) loads one cog per feature and syncs the slash
commands: to ``DISCORD_GUILD_ID`` at once when it is set (commands copied
there), globally otherwise. Every interaction is deferred first (Discord wants
an answer within 3 s), the work runs in the generation thread pool, and the
reply comes as a follow-up; errors are sent ephemerally and logged.
"""

from __future__ import annotations

import io
import logging
import time

import discord
from discord.ext import commands as ext

from generators.errors import GeneratorError

from .commands import MESSAGE_LIMIT, Commands, Invocation, Reply, UserError, user_message
from .jobs import Busy
from .settings import Settings

log = logging.getLogger("bot.discord")

COGS = ("bot.cogs.generation", "bot.cogs.admin", "bot.cogs.corpus", "bot.cogs.info")


class GhostwriterBot(ext.Bot):
    def __init__(self, settings: Settings, commands: Commands):
        super().__init__(command_prefix=ext.when_mentioned, intents=discord.Intents.default(),
                         allowed_mentions=discord.AllowedMentions.none())
        self.settings = settings
        self.core = commands

    async def setup_hook(self) -> None:
        from .views import ResultButton

        self.add_dynamic_items(ResultButton)  # buttons under results work across restarts
        for cog in COGS:
            await self.load_extension(cog)
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d commands (%s)", len(synced), f"guild {self.settings.guild_id}" if self.settings.guild_id else "global")

    def is_admin(self, interaction: discord.Interaction) -> bool:
        """Administrator permission, or an admin user or role from the settings."""
        user = interaction.user
        if user.id in self.settings.admin_user_ids:
            return True
        if interaction.permissions.administrator:  # resolved by Discord for this member and channel
            return True
        return any(role.id in self.settings.admin_role_ids for role in getattr(user, "roles", []))

    def invocation(self, interaction: discord.Interaction) -> Invocation:
        return Invocation(user_id=interaction.user.id, user_name=str(interaction.user),
                          is_admin=self.is_admin(interaction), interaction_id=str(interaction.id),
                          channel_id=interaction.channel_id)


def to_files(reply: Reply, limit: int) -> tuple[list[discord.File], list[str]]:
    """Discord files for the reply's attachments, leaving out any over the interaction's size limit."""
    files, dropped = [], []
    for a in reply.files:
        if len(a.data) > limit:
            dropped.append(a.filename)
        else:
            files.append(discord.File(io.BytesIO(a.data), filename=a.filename, description=a.description or None))
    return files, dropped


async def respond(interaction: discord.Interaction, work, *, ephemeral: bool = False) -> None:
    """Defer, run ``work()`` (a coroutine returning a Reply), send the follow-up with the reply's buttons;
    errors go back ephemerally. ``ephemeral``: the reply is known to be private (the placeholder is too)."""
    from .views import view_for

    start = time.perf_counter()
    await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    try:
        reply = await work()
    except (UserError, GeneratorError, Busy) as exc:
        await _error(interaction, user_message(exc))
        return
    except Exception:
        log.exception("interaction=%s command=%s failed", interaction.id, getattr(interaction.command, "name", "?"))
        await _error(interaction, "⚠️ Something went wrong on our side; it has been logged.")
        return
    limit = interaction.filesize_limit  # the upload limit Discord states for this interaction
    files, dropped = to_files(reply, limit)
    content = reply.content + (f"\n-# left out (over the upload limit): {', '.join(dropped)}" if dropped else "")
    extra = {"view": view} if (view := view_for(reply)) is not None else {}
    if reply.ephemeral and not ephemeral:  # the public "thinking..." placeholder goes; the reply is private
        await interaction.delete_original_response()
    message = await interaction.followup.send(content, files=files, ephemeral=reply.ephemeral or ephemeral, wait=True,
                                              **extra)
    log.info("interaction=%s user=%s command=%s replied in %.3fs", interaction.id, interaction.user.id,
             getattr(interaction.command, "name", "?"), time.perf_counter() - start)
    if reply.later is not None:
        await add_later_files(interaction, message, reply)


async def add_later_files(interaction: discord.Interaction, message: discord.WebhookMessage, reply: Reply) -> None:
    """Add the attachments ``reply.later()`` makes to the sent message (an edit); failures only get logged."""
    try:
        extra = await reply.later()
        files, dropped = to_files(Reply(files=extra), interaction.filesize_limit)
        if files:
            await message.edit(attachments=[*message.attachments, *files])
        if dropped:
            log.info("interaction=%s: %s over the upload limit, not added", interaction.id, ", ".join(dropped))
    except Exception:  # the reply is out; a missing preview is not worth an error message
        log.exception("interaction=%s: adding the follow-up attachments failed", interaction.id)


async def _error(interaction: discord.Interaction, message: str) -> None:
    try:
        await interaction.delete_original_response()  # remove the public "thinking..." placeholder
    except discord.HTTPException:
        pass
    await interaction.followup.send(message, ephemeral=True)


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


def run(settings: Settings, commands: Commands) -> None:
    """Connect and serve until stopped; discord.py's own log handler is left to ``configure_logging``."""
    GhostwriterBot(settings, commands).run(settings.discord_token, log_handler=None)
