"""End to end: the real discord.py client, over real sockets, against the local stand-in of Discord."""

from __future__ import annotations

import asyncio
import time


from bot.commands import Commands
from bot.discord_app import GhostwriterBot
from bot.jobs import JobQueue
from bot.settings import Settings

from .fake_discord import GUILD_ID, FakeDiscord


def opt(name, value, kind):
    return {"name": name, "type": {"str": 3, "int": 4, "float": 10}[kind], "value": value}


async def start_bot(monkeypatch, commands):
    fake = FakeDiscord()
    await fake.start()
    fake.patch_discord(monkeypatch)
    settings = Settings(discord_token="t" * 40, guild_id=int(GUILD_ID))
    bot = GhostwriterBot(settings, commands)
    runner = asyncio.ensure_future(bot.start(settings.discord_token))
    await asyncio.wait_for(fake.ready.wait(), 30)
    for _ in range(200):
        if bot.is_ready():
            break
        await asyncio.sleep(0.05)
    return fake, bot, runner


async def stop_bot(fake, bot, runner):
    await bot.close()
    await asyncio.wait_for(runner, 10)
    await fake.stop()


async def channel_report(fake, text: str, timeout: float = 60.0) -> dict:
    """The first channel message (or DM) that contains ``text``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for message in fake.channel_messages:
            if text in message["content"]:
                return message
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no channel message with {text!r}: {[m['content'] for m in fake.channel_messages]}"
        fake.message_posted.clear()
        try:
            await asyncio.wait_for(fake.message_posted.wait(), min(remaining, 1.0))
        except asyncio.TimeoutError:
            pass


def test_retrain_reports_outlive_the_interaction_token(monkeypatch, fakes, tmp_path):
    """Discord's interaction token dies after 15 minutes; progress and the report must not need it."""
    import sys

    from bot.cogs.reporting import ChannelReporter
    from bot.retrain import RetrainManager

    from .fake_discord import CHANNEL_ID, DM_CHANNEL_ID
    from .fake_trainer import FAKE_TRAINER, fake_music_corpus

    monkeypatch.setattr(ChannelReporter, "min_interval_s", 0.0)
    commands = Commands(fakes, JobQueue(workers=2, queue_depth=64, user_max_jobs=4, user_burst=0))
    trainer = tmp_path / "trainer.py"
    trainer.write_text(FAKE_TRAINER)
    corpus = fake_music_corpus(tmp_path / "music", "slow")  # the fake trainer takes 4 s after its progress lines
    commands.retrainer = RetrainManager(tmp_path / "data", {"music": corpus}, tmp_path, lambda m, p: f"gen:{p.name}",
                                        lambda m, g: None, trainer=[sys.executable, str(trainer)])

    async def scenario():
        fake, bot, runner = await start_bot(monkeypatch, commands)
        fake.webhook_lifetime_s = 2.0
        try:
            token = await fake.interact("retrain", user_id=601, admin=True, subcommand="music")
            report = await channel_report(fake, "now serving")
            assert time_since(fake, token) > fake.webhook_lifetime_s  # the token had expired by then
            assert report["content"].startswith("<@601>") and report["channel_id"] == CHANNEL_ID
            assert [str(u) for u in report["allowed_mentions"]["users"]] == ["601"]
            progress = await channel_report(fake, "Retraining `music`")
            assert "epoch 2" in progress["content"] and len(progress["edits"]) == 1  # one message, edited

            # A channel the bot cannot write to: progress and report go to the admin's DMs.
            fake.forbidden_channels.add(CHANNEL_ID)
            await asyncio.sleep(1.1)  # versions are named by the second
            await fake.interact("retrain", user_id=601, admin=True, subcommand="music")
            for _ in range(200):
                dms = [m for m in fake.channel_messages if m["channel_id"] == DM_CHANNEL_ID]
                if any("now serving" in m["content"] for m in dms):
                    break
                await asyncio.sleep(0.1)
            assert any("now serving" in m["content"] for m in dms) and any("Retraining" in m["content"] for m in dms)
        finally:
            await stop_bot(fake, bot, runner)

    asyncio.run(scenario())


def time_since(fake, token) -> float:
    import time

    return time.monotonic() - fake.exchanges[token].sent_at


def test_fake_generators_end_to_end(monkeypatch, fakes):
    commands = Commands(fakes, JobQueue(workers=2, queue_depth=64, user_max_jobs=4, user_burst=0))

    async def scenario():
        fake, bot, runner = await start_bot(monkeypatch, commands)
        try:
            assert {c["name"] for c in fake.synced} >= {"lyrics", "compose", "retrain"}
            token = await fake.interact("lyrics", [opt("seed", "Yeah, oho", "str"), opt("temp", 0.5, "float")])
            msg = await fake.reply(token)
            assert msg["content"].startswith("Yeah, oho") and not msg["ephemeral"]
            assert fake.exchanges[token].callback_type == 5  # deferred first
            token = await fake.interact("compose", [opt("notes", 500, "int")])
            msg = await fake.reply(token)
            assert [f["filename"].rsplit(".", 1)[1] for f in msg["files"]][:2] == ["mid", "png"]
            token = await fake.interact("retrain", subcommand="music")
            msg = await fake.reply(token)
            assert msg["ephemeral"] and "Only admins" in msg["content"]
        finally:
            await stop_bot(fake, bot, runner)

    asyncio.run(scenario())


def test_real_models_end_to_end(monkeypatch, tmp_path):
    """The shipped checkpoints behind the real client: replies, a burst under a steady heartbeat, bad input, admin."""
    import sys

    from bot.app import load_generator
    from bot.retrain import RetrainManager
    from generators.cli import checkpoint_root
    from generators.music.midi_io import midi_bytes_to_notes

    from .fake_discord import HEARTBEAT_MS
    from .fake_trainer import FAKE_TRAINER, fake_music_corpus

    generators = {m: load_generator(m, checkpoint_root() / m) for m in ("lyrics", "music")}
    commands = Commands(generators, JobQueue(workers=2 + 8, queue_depth=200, user_max_jobs=50, user_burst=0),
                        max_batch=8)
    assert all(g.batcher is not None for g in generators.values())  # requests are stepped together
    trainer = tmp_path / "trainer.py"
    trainer.write_text(FAKE_TRAINER)
    fake_music_corpus(tmp_path / "music")
    swapped = {}
    commands.retrainer = RetrainManager(tmp_path / "data", {"music": tmp_path / "music"}, tmp_path,
                                        lambda m, p: f"gen:{p.name}", lambda m, g: swapped.setdefault(m, g),
                                        trainer=[sys.executable, str(trainer)])

    async def scenario():
        fake, bot, runner = await start_bot(monkeypatch, commands)
        try:
            token = await fake.interact("lyrics", [opt("seed", "Yeah, oho", "str"), opt("temp", 0.5, "float")])
            msg = await fake.reply(token)
            assert "\nYeah, oho" in msg["content"] and "rng_seed" in msg["content"]

            token = await fake.interact("compose", [opt("notes", 500, "int")])
            msg = await fake.reply(token, timeout=120)
            midi = next(f for f in msg["files"] if f["filename"].endswith(".mid"))
            assert len(midi_bytes_to_notes(midi["data"])) >= 500
            # The reply carries MIDI and piano roll; the audio preview is added to it afterwards, by an edit.
            assert sorted(f["filename"][-4:] for f in msg["files"]) == [".mid", ".png"]
            for _ in range(600):
                edits = [e for e in fake.exchanges[token].edits if any(a["filename"].endswith(".ogg")
                                                                       for a in e["attachments"])]
                if edits:
                    break
                await asyncio.sleep(0.1)
            assert edits and edits[0]["at"] > msg["at"]

            token = await fake.interact("retrain", user_id=600, admin=False, subcommand="music")
            refused = await fake.reply(token)
            assert refused["ephemeral"] and "Only admins" in refused["content"]
            token = await fake.interact("retrain", user_id=601, admin=True, subcommand="music")
            report = await channel_report(fake, "now serving")  # a channel message, not a follow-up
            assert report["content"].startswith("<@601>") and swapped["music"].startswith("gen:v")

            # A burst of users at once: every one answered, the heartbeat keeps its rhythm.
            beats_before = len(fake.heartbeats)
            tokens = [await fake.interact("lyrics", [opt("seed", f"line {i}", "str"), opt("lines", 4, "int")],
                                          user_id=700 + i) for i in range(20)]
            tokens.append(await fake.interact("compose", [opt("notes", 200, "int")], user_id=800))
            replies = await asyncio.gather(*(fake.reply(t, timeout=120) for t in tokens))
            assert all(not r["ephemeral"] for r in replies)
            assert all(fake.exchanges[t].acked_at - fake.exchanges[t].sent_at < 3.0 for t in tokens)
            # The gaps between the beats during the burst, and from the last beat to now (a quick burst may
            # see no beat at all): none longer than a blocked loop would make it.
            beats = fake.heartbeats[max(0, beats_before - 1):] + [time.monotonic()]
            gaps = [b - a for a, b in zip(beats, beats[1:])]
            assert max(gaps, default=0.0) < 3 * HEARTBEAT_MS / 1000, gaps

            # Bad input is answered with an error, ephemerally, and the bot keeps serving.
            for options in ([opt("seed", "x" * 5000, "str")], [opt("seed", "bin\x00ary", "str")],
                            [opt("temp", 9.0, "float")], [opt("lines", 10**6, "int")], [opt("rhyme", "XYZ1", "str")]):
                token = await fake.interact("lyrics", options, user_id=900)
                err = await fake.reply(token)
                assert err["ephemeral"] and err["content"].startswith("⚠️")
            token = await fake.interact("lyrics", [opt("seed", "Still here", "str")], user_id=901)
            assert "\nStill here" in (await fake.reply(token))["content"]
        finally:
            await stop_bot(fake, bot, runner)
            commands.shutdown()

    asyncio.run(scenario())


def test_real_retrain_end_to_end(monkeypatch, tmp_path):
    """/corpus add two MIDI files, /retrain music with the real trainer child, the swap, /compose from the new
    version with its report, and /retrain rollback."""
    from bot.app import load_generator
    from bot.cogs.reporting import ChannelReporter
    from bot.retrain import RetrainManager
    from generators.cli import checkpoint_root
    from generators.music.encoder import Note
    from generators.music.midi_io import midi_bytes_to_notes, notes_to_midi_bytes

    monkeypatch.setattr(ChannelReporter, "min_interval_s", 0.0)
    shipped = checkpoint_root()
    commands = Commands({"music": load_generator("music", shipped / "music")},
                        JobQueue(workers=2, queue_depth=16, user_max_jobs=4, user_burst=0))
    data = tmp_path / "data"
    commands.retrainer = RetrainManager(data, {"music": data / "music"}, shipped, load_generator, commands.swap)
    riff = [Note(16 * bar + 4 * i, p + 12 * (bar % 2), 4) for bar in range(24) for i, p in enumerate((60, 64, 67, 72))]
    bass = [Note(16 * bar, 48, 16) for bar in range(24)]

    async def scenario():
        fake, bot, runner = await start_bot(monkeypatch, commands)
        try:
            token = await fake.interact("retrain", user_id=601, admin=True, subcommand="music")
            refused = await fake.reply(token)
            assert refused["ephemeral"] and "no team material for music yet" in refused["content"]

            files = [fake.attachment("file", "riff.mid", notes_to_midi_bytes(riff + bass, tempo=100)),
                     fake.attachment("file2", "riff2.mid", notes_to_midi_bytes(riff, tempo=100))]
            token = await fake.interact("corpus", [{"name": "model", "type": 3, "value": "music"}], user_id=601,
                                        admin=True, subcommand="add", attachments=files)
            added = await fake.reply(token)
            assert "Accepted 2 file(s)" in added["content"], added["content"]

            token = await fake.interact("retrain", [opt("epochs", 2, "int")], user_id=601, admin=True,
                                        subcommand="music")
            report = await channel_report(fake, "Retrained music", timeout=240)
            content = report["content"]
            assert content.startswith("<@601>") and "serving model on the same slice" in content, content
            assert "2 epochs in" in content and "Sample:" in content
            names = sorted(f["filename"] for f in report["files"])
            assert names == ["music-loss.png", "music-sample.mid", "music-sample.png"]
            if "not better" in content:  # the admin can serve it anyway
                token = await fake.interact("retrain", [{"name": "model", "type": 3, "value": "music"}], user_id=601,
                                            admin=True, subcommand="promote")
                assert "now serves" in (await fake.reply(token))["content"]
            version = commands.retrainer.current("music")
            assert version.parent == data / "checkpoints" / "music"
            assert commands.generators["music"].metrics["init_from"]["val_loss_nats_per_event"] > 0

            token = await fake.interact("compose", [opt("notes", 40, "int")])
            midi = next(f for f in (await fake.reply(token))["files"] if f["filename"].endswith(".mid"))
            assert len(midi_bytes_to_notes(midi["data"])) == 40

            token = await fake.interact("retrain", [{"name": "model", "type": 3, "value": "music"}], user_id=601,
                                        admin=True, subcommand="rollback")
            assert "shipped checkpoint" in (await fake.reply(token))["content"]
            assert commands.retrainer.current("music") == shipped / "music"
        finally:
            await stop_bot(fake, bot, runner)

    asyncio.run(scenario())
