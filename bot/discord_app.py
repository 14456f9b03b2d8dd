"""The Discord transport: a discord.py bot whose cogs call the command layer.

Start-up (``setup_hook``) loads one cog per feature and syncs the slash
commands: to ``DISCORD_GUILD_ID`` at once when it is set (commands copied
there), globally otherwise. With ``BOT_SHARDS`` set the bot is discord.py's
``AutoShardedBot`` (one gateway connection per shard in this process,
``BOT_SHARD_IDS`` of ``BOT_SHARDS``, or as many as Discord recommends); only the
process that runs shard 0 syncs the commands. A button's custom ID names its
stored result, so a press is understood on any shard, in any process that
shares ``DATA_DIR``. Every interaction is deferred first (Discord wants
an answer within 3 s), the work runs in the generation thread pool, and the
reply comes as a follow-up; errors are sent ephemerally and logged.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands as ext

from .commands import Commands, Invocation, user_message
from .respond import USER_ERRORS, respond, send_error
from .settings import Settings
from .views import ResultButton

log = logging.getLogger("bot.discord")

COGS = ("bot.cogs.generation", "bot.cogs.admin", "bot.cogs.corpus", "bot.cogs.info")


class _Ghostwriter:
    """What the bot adds to discord.py's client, sharded or not (see :func:`make_bot`)."""

    def __init__(self, settings: Settings, commands: Commands, **shards):
        super().__init__(command_prefix=ext.when_mentioned, intents=discord.Intents.default(),
                         allowed_mentions=discord.AllowedMentions.none(), **shards)
        self.settings = settings
        self.core = commands

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ResultButton)  # buttons under results work across restarts
        self.tree.on_error = self.on_app_command_error
        for cog in COGS:
            await self.load_extension(cog)
        if not self.settings.syncs_commands:
            log.info("commands are synced by the process that runs shard 0 (this one runs shards %s)",
                     ",".join(map(str, self.settings.shard_ids)))
            return
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


class GhostwriterBot(_Ghostwriter, ext.Bot):
    """One gateway connection (the default: a team's server, or up to 2,500 servers)."""


class ShardedGhostwriterBot(_Ghostwriter, ext.AutoShardedBot):
    """Gateway sharding: this process runs ``settings.shard_ids`` of ``settings.shard_count`` shards (all of them
    when no ids are given; as many as Discord recommends when no count is)."""

    def __init__(self, settings: Settings, commands: Commands):
        super().__init__(settings, commands, shard_count=settings.shard_count,
                         shard_ids=list(settings.shard_ids) or None)

    max_concurrency = 1  # shards that may identify at once per 5 s (Discord's session start limit; read at start-up)

    async def setup_hook(self) -> None:
        try:
            self.max_concurrency = max(1, int((await self.fetch_session_start_limits()).max_concurrency))
        except (discord.HTTPException, discord.GatewayNotFound, TypeError, ValueError) as exc:
            log.warning("could not read the session start limit (%s); identifying one shard per 5 s", exc)
        await super().setup_hook()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord lets ``max_concurrency`` shards identify per 5 seconds, in buckets of ``shard_id %
        max_concurrency``: wait only before a shard that starts a new bucket."""
        if not initial and shard_id is not None and shard_id % self.max_concurrency == 0:
            await asyncio.sleep(5.0)

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("shard %d of %s ready (%d guilds)", shard_id, self.shard_count,
                 sum(1 for g in self.guilds if g.shard_id == shard_id))


def make_bot(settings: Settings, commands: Commands) -> ext.Bot:
    """The bot for these settings: sharded when ``BOT_SHARDS`` is set."""
    return (ShardedGhostwriterBot if settings.sharded else GhostwriterBot)(settings, commands)


class DiscordUnreachable(Exception):
    """Discord could not be reached or refused the token; the message is one line for the operator."""


def run(settings: Settings, commands: Commands) -> None:
    """Connect and serve until stopped; discord.py's own log handler is left to ``configure_logging``. A token
    Discord refuses, or no way to reach it, raises :class:`DiscordUnreachable` with one line."""
    import aiohttp

    try:
        make_bot(settings, commands).run(settings.discord_token, log_handler=None)
    except discord.LoginFailure:
        raise DiscordUnreachable("Discord refused DISCORD_TOKEN (reset it in the Developer Portal, Bot page, and "
                                 "put the new one in .env)") from None
    except discord.PrivilegedIntentsRequired:
        raise DiscordUnreachable("Discord refused an intent this bot asks for: enable it on the Developer Portal's "
                                 "Bot page") from None
    except (aiohttp.ClientConnectionError, OSError, asyncio.TimeoutError) as exc:
        raise DiscordUnreachable(f"cannot reach Discord ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no answer'}); "
                                 "check this machine's network") from None
