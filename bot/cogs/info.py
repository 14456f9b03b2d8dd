"""/status and /help."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class Info(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @app_commands.command(description="The models, the generation queue and any retraining")
    async def status(self, interaction: discord.Interaction):
        await interaction.response.send_message(self.bot.core.status().content, ephemeral=True)

    @app_commands.command(description="How to use Ghostwriter, with examples")
    async def help(self, interaction: discord.Interaction):
        await interaction.response.send_message(self.bot.core.help().content, ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(Info(bot))
