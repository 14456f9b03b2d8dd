"""The Discord command tree, built offline: names, options and ranges as users will see them."""

import asyncio

import discord

from bot.commands import Commands
from bot.discord_app import COGS, GhostwriterBot, to_files
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
    assert lyrics["length"]["min_value"] == 50 and lyrics["length"]["max_value"] == 2000
    assert lyrics["seed"]["max_length"] == 500 and lyrics["seed"]["description"]
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


def test_files_over_the_upload_limit_are_left_out():
    files, dropped = to_files(Reply("x", [Attachment("a.mid", b"1" * 10), Attachment("b.ogg", b"1" * 100)]), limit=50)
    assert [f.filename for f in files] == ["a.mid"] and dropped == ["b.ogg"]
