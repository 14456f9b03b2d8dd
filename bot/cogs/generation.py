"""/lyrics, /text and /compose."""

from __future__ import annotations

from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands

from ..commands import MAX_SEED_CHARS, OPTIONS
from ..discord_app import respond

L, T, C = OPTIONS["lyrics"], OPTIONS["text"], OPTIONS["compose"]
RNG_MAX = 2**31 - 1  # Discord integer options are 53-bit; keep seeds in a comfortable range


class Generation(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @app_commands.command(description="Song lyrics that begin with your seed")
    @app_commands.describe(seed=L["seed"].description, temp=L["temp"].description, length=L["length"].description,
                           rng_seed=L["rng_seed"].description)
    async def lyrics(self, interaction: discord.Interaction,
                     seed: app_commands.Range[str, 0, MAX_SEED_CHARS] = "",
                     temp: app_commands.Range[float, 0.1, 2.0] = 0.5,
                     length: app_commands.Range[int, 50, 2000] = 400,
                     rng_seed: Optional[app_commands.Range[int, 0, RNG_MAX]] = None):
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.write(inv, "lyrics", seed, temp, length, rng_seed))

    @app_commands.command(description="Prose or script text that begins with your seed")
    @app_commands.describe(seed=T["seed"].description, temp=T["temp"].description, length=T["length"].description,
                           rng_seed=T["rng_seed"].description)
    async def text(self, interaction: discord.Interaction,
                   seed: app_commands.Range[str, 0, MAX_SEED_CHARS] = "",
                   temp: app_commands.Range[float, 0.1, 2.0] = 0.5,
                   length: app_commands.Range[int, 50, 2000] = 400,
                   rng_seed: Optional[app_commands.Range[int, 0, RNG_MAX]] = None):
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.write(inv, "text", seed, temp, length, rng_seed))

    @app_commands.command(description="A piece of music: MIDI file, piano roll and summary")
    @app_commands.describe(notes=C["notes"].description, temp=C["temp"].description, tempo=C["tempo"].description,
                           instrument=C["instrument"].description, primer=C["primer"].description,
                           rng_seed=C["rng_seed"].description)
    async def compose(self, interaction: discord.Interaction,
                      notes: app_commands.Range[int, 1, 2000] = 500,
                      temp: app_commands.Range[float, 0.1, 2.0] = 0.9,
                      tempo: app_commands.Range[int, 20, 300] = 120,
                      instrument: app_commands.Range[str, 1, 40] = "piano",
                      primer: app_commands.Range[str, 1, 200] = "random",
                      rng_seed: Optional[app_commands.Range[int, 0, RNG_MAX]] = None):
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.compose(inv, notes, temp, tempo, instrument, primer, rng_seed))


async def setup(bot) -> None:
    await bot.add_cog(Generation(bot))
