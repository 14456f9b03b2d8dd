"""/retrain (admins): retrain a model on the team corpus, cancel it, or roll back."""

from __future__ import annotations

import logging
from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands

from ..commands import RETRAIN_EPOCHS, RETRAIN_MINUTES, Model
from ..corpus import MAX_UPLOAD
from .reporting import ChannelReporter

log = logging.getLogger("bot.admin")


def retrain_command(model: str, description: str, formats: str) -> app_commands.Command:
    """`/retrain MODEL [epochs] [minutes] [file file2 file3]`: the same options for every model."""

    async def command(self, interaction: discord.Interaction,
                      epochs: Optional[app_commands.Range[int, RETRAIN_EPOCHS.min, RETRAIN_EPOCHS.max]] = None,
                      minutes: Optional[app_commands.Range[float, RETRAIN_MINUTES.min, RETRAIN_MINUTES.max]] = None,
                      file: Optional[discord.Attachment] = None, file2: Optional[discord.Attachment] = None,
                      file3: Optional[discord.Attachment] = None):
        await self._start(interaction, model, epochs, minutes, (file, file2, file3))

    command.__qualname__ = f"Retrain.{model}"  # a method of the cog, for discord.py's parameter parsing
    described = app_commands.describe(epochs=RETRAIN_EPOCHS.description, minutes=RETRAIN_MINUTES.description,
                                      file=f"add to the team corpus first: {formats}", file2="another file",
                                      file3="another file")(command)
    return app_commands.command(name=model, description=description)(described)


@app_commands.default_permissions(administrator=True)
class Retrain(commands.GroupCog, group_name="retrain", group_description="Retrain a model on the team corpus (admins)"):
    def __init__(self, bot):
        self.bot = bot
        super().__init__()

    async def _start(self, interaction: discord.Interaction, model: str, epochs, minutes, files) -> None:
        inv = self.bot.invocation(interaction)  # the real check: default_permissions is only a client-side hint
        if not inv.is_admin:
            await interaction.response.send_message("⚠️ Only admins can retrain models.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        uploads = [(a.filename, None if a.size > MAX_UPLOAD else await a.read()) for a in files if a is not None]
        # Progress and the report are channel messages (or DMs): the interaction token dies after 15 minutes.
        reporter = ChannelReporter(interaction, model)
        # (a refusal raises: the tree's error handler answers it, ephemerally)
        reply = await self.bot.core.retrain(inv, model, epochs=epochs, minutes=minutes, uploads=uploads,
                                            on_progress=reporter.progress, on_done=reporter.done)
        if reply.ephemeral:
            await interaction.delete_original_response()
            await interaction.followup.send(reply.content, ephemeral=True)
        else:
            await interaction.edit_original_response(content=reply.content + " Progress and the report follow in "
                                                     "this channel.")

    text = retrain_command("text", "Retrain the prose/script model", "a .txt file")
    lyrics = retrain_command("lyrics", "Retrain the lyrics model", "a .txt file")
    music = retrain_command("music", "Retrain the music model", "MIDI files or a .zip of them")

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
        reply = await action(self.bot.invocation(interaction), model)  # (errors: the tree's error handler)
        await interaction.response.send_message(reply.content)

    async def _admin_reply(self, interaction: discord.Interaction, action) -> None:
        reply = action(self.bot.invocation(interaction))  # (errors: the tree's error handler)
        await interaction.response.send_message(reply.content)


async def setup(bot) -> None:
    await bot.add_cog(Retrain(bot))
