"""The Discord command tree, built offline: names, options and ranges as users will see them."""

import asyncio
import re

import discord
import pytest

from bot.commands import Commands
from bot.discord_app import COGS, GhostwriterBot
from bot.respond import to_files
from bot.commands import Attachment, Reply
from bot.jobs import JobQueue
from bot.settings import Settings


def build_tree():
    async def build():
        bot = GhostwriterBot(Settings(admin_user_ids=frozenset({7})), Commands({}, JobQueue(1, 4, 1, 0)))
        for cog in COGS:
            await bot.load_extension(cog)
        payload = [c.to_dict(bot.tree) for c in bot.tree.get_commands()]
        await bot.close()
        return payload

    return {c["name"]: c for c in asyncio.run(build())}


def test_commands_and_validation_in_the_signature():
    tree = build_tree()
    assert set(tree) == {"lyrics", "text", "compose", "retrain", "corpus", "status", "help", "Continue lyrics",
                         "history", "usage"}
    assert tree["Continue lyrics"]["type"] == 3  # a message context menu
    assert int(tree["usage"]["default_member_permissions"]) == discord.Permissions(administrator=True).value
    lyrics = {o["name"]: o for o in tree["lyrics"]["options"]}
    assert lyrics["temp"]["min_value"] == 0.1 and lyrics["temp"]["max_value"] == 2.0
    assert lyrics["lines"]["min_value"] == 1 and lyrics["lines"]["max_value"] == 64
    assert lyrics["length"]["min_value"] == 50 and not lyrics["length"]["required"]
    assert [c["value"] for c in lyrics["rhyme"]["choices"]] == ["auto", "AABB", "ABAB", "ABCB", "AAAA", "none"]
    assert lyrics["syllables"]["min_value"] == 2 and lyrics["form"]["autocomplete"]
    assert lyrics["seed"]["max_length"] == 4000 and lyrics["seed"]["description"]
    compose = {o["name"]: o for o in tree["compose"]["options"]}
    assert compose["notes"]["min_value"] == 1 and compose["notes"]["max_value"] == 2000
    assert compose["bars"]["max_value"] == 200 and compose["key"]["max_length"] == 30 and not compose["key"]["required"]
    assert compose["key"]["autocomplete"] and compose["instrument"]["autocomplete"]
    assert compose["primer_file"]["type"] == 11 and not compose["primer_file"]["required"]
    assert [c["value"] for c in compose["texture"]["choices"]] == ["auto", "sparse", "medium", "full"]
    assert [c["value"] for c in compose["register"]["choices"]] == ["auto", "low", "middle", "high"]
    retrain = tree["retrain"]
    assert int(retrain["default_member_permissions"]) == discord.Permissions(administrator=True).value
    subcommands = {o["name"]: o for o in retrain["options"]}
    assert set(subcommands) == {"text", "lyrics", "music", "cancel", "rollback", "promote"}
    music = {o["name"]: o for o in subcommands["music"]["options"]}
    assert set(music) == {"epochs", "minutes", "file", "file2", "file3"}
    assert music["file"]["type"] == 11 and "MIDI" in music["file"]["description"]


def test_discord_parameters_are_the_option_schema():
    """Every bound, length and choice Discord is told comes from OPTIONS (one source for all surfaces)."""
    from bot.commands import OPTIONS

    tree = build_tree()
    for command, options in OPTIONS.items():
        sent = {o["name"]: o for o in tree[command]["options"]}
        for name, option in options.items():
            param = sent[name]
            if option.min is not None:
                assert (param["min_value"], param["max_value"]) == (option.min, option.max), (command, name)
            if option.max_length is not None:
                assert param["max_length"] == option.max_length, (command, name)
            if option.choices is not None:
                assert tuple(c["value"] for c in param["choices"]) == option.choices, (command, name)
            assert param["description"] == option.description[:100], (command, name)


def test_the_bounds_agree_everywhere():
    """The RNG seed bound, the temperature range and the seed length: what Discord's parameters take, the
    console takes, and so does the library; just past them, the console refuses with the option's name."""
    import asyncio

    from bot.commands import MAX_SEED_CHARS, MAX_TEMP, MIN_TEMP, OPTIONS, Commands, Invocation
    from bot.console import reply_to
    from bot.jobs import JobQueue
    from generators import sampling, text
    from tests.bot.conftest import FakeTextGenerator

    rng = OPTIONS["lyrics"]["rng_seed"]
    assert rng.max == sampling.MAX_RNG_SEED and MAX_SEED_CHARS == text.MAX_SEED_CHARS
    for command in ("lyrics", "text", "compose"):
        assert (OPTIONS[command]["temp"].min, OPTIONS[command]["temp"].max) == (MIN_TEMP, MAX_TEMP)
    sampling.SamplingOptions(MIN_TEMP)  # the library takes the bot's whole range
    sampling.SamplingOptions(MAX_TEMP)
    sampling.make_rng(rng.max)
    commands = Commands({"lyrics": FakeTextGenerator()}, JobQueue(2, 8, 8, user_burst=0))
    ok = [f"rng_seed:{rng.max}", f"temp:{MIN_TEMP}", f"temp:{MAX_TEMP}", f"seed:{'x' * MAX_SEED_CHARS}"]
    bad = [("rng_seed", f"rng_seed:{rng.max + 1}"), ("rng_seed", "rng_seed:-1"), ("temp", f"temp:{MIN_TEMP - 0.01}"),
           ("temp", f"temp:{MAX_TEMP + 0.01}"), ("seed", f"seed:{'x' * (MAX_SEED_CHARS + 1)}")]
    try:
        for word in ok:
            assert not asyncio.run(reply_to(commands, Invocation(1), f"/lyrics {word}")).ephemeral, word
        for name, word in bad:
            reply = asyncio.run(reply_to(commands, Invocation(1), f"/lyrics {word}"))
            assert reply.ephemeral and f"`{name}`" in reply.content, word
    finally:
        commands.shutdown()


def test_files_over_the_upload_limit_are_left_out():
    files, dropped = to_files(Reply("x", [Attachment("a.mid", b"1" * 10), Attachment("b.ogg", b"1" * 100)]), limit=50)
    assert [f.filename for f in files] == ["a.mid"] and dropped == ["b.ogg"]


def test_every_description_fits_discord():
    from bot.commands import OPTIONS

    assert all(len(o.description) <= 100 for options in OPTIONS.values() for o in options.values())


@pytest.mark.parametrize("error, fragment", [("login", "Discord refused DISCORD_TOKEN"),
                                             ("network", "cannot reach Discord (ClientConnectionError")])
def test_a_refused_token_or_no_network_is_one_line(monkeypatch, error, fragment):
    import aiohttp
    import discord

    from bot import discord_app
    from bot.settings import Settings

    class Bot:
        def run(self, *args, **kwargs):
            raise discord.LoginFailure("Improper token") if error == "login" else aiohttp.ClientConnectionError("x")

    monkeypatch.setattr(discord_app, "make_bot", lambda settings, commands: Bot())
    with pytest.raises(discord_app.DiscordUnreachable, match=re.escape(fragment)):
        discord_app.run(Settings(), None)
