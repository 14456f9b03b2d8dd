"""/retrain (admins): retrain a model on the team corpus, cancel it, or roll back."""

from __future__ import annotations

import logging
from typing import Literal, Optional

import discord
from discord import app_commands
from discord.ext import commands

from generators.errors import GeneratorError

from ..commands import UserError, user_message
from ..corpus import MAX_UPLOAD
from ..discord_app import ChannelReporter
from ..jobs import Busy

log = logging.getLogger("bot.admin")
Model = Literal["text", "lyrics", "music"]


def retrain_command(model: str, description: str, formats: str) -> app_commands.Command:
    """`/retrain MODEL [epochs] [minutes] [file file2 file3]`: the same options for every model."""

    async def command(self, interaction: discord.Interaction,
                      epochs: Optional[app_commands.Range[int, 1, 1000]] = None,
                      minutes: Optional[app_commands.Range[float, 1, 1440]] = None,
                      file: Optional[discord.Attachment] = None, file2: Optional[discord.Attachment] = None,
                      file3: Optional[discord.Attachment] = None):
        await self._start(interaction, model, epochs, minutes, (file, file2, file3))

    command.__qualname__ = f"Retrain.{model}"  # a method of the cog, for discord.py's parameter parsing
    described = app_commands.describe(epochs="stop after this many epochs", minutes="stop after this many minutes",
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
        try:
            reply = await self.bot.core.retrain(inv, model, epochs=epochs, minutes=minutes, uploads=uploads,
                                                on_progress=reporter.progress, on_done=reporter.done)
        except (UserError, GeneratorError, Busy) as exc:
            await interaction.delete_original_response()
            await interaction.followup.send(user_message(exc), ephemeral=True)
            return
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
        inv = self.bot.invocation(interaction)
        try:
            reply = await action(inv, model)
        except (UserError, GeneratorError, Busy) as exc:
            await interaction.response.send_message(user_message(exc), ephemeral=True)
            return
        await interaction.response.send_message(reply.content)

    async def _admin_reply(self, interaction: discord.Interaction, action) -> None:
        try:
            reply = action(self.bot.invocation(interaction))
        except (UserError, GeneratorError, Busy) as exc:
            await interaction.response.send_message(user_message(exc), ephemeral=True)
            return
        await interaction.response.send_message(reply.content)


async def setup(bot) -> None:
    await bot.add_cog(Retrain(bot))
