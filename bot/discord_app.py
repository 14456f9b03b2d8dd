"""The Discord transport: a discord.py bot whose cogs call the command layer.

Start-up (``setup_hook``) loads one cog per feature and syncs the slash
commands: to ``DISCORD_GUILD_ID`` at once when it is set (commands copied
there), globally otherwise. Every interaction is deferred first (Discord wants
an answer within 3 s), the work runs in the generation thread pool, and the
reply comes as a follow-up; errors are sent ephemerally and logged.
"""

from __future__ import annotations

import logging
import time

import discord
from discord import app_commands
from discord.ext import commands as ext

from .commands import MESSAGE_LIMIT, Commands, Invocation, Reply, user_message
from .respond import USER_ERRORS, respond, send_error, to_files
from .settings import Settings
from .views import ResultButton

log = logging.getLogger("bot.discord")

COGS = ("bot.cogs.generation", "bot.cogs.admin", "bot.cogs.corpus", "bot.cogs.info")


class GhostwriterBot(ext.Bot):
    def __init__(self, settings: Settings, commands: Commands):
        super().__init__(command_prefix=ext.when_mentioned, intents=discord.Intents.default(),
                         allowed_mentions=discord.AllowedMentions.none())
        self.settings = settings
        self.core = commands

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ResultButton)  # buttons under results work across restarts
        self.tree.on_error = self.on_app_command_error
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

    async def respond(self, interaction: discord.Interaction, work, *, ephemeral: bool = False) -> None:
        """:func:`bot.respond.respond` for the buttons (views reach it through the client, not an import)."""
        await respond(interaction, work, ephemeral=ephemeral)

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        """The one place an error that escaped a command becomes words: the user's own errors in theirs (an
        admin command answered at once, say), anything else logged with its traceback."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, USER_ERRORS):
            message = user_message(cause)
        else:
            log.error("interaction=%s command=%s failed", interaction.id,
                      getattr(interaction.command, "name", "?"), exc_info=cause)
            message = "⚠️ Something went wrong on our side; it has been logged."
        if interaction.response.is_done():
            await send_error(interaction, message)
        else:
            await interaction.response.send_message(message, ephemeral=True)

    def invocation(self, interaction: discord.Interaction) -> Invocation:
        return Invocation(user_id=interaction.user.id, user_name=str(interaction.user),
                          is_admin=self.is_admin(interaction), interaction_id=str(interaction.id),
                          channel_id=interaction.channel_id)


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
