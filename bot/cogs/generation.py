"""/lyrics, /text, /compose, the *Continue lyrics* message menu, /history and /usage.

Every bound, choice and help text comes from the option schema (:data:`bot.commands.OPTIONS`), so Discord's
client refuses exactly what the command layer would.
"""

from __future__ import annotations

from typing import Literal, Optional, get_args

import discord
from discord import app_commands
from discord.ext import commands

from ..commands import OPTIONS, USAGE_DAYS, instrument_suggestions, key_suggestions
from ..commands.options import form_suggestions, song_form_suggestions
from ..corpus import MAX_MIDI_BYTES
from ..respond import respond

L, C, T = OPTIONS["lyrics"], OPTIONS["compose"], OPTIONS["text"]
SEED, TEMP, LENGTH, RNG = T["seed"], T["temp"], T["length"], T["rng_seed"]
LINES, SONG_FORM, SYLLABLES = L["lines"], L["form"], L["syllables"]
Rhyme = Literal["auto", "AABB", "ABAB", "ABCB", "AAAA", "none"]
NOTES, BARS, SECONDS, TEMPO = C["notes"], C["bars"], C["seconds"], C["tempo"]
KEY, INSTRUMENT, PRIMER, CTEMP, FORM, CHORDS = C["key"], C["instrument"], C["primer"], C["temp"], C["form"], C["chords"]
Texture = Literal["auto", "sparse", "medium", "full"]  # (Discord's choices; a test checks they are the schema's)
Register = Literal["auto", "low", "middle", "high"]
CHOICES = {"texture": get_args(Texture), "register": get_args(Register), "rhyme": get_args(Rhyme)}
WRITE_HELP = {m: {n: o.description for n, o in OPTIONS[m].items()} for m in ("lyrics", "text")}
COMPOSE_HELP = {n: o.description for n, o in C.items()}


class Generation(commands.Cog):
    def __init__(self, bot):
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Continue lyrics", callback=self.continue_lyrics)
        bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def _write(self, interaction: discord.Interaction, model: str, seed, temp, length, rng_seed,
                     **song) -> None:
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.write(inv, model, seed, temp, length, rng_seed, **song))

    @app_commands.command(description="A song that begins with your seed: verses, a chorus that returns, rhymes")
    @app_commands.describe(**WRITE_HELP["lyrics"])
    async def lyrics(self, interaction: discord.Interaction,
                     seed: app_commands.Range[str, 0, SEED.max_length] = SEED.default,
                     temp: app_commands.Range[float, TEMP.min, TEMP.max] = TEMP.default,
                     lines: Optional[app_commands.Range[int, LINES.min, LINES.max]] = None,
                     rhyme: Optional[Rhyme] = None,
                     form: Optional[app_commands.Range[str, 1, SONG_FORM.max_length]] = None,
                     syllables: Optional[app_commands.Range[int, SYLLABLES.min, SYLLABLES.max]] = None,
                     length: Optional[app_commands.Range[int, LENGTH.min, LENGTH.max]] = None,
                     rng_seed: Optional[app_commands.Range[int, RNG.min, RNG.max]] = None):
        # (options left out arrive as None: the command layer fills in their defaults and refuses `length` beside
        # a song option, as it does for the console)
        await self._write(interaction, "lyrics", seed, temp, length, rng_seed, lines=lines, rhyme=rhyme, form=form,
                          syllables=syllables)

    @lyrics.autocomplete("form")
    async def song_form_autocomplete(self, interaction: discord.Interaction, current: str):
        return [app_commands.Choice(name=f, value=f) for f in song_form_suggestions(current)]

    @app_commands.command(description="Prose or script text that begins with your seed")
    @app_commands.describe(**WRITE_HELP["text"])
    async def text(self, interaction: discord.Interaction,
                   seed: app_commands.Range[str, 0, SEED.max_length] = SEED.default,
                   temp: app_commands.Range[float, TEMP.min, TEMP.max] = TEMP.default,
                   length: app_commands.Range[int, LENGTH.min, LENGTH.max] = LENGTH.default,
                   rng_seed: Optional[app_commands.Range[int, RNG.min, RNG.max]] = None):
        await self._write(interaction, "text", seed, temp, length, rng_seed)

    @app_commands.command(description="A piece of music: MIDI file, piano roll and summary")
    @app_commands.describe(**COMPOSE_HELP, primer_file="a MIDI sketch of yours: its opening bars prime the piece")
    async def compose(self, interaction: discord.Interaction,
                      notes: Optional[app_commands.Range[int, NOTES.min, NOTES.max]] = None,
                      bars: Optional[app_commands.Range[int, BARS.min, BARS.max]] = None,
                      seconds: Optional[app_commands.Range[float, SECONDS.min, SECONDS.max]] = None,
                      key: app_commands.Range[str, 1, KEY.max_length] = KEY.default,
                      temp: app_commands.Range[float, CTEMP.min, CTEMP.max] = CTEMP.default,
                      texture: Texture = C["texture"].default,
                      register: Register = C["register"].default,
                      form: app_commands.Range[str, 1, FORM.max_length] = FORM.default,
                      chords: app_commands.Range[str, 0, CHORDS.max_length] = CHORDS.default,
                      tempo: app_commands.Range[int, TEMPO.min, TEMPO.max] = TEMPO.default,
                      instrument: app_commands.Range[str, 1, INSTRUMENT.max_length] = INSTRUMENT.default,
                      primer: app_commands.Range[str, 1, PRIMER.max_length] = PRIMER.default,
                      rng_seed: Optional[app_commands.Range[int, RNG.min, RNG.max]] = None,
                      primer_file: Optional[discord.Attachment] = None):
        inv = self.bot.invocation(interaction)

        async def work():
            upload = None
            if primer_file is not None:  # too large: never fetched, refused by the same check as corpus uploads
                upload = (primer_file.filename,
                          None if primer_file.size > MAX_MIDI_BYTES else await primer_file.read())
            return await self.bot.core.compose(inv, notes, temp, tempo, instrument, primer, rng_seed, key=key,
                                               bars=bars, seconds=seconds, primer_file=upload, texture=texture,
                                               register=register, form=form, chords=chords)

        await respond(interaction, work)

    @compose.autocomplete("instrument")
    async def instrument_autocomplete(self, interaction: discord.Interaction, current: str):
        return [app_commands.Choice(name=n, value=n[:INSTRUMENT.max_length]) for n in instrument_suggestions(current)]

    @compose.autocomplete("form")
    async def form_autocomplete(self, interaction: discord.Interaction, current: str):
        return [app_commands.Choice(name=f, value=f) for f in form_suggestions(current)]

    @compose.autocomplete("key")
    async def key_autocomplete(self, interaction: discord.Interaction, current: str):
        return [app_commands.Choice(name=k, value=k) for k in key_suggestions(current)]

    async def continue_lyrics(self, interaction: discord.Interaction, message: discord.Message):
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.continue_text(inv, "lyrics", message.content))

    @app_commands.command(description="Your last results, to open again")
    async def history(self, interaction: discord.Interaction):
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.history_list(inv), ephemeral=True)

    @app_commands.command(description="Generations per command and per user (admins)")
    @app_commands.describe(days=USAGE_DAYS.description)
    @app_commands.default_permissions(administrator=True)
    async def usage(self, interaction: discord.Interaction,
                    days: app_commands.Range[float, USAGE_DAYS.min, USAGE_DAYS.max] = USAGE_DAYS.default):
        inv = self.bot.invocation(interaction)
        await respond(interaction, lambda: self.bot.core.usage(inv, days), ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(Generation(bot))
