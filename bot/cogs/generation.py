"""/lyrics, /text, /compose, the *Continue lyrics* message menu, /history and /usage."""

from __future__ import annotations

from typing import Literal, Optional

import discord
from discord import app_commands

from ..commands import MAX_SEED_CHARS, OPTIONS, USAGE_DAYS, instrument_suggestions, key_suggestions
from ..corpus import MAX_MIDI_BYTES
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
                       texture=C["texture"].description, register=C["register"].description,
                       instrument=C["instrument"].description, primer=C["primer"].description,
                       rng_seed=C["rng_seed"].description,
                       primer_file="a MIDI sketch of yours: its opening bars prime the piece")
async def compose(interaction: discord.Interaction,
                  notes: Optional[app_commands.Range[int, 1, 2000]] = None,
                  bars: Optional[app_commands.Range[int, 1, 200]] = None,
                  seconds: Optional[app_commands.Range[float, 1, 600]] = None,
                  key: app_commands.Range[str, 1, 30] = "random",
                  temp: app_commands.Range[float, 0.1, 2.0] = 0.9,
                  texture: Literal["auto", "sparse", "medium", "full"] = "auto",
                  register: Literal["auto", "low", "middle", "high"] = "auto",
                  tempo: app_commands.Range[int, 20, 300] = 120,
                  instrument: app_commands.Range[str, 1, 40] = "piano",
                  primer: app_commands.Range[str, 1, 200] = "random",
                  rng_seed: Optional[app_commands.Range[int, 0, RNG_MAX]] = None,
                  primer_file: Optional[discord.Attachment] = None):
    bot = interaction.client
    inv = bot.invocation(interaction)

    async def work():
        upload = None
        if primer_file is not None:  # too large: never fetched, refused by the same check as corpus uploads
            upload = (primer_file.filename, None if primer_file.size > MAX_MIDI_BYTES else await primer_file.read())
        return await bot.core.compose(inv, notes, temp, tempo, instrument, primer, rng_seed, key=key, bars=bars,
                                      seconds=seconds, primer_file=upload, texture=texture, register=register)

    await respond(interaction, work)


@compose.autocomplete("instrument")
async def instrument_autocomplete(interaction: discord.Interaction, current: str):
    return [app_commands.Choice(name=n, value=n[:40]) for n in instrument_suggestions(current)]


@compose.autocomplete("key")
async def key_autocomplete(interaction: discord.Interaction, current: str):
    return [app_commands.Choice(name=k, value=k) for k in key_suggestions(current)]


@app_commands.context_menu(name="Continue lyrics")
async def continue_lyrics(interaction: discord.Interaction, message: discord.Message):
    bot = interaction.client
    inv = bot.invocation(interaction)
    await respond(interaction, lambda: bot.core.continue_text(inv, "lyrics", message.content))


@app_commands.command(name="history", description="Your last results, to open again")
async def history(interaction: discord.Interaction):
    bot = interaction.client
    inv = bot.invocation(interaction)
    await respond(interaction, lambda: bot.core.history_list(inv), ephemeral=True)


@app_commands.command(name="usage", description="Generations per command and per user (admins)")
@app_commands.describe(days=USAGE_DAYS.description)
@app_commands.default_permissions(administrator=True)
async def usage(interaction: discord.Interaction, days: app_commands.Range[float, 1, 365] = 7):
    bot = interaction.client
    inv = bot.invocation(interaction)
    await respond(interaction, lambda: bot.core.usage(inv, days), ephemeral=True)


COMMANDS = (
    write_command("lyrics", "Song lyrics that begin with your seed"),
    write_command("text", "Prose or script text that begins with your seed"),
    compose,
    continue_lyrics,
    history,
    usage,
)


async def setup(bot) -> None:
    for command in COMMANDS:
        bot.tree.add_command(command)


async def teardown(bot) -> None:
    for command in COMMANDS:
        bot.tree.remove_command(command.name, type=command.type)
