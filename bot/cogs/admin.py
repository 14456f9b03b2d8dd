"""/retrain (admins): retrain a model on the team corpus, cancel it, or roll back."""

from __future__ import annotations

import logging
from typing import Literal, Optional

import discord
from discord import app_commands
from discord.ext import commands

from ..commands import UserError
from ..discord_app import ChannelReporter

log = logging.getLogger("bot.admin")
Model = Literal["text", "lyrics", "music"]


@app_commands.default_permissions(administrator=True)
class Retrain(commands.GroupCog, group_name="retrain", group_description="Retrain a model on the team corpus (admins)"):
    def __init__(self, bot):
        self.bot = bot
        super().__init__()

    async def _start(self, interaction: discord.Interaction, model: str, epochs, minutes) -> None:
        inv = self.bot.invocation(interaction)  # the real check: default_permissions is only a client-side hint
        if not inv.is_admin:
            await interaction.response.send_message("⚠️ Only admins can retrain models.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        # Progress and the report are channel messages (or DMs): the interaction token dies after 15 minutes.
        reporter = ChannelReporter(interaction, model)
        try:
            reply = await self.bot.core.retrain(inv, model, epochs=epochs, minutes=minutes,
                                                on_progress=reporter.progress, on_done=reporter.done)
        except UserError as exc:
            await interaction.delete_original_response()
            await interaction.followup.send(f"⚠️ {exc}", ephemeral=True)
            return
        if reply.ephemeral:
            await interaction.delete_original_response()
            await interaction.followup.send(reply.content, ephemeral=True)
        else:
            await interaction.edit_original_response(content=reply.content + " Progress and the report follow in "
                                                     "this channel.")

    @app_commands.command(description="Retrain the prose/script model")
    @app_commands.describe(epochs="stop after this many epochs", minutes="stop after this many minutes")
    async def text(self, interaction: discord.Interaction, epochs: Optional[app_commands.Range[int, 1, 1000]] = None,
                   minutes: Optional[app_commands.Range[float, 1, 1440]] = None):
        await self._start(interaction, "text", epochs, minutes)

    @app_commands.command(description="Retrain the lyrics model")
    @app_commands.describe(epochs="stop after this many epochs", minutes="stop after this many minutes")
    async def lyrics(self, interaction: discord.Interaction, epochs: Optional[app_commands.Range[int, 1, 1000]] = None,
                     minutes: Optional[app_commands.Range[float, 1, 1440]] = None):
        await self._start(interaction, "lyrics", epochs, minutes)

    @app_commands.command(description="Retrain the music model")
    @app_commands.describe(epochs="stop after this many epochs", minutes="stop after this many minutes")
    async def music(self, interaction: discord.Interaction, epochs: Optional[app_commands.Range[int, 1, 1000]] = None,
                    minutes: Optional[app_commands.Range[float, 1, 1440]] = None):
        await self._start(interaction, "music", epochs, minutes)

    @app_commands.command(description="Stop a retraining in progress")
    async def cancel(self, interaction: discord.Interaction, model: Model):
        await self._admin_reply(interaction, lambda inv: self.bot.core.cancel_retrain(inv, model))

    @app_commands.command(description="Serve the previous version of a model again")
    async def rollback(self, interaction: discord.Interaction, model: Model):
        await self._version_change(interaction, self.bot.core.rollback, model)

    @app_commands.command(description="Serve the newest version of a model, although it was not better")
    async def promote(self, interaction: discord.Interaction, model: Model):
        await self._version_change(interaction, self.bot.core.promote, model)

    async def _version_change(self, interaction: discord.Interaction, action, model: str) -> None:
        inv = self.bot.invocation(interaction)
        try:
            reply = await action(inv, model)
        except UserError as exc:
            await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
            return
        await interaction.response.send_message(reply.content)

    async def _admin_reply(self, interaction: discord.Interaction, action) -> None:
        try:
            reply = action(self.bot.invocation(interaction))
        except UserError as exc:
            await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
            return
        await interaction.response.send_message(reply.content)


async def setup(bot) -> None:
    await bot.add_cog(Retrain(bot))
