"""/corpus add (admins) and /corpus list."""

from __future__ import annotations

from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands

from ..commands import Model
from ..corpus import MAX_UPLOAD
from ..respond import respond


class Corpus(commands.GroupCog, group_name="corpus", group_description="The team's training material"):
    def __init__(self, bot):
        self.bot = bot
        super().__init__()

    @app_commands.command(description="Add a text file, MIDI files or a zip of MIDI files to a model's corpus (admins)")
    @app_commands.describe(model="which model the material is for", file="a .txt file, a .mid file or a .zip of .mid files")
    @app_commands.default_permissions(administrator=True)
    async def add(self, interaction: discord.Interaction, model: Model,
                  file: discord.Attachment, file2: Optional[discord.Attachment] = None,
                  file3: Optional[discord.Attachment] = None):
        inv = self.bot.invocation(interaction)
        attachments = [a for a in (file, file2, file3) if a is not None]

        async def work():
            uploads = []
            for a in attachments:
                uploads.append((a.filename, None if a.size > MAX_UPLOAD else await a.read()))  # None: never fetched
            return await self.bot.core.corpus_add(inv, model, uploads)

        await respond(interaction, work)

    @app_commands.command(description="What each model trains on")
    async def list(self, interaction: discord.Interaction):
        await interaction.response.send_message(self.bot.core.corpus_list().content, ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(Corpus(bot))
