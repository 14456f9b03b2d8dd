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

from .commands import Commands, Invocation, Reply, UserError
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
                          is_admin=self.is_admin(interaction), interaction_id=str(interaction.id))


def to_files(reply: Reply, limit: int) -> tuple[list[discord.File], list[str]]:
    """Discord files for the reply's attachments, leaving out any over the interaction's size limit."""
    files, dropped = [], []
    for a in reply.files:
        if len(a.data) > limit:
            dropped.append(a.filename)
        else:
            files.append(discord.File(io.BytesIO(a.data), filename=a.filename, description=a.description or None))
    return files, dropped


async def respond(interaction: discord.Interaction, work) -> None:
    """Defer, run ``work()`` (a coroutine returning a Reply), send the follow-up; errors go back ephemerally."""
    start = time.perf_counter()
    await interaction.response.defer(thinking=True)
    try:
        reply = await work()
    except (UserError, GeneratorError, Busy) as exc:
        await _error(interaction, f"⚠️ {exc}")
        return
    except Exception:
        log.exception("interaction=%s command=%s failed", interaction.id, getattr(interaction.command, "name", "?"))
        await _error(interaction, "⚠️ Something went wrong on our side; it has been logged.")
        return
    limit = interaction.filesize_limit  # the upload limit Discord states for this interaction
    files, dropped = to_files(reply, limit)
    content = reply.content + (f"\n-# left out (over the upload limit): {', '.join(dropped)}" if dropped else "")
    if reply.ephemeral:
        await interaction.delete_original_response()
        await interaction.followup.send(content, files=files, ephemeral=True)
    else:
        await interaction.followup.send(content, files=files)
    log.info("interaction=%s user=%s command=%s replied in %.3fs", interaction.id, interaction.user.id,
             getattr(interaction.command, "name", "?"), time.perf_counter() - start)


async def _error(interaction: discord.Interaction, message: str) -> None:
    try:
        await interaction.delete_original_response()  # remove the public "thinking..." placeholder
    except discord.HTTPException:
        pass
    await interaction.followup.send(message, ephemeral=True)


def run(settings: Settings, commands: Commands) -> None:
    """Connect and serve until stopped; discord.py's own log handler is left to ``configure_logging``."""
    GhostwriterBot(settings, commands).run(settings.discord_token, log_handler=None)
