"""/lyrics, /text and /compose."""

from __future__ import annotations

from typing import Optional

import discord
from discord import app_commands

from ..commands import MAX_SEED_CHARS, OPTIONS
from ..discord_app import respond

C = OPTIONS["compose"]
RNG_MAX = 2**31 - 1  # Discord integer options are 53-bit; keep seeds in a comfortable range


def write_command(model: str, description: str) -> app_commands.Command:
    """`/lyrics` or `/text`: the same options, a different model."""
    o = OPTIONS[model]

    @app_commands.command(name=model, description=description)
    @app_commands.describe(seed=o["seed"].description, temp=o["temp"].description, length=o["length"].description,
                           rng_seed=o["rng_seed"].description)
    async def command(interaction: discord.Interaction,
                      seed: app_commands.Range[str, 0, MAX_SEED_CHARS] = "",
                      temp: app_commands.Range[float, 0.1, 2.0] = 0.5,
                      length: app_commands.Range[int, 50, 2000] = 400,
                      rng_seed: Optional[app_commands.Range[int, 0, RNG_MAX]] = None):
        bot = interaction.client
        inv = bot.invocation(interaction)
        await respond(interaction, lambda: bot.core.write(inv, model, seed, temp, length, rng_seed))

    return command


@app_commands.command(description="A piece of music: MIDI file, piano roll and summary")
@app_commands.describe(notes=C["notes"].description, bars=C["bars"].description, seconds=C["seconds"].description,
                       key=C["key"].description, temp=C["temp"].description, tempo=C["tempo"].description,
                       instrument=C["instrument"].description, primer=C["primer"].description,
                       rng_seed=C["rng_seed"].description)
async def compose(interaction: discord.Interaction,
                  notes: Optional[app_commands.Range[int, 1, 2000]] = None,
                  bars: Optional[app_commands.Range[int, 1, 200]] = None,
                  seconds: Optional[app_commands.Range[float, 1, 600]] = None,
                  key: app_commands.Range[str, 1, 30] = "random",
                  temp: app_commands.Range[float, 0.1, 2.0] = 0.9,
                  tempo: app_commands.Range[int, 20, 300] = 120,
                  instrument: app_commands.Range[str, 1, 40] = "piano",
                  primer: app_commands.Range[str, 1, 200] = "random",
                  rng_seed: Optional[app_commands.Range[int, 0, RNG_MAX]] = None):
    bot = interaction.client
    inv = bot.invocation(interaction)
    await respond(interaction, lambda: bot.core.compose(inv, notes, temp, tempo, instrument, primer, rng_seed,
                                                        key=key, bars=bars, seconds=seconds))


COMMANDS = (
    write_command("lyrics", "Song lyrics that begin with your seed"),
    write_command("text", "Prose or script text that begins with your seed"),
    compose,
)


async def setup(bot) -> None:
    for command in COMMANDS:
        bot.tree.add_command(command)


async def teardown(bot) -> None:
    for command in COMMANDS:
        bot.tree.remove_command(command.name)
