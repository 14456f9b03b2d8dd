"""Gateway sharding: BOT_SHARDS / BOT_SHARD_IDS, and shards (in one process, or one per process sharing DATA_DIR)
against the stand-in Discord, whose /gateway/bot recommends two shards."""

from __future__ import annotations

import asyncio

import pytest

from bot.commands import Commands
from bot.discord_app import GhostwriterBot, ShardedGhostwriterBot, make_bot
from bot.history import History
from bot.jobs import JobQueue
from bot.settings import Settings, SettingsError

from .conftest import FakeMusicGenerator, FakeTextGenerator
from .fake_discord import GUILD_2_ID, GUILD_ID, FakeDiscord
from .test_e2e import opt
from .test_results import buttons_of


@pytest.mark.parametrize("shards, ids, expected", [
    ("", "", (False, None, ())),
    ("auto", "", (True, None, ())),
    ("AUTO ", "", (True, None, ())),
    ("4", "", (True, 4, ())),
    ("4", "1", (True, 4, (1,))),
    ("8", "0,2-3, 7", (True, 8, (0, 2, 3, 7))),
])
def test_shard_settings(monkeypatch, shards, ids, expected):
    monkeypatch.setenv("BOT_SHARDS", shards)
    monkeypatch.setenv("BOT_SHARD_IDS", ids)
    settings = Settings.from_env(load_dotenv_file=False)
    assert (settings.sharded, settings.shard_count, settings.shard_ids) == expected
    assert settings.syncs_commands == (not expected[2] or 0 in expected[2])


@pytest.mark.parametrize("shards, ids, message", [
    ("0", "", "BOT_SHARDS must be between 1"),
    ("two", "", "BOT_SHARDS must be an integer"),
    ("", "0", "BOT_SHARD_IDS needs BOT_SHARDS"),
    ("auto", "0", "not auto"),
    ("2", "2", "not within 0..1"),
    ("4", "3-1", "runs backwards: write it low-high, like 1-3"),
    ("4", "x", "shard numbers or ranges"),
    ("4", "1,,2", "shard numbers or ranges"),
])
def test_bad_shard_settings_name_the_variable(monkeypatch, shards, ids, message):
    monkeypatch.setenv("BOT_SHARDS", shards)
    monkeypatch.setenv("BOT_SHARD_IDS", ids)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(load_dotenv_file=False)


def test_make_bot_shards_only_when_asked():
    commands = Commands({}, JobQueue(1, 4, 1, 0))
    assert type(make_bot(Settings(), commands)) is GhostwriterBot
    sharded = make_bot(Settings(sharded=True, shard_count=4, shard_ids=(2, 3)), commands)
    assert isinstance(sharded, ShardedGhostwriterBot)
    assert (sharded.shard_count, sharded.shard_ids) == (4, [2, 3])
    commands.jobs.shutdown()


def _commands(data_dir) -> Commands:
    """A process's command layer: its own queue and its own connection to the history in ``data_dir``."""
    generators = {"text": FakeTextGenerator(), "lyrics": FakeTextGenerator(), "music": FakeMusicGenerator()}
    return Commands(generators, JobQueue(workers=2, queue_depth=16, user_max_jobs=4, user_burst=0),
                    history=History(data_dir).open())


async def _start(settings: Settings, commands: Commands):
    bot = make_bot(settings, commands)
    return bot, asyncio.ensure_future(bot.start(settings.discord_token))


async def _until_ready(fake: FakeDiscord, bots) -> None:
    await asyncio.wait_for(fake.ready.wait(), 30)
    for _ in range(400):
        if all(bot.is_ready() for bot in bots):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the shards did not become ready")


async def _stop(fake, started) -> None:
    for bot, runner in started:
        await bot.close()
        await asyncio.wait_for(runner, 10)
    await fake.stop()


async def _lyrics_in(fake: FakeDiscord, guild: str, seed: str) -> dict:
    token = await fake.interact("lyrics", [opt("seed", seed, "str"), opt("length", 60, "int")], guild_id=guild)
    return await fake.reply(token, timeout=30)


def test_two_shards_in_one_process(monkeypatch, tmp_path):
    """BOT_SHARDS=auto: Discord's recommendation (2) is taken, both shards identify with their ids, a command in a
    guild of either shard is answered, and a button made on one shard is pressed on the other."""

    async def scenario():
        fake = FakeDiscord()
        fake.recommended_shards, fake.max_concurrency = 2, 16
        await fake.start()
        fake.patch_discord(monkeypatch)
        commands = _commands(tmp_path / "data")
        started = [await _start(Settings(discord_token="t" * 40, sharded=True), commands)]
        bot = started[0][0]
        try:
            await _until_ready(fake, [bot])
            assert sorted(fake.identified) == [(0, 2), (1, 2)]
            assert bot.shard_count == 2 and {g.id: g.shard_id for g in bot.guilds} == {int(GUILD_ID): 0,
                                                                                       int(GUILD_2_ID): 1}
            first = await _lyrics_in(fake, GUILD_ID, "shard zero")
            second = await _lyrics_in(fake, GUILD_2_ID, "shard one")
            assert "shard zero" in first["content"] and "shard one" in second["content"]
            assert any(method == "PUT" and path.endswith("/commands") for method, path in fake.requests)
            token = await fake.press(first, buttons_of(first)["continue"], guild_id=GUILD_2_ID)
            pressed = await fake.reply(token, timeout=30)
            assert "continued" in pressed["content"] and "shard zero" in pressed["content"]
        finally:
            await _stop(fake, started)
            commands.jobs.shutdown()

    asyncio.run(scenario())


def test_one_shard_per_process_sharing_data_dir(monkeypatch, tmp_path):
    """Two processes of one bot (BOT_SHARDS=2, BOT_SHARD_IDS=0 and =1; here two clients, each with its own command
    layer, queue and history connection over one DATA_DIR): each answers its own guild, only shard 0's process
    syncs the commands, and a result made by one process is acted on by a press that reaches the other."""

    async def scenario():
        fake = FakeDiscord()
        await fake.start()
        fake.patch_discord(monkeypatch)
        layers = [_commands(tmp_path / "data") for _ in range(2)]
        started = []
        try:
            for shard, commands in enumerate(layers):
                settings = Settings(discord_token="t" * 40, sharded=True, shard_count=2, shard_ids=(shard,))
                started.append(await _start(settings, commands))
            await _until_ready(fake, [bot for bot, _ in started])
            assert sorted(fake.identified) == [(0, 2), (1, 2)]
            assert [len(bot.guilds) for bot, _ in started] == [1, 1]
            syncs = [path for method, path in fake.requests if method == "PUT" and path.endswith("/commands")]
            assert len(syncs) == 1
            first = await _lyrics_in(fake, GUILD_ID, "made on zero")
            second = await _lyrics_in(fake, GUILD_2_ID, "made on one")
            assert "made on zero" in first["content"] and "made on one" in second["content"]
            assert [c.jobs.active for c in layers] == [0, 0]
            token = await fake.press(first, buttons_of(first)["again"], guild_id=GUILD_2_ID)
            again = await fake.reply(token, timeout=30)
            assert "made on zero" in again["content"] and not again.get("ephemeral")
        finally:
            await _stop(fake, started)
            for commands in layers:
                commands.jobs.shutdown()

    asyncio.run(scenario())
