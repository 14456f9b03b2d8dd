import asyncio
import json
import sys

import pytest

from bot.commands import UserError
from bot.retrain import KEEP, RetrainManager

from .fake_trainer import FAKE_TRAINER, FILLER



@pytest.fixture
def manager(tmp_path):
    trainer = tmp_path / "trainer.py"
    trainer.write_text(FAKE_TRAINER)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ok" + FILLER)
    serving = {}

    def load(model, path):
        if (path / "weights.npz").exists() or path.name == model:
            return f"gen:{path.name}"
        raise RuntimeError("no checkpoint")

    m = RetrainManager(tmp_path / "data", {"lyrics": corpus, "music": tmp_path / "missing"}, tmp_path / "shipped",
                       load, lambda model, gen: serving.__setitem__(model, gen), trainer=[sys.executable, str(trainer)])
    m.serving, m.corpus_file = serving, corpus
    return m


def run(coro):
    return asyncio.run(coro)


def test_success_swaps_in_and_reports_progress(manager):
    progress = []

    async def on_progress(event):
        progress.append(event["epoch"])

    message = str(run(manager.retrain("lyrics", user="ann", epochs=2, on_progress=on_progress)))
    assert "now serving" in message and progress == [1, 2]
    version = manager.versions("lyrics")[-1]
    assert manager.serving["lyrics"] == f"gen:{version}"
    assert manager.current("lyrics").name == version
    assert manager.jobs == {}


def test_failure_keeps_the_old_model(manager):
    manager.corpus_file.write_text("fail" + FILLER)
    message = str(run(manager.retrain("lyrics", user="ann")))
    assert "failed" in message and "not UTF-8" in message and "keeps serving" in message
    assert manager.serving == {} and manager.versions("lyrics") == []


def test_missing_corpus_refuses_to_start(manager):
    with pytest.raises(UserError, match=r"no team material for music yet: attach MIDI files \(\.mid, \.midi\) or a \.zip"):
        str(run(manager.retrain("music", user="ann")))


async def _until(condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


def test_second_request_is_told_what_runs_and_cancel_stops(manager):
    manager.corpus_file.write_text("hang" + FILLER)

    async def scenario():
        first = asyncio.ensure_future(manager.retrain("lyrics", user="ann"))
        await _until(lambda: manager.jobs.get("lyrics") and manager.jobs["lyrics"].last)
        with pytest.raises(UserError, match="already retraining.*ann"):
            await manager.retrain("lyrics", user="bob")
        assert "Cancelling" in manager.cancel("lyrics")
        return str(await first)

    assert "cancelled" in run(scenario())
    assert manager.serving == {} and manager.versions("lyrics") == []


def test_a_retraining_waiting_for_the_cluster_says_so(manager):
    manager.corpus_file.write_text("wait" + FILLER)

    async def scenario():
        first = asyncio.ensure_future(manager.retrain("lyrics", user="ann"))
        await _until(lambda: manager.jobs.get("lyrics") and manager.jobs["lyrics"].waiting)
        said = manager.jobs["lyrics"].progress()
        manager.cancel("lyrics")
        await first
        return said

    assert run(scenario()) == "waiting for 1 CPU on the Ray cluster (0 of 2 free)"


def test_keeps_the_last_versions_and_rolls_back(manager, monkeypatch):
    import bot.retrain as retrain

    stamps = iter(f"v2026010{i}-000000" for i in range(1, 6))

    class Clock:
        @staticmethod
        def now(tz=None):
            class Stamp:
                @staticmethod
                def strftime(fmt):
                    return next(stamps)
            return Stamp()

    monkeypatch.setattr(retrain, "datetime", Clock)
    for _ in range(KEEP + 1):
        str(run(manager.retrain("lyrics", user="ann")))
    versions = manager.versions("lyrics")
    assert len(versions) == KEEP and versions[-1] == "v20260104-000000"
    assert "v20260103-000000" in run(manager.rollback("lyrics"))
    assert manager.current("lyrics").name == "v20260103-000000"
    assert json.loads((manager.root / "lyrics" / "current.json").read_text())["version"] == "v20260103-000000"
    run(manager.rollback("lyrics"))
    run(manager.rollback("lyrics"))
    assert manager.current("lyrics") == manager.shipped_dir / "lyrics"
    with pytest.raises(UserError, match="nothing to roll back"):
        run(manager.rollback("lyrics"))


def test_retrain_through_the_command_layer_is_admin_only(manager):
    from bot.commands import Commands, Invocation
    from bot.console import reply_to
    from bot.jobs import JobQueue

    commands = Commands({}, JobQueue(1, 4, 1, 0), retrainer=manager)
    done = []

    async def on_done(message):
        done.append(message)

    async def scenario():
        refused = await reply_to(commands, Invocation(5, "eve", is_admin=False), "/retrain lyrics", on_done)
        assert refused.ephemeral and "Only admins" in refused.content and manager.jobs == {}
        started = await reply_to(commands, Invocation(1, "ann", is_admin=True), "/retrain lyrics epochs:2", on_done)
        assert "Retraining `lyrics`" in started.content and "2 epochs" in started.content
        await asyncio.gather(*commands.background)
        bad = await reply_to(commands, Invocation(1, "ann", is_admin=True), "/retrain music", on_done)
        assert bad.ephemeral and "no team material" in bad.content and len(bad.content.splitlines()) == 1
        usage = await reply_to(commands, Invocation(1, "ann", is_admin=True), "/retrain lyrics colour:red", on_done)
        assert "usage" in usage.content
        back = await reply_to(commands, Invocation(1, "ann", is_admin=True), "/retrain rollback lyrics", on_done)
        assert "shipped checkpoint" in back.content

    run(scenario())
    assert len(done) == 1 and "now serving" in done[0].content


def test_a_version_that_is_not_better_does_not_serve_until_promoted(manager):
    first = str(run(manager.retrain("lyrics", user="ann", epochs=2)))
    assert "validation loss 1.200 (serving model on the same slice: 1.300)" in first and "now serving" in first
    serving = manager.current("lyrics").name
    manager.corpus_file.write_text("worse" + FILLER)
    import time

    time.sleep(1.1)  # versions are named by the second
    message = str(run(manager.retrain("lyrics", user="ann", epochs=2)))
    assert "1.500" in message and "1.300" in message and "not better" in message and "promote lyrics" in message
    assert manager.current("lyrics").name == serving and manager.serving["lyrics"] == f"gen:{serving}"
    newest = manager.versions("lyrics")[-1]
    assert newest != serving
    assert "now serves" in run(manager.promote("lyrics"))
    assert manager.current("lyrics").name == newest and manager.serving["lyrics"] == f"gen:{newest}"
    with pytest.raises(UserError, match="no newer version"):
        run(manager.promote("lyrics"))


def test_half_written_versions_are_removed_at_start(manager, tmp_path):
    folder = manager.root / "lyrics"
    (folder / "v20260101-000000").mkdir(parents=True)  # killed before its weights were written
    (folder / "v20260101-000001.partial").mkdir()
    (folder / ".v20260101-000002.tmp-1").mkdir()
    good = folder / "v20260101-000003"
    good.mkdir()
    (good / "weights.npz").write_bytes(b"x")
    again = RetrainManager(manager.root.parent, {}, tmp_path / "shipped", lambda m, p: None, lambda m, g: None)
    assert sorted(again.removed) == ["lyrics/.v20260101-000002.tmp-1", "lyrics/v20260101-000000",
                                     "lyrics/v20260101-000001.partial"]
    assert [p.name for p in folder.iterdir()] == ["v20260101-000003"]


def test_retrain_with_attachments_adds_them_first(manager, tmp_path):
    from bot.commands import Commands, Invocation
    from bot.corpus import TeamCorpus
    from bot.jobs import JobQueue

    team = tmp_path / "team_lyrics.txt"
    manager.corpora["lyrics"] = team
    manager.corpus = TeamCorpus(manager.corpora)
    commands = Commands({}, JobQueue(1, 4, 1, 0), retrainer=manager)
    admin = Invocation(1, "ann", is_admin=True)
    done = []

    async def on_done(report):
        done.append(report)

    async def scenario():
        with pytest.raises(UserError, match="none of the attachments could be used, so nothing was retrained.\nRejected song.mp3: not a text"):
            await commands.retrain(admin, "lyrics", uploads=[("song.mp3", b"ID3...")], on_done=on_done)
        assert not team.exists() and manager.jobs == {}
        started = await commands.retrain(admin, "lyrics", epochs=1, uploads=[("ours.txt", ("ok" + FILLER).encode())], on_done=on_done)
        assert started.content.startswith("Accepted 1 file(s): ours.txt\nRetraining `lyrics`")
        await asyncio.gather(*commands.background)

    run(scenario())
    assert team.read_text().strip() == ("ok" + FILLER).strip() and "now serving" in done[0].content


def test_a_second_bot_leaves_a_running_retrains_folders_alone(tmp_path):
    from bot.retrain import ModelLock, RetrainManager

    data = tmp_path / "data"
    music = data / "checkpoints" / "music"
    half = [music / "v20260101-000000.partial", music / ".v20260101-000000.tmp-1-abc"]
    for folder in half:
        folder.mkdir(parents=True)
    running = ModelLock(music)  # another bot process is retraining music
    assert running.acquire()
    try:
        second = RetrainManager(data, {"music": tmp_path}, tmp_path, lambda m, p: None, lambda m, g: None)
        assert second.removed == [] and all(f.is_dir() for f in half)
        with pytest.raises(UserError, match="another bot process"):
            asyncio.run(second.retrain("music", user="ann"))
    finally:
        running.release()
    later = RetrainManager(data, {}, tmp_path, lambda m, p: None, lambda m, g: None)  # that run is over
    assert sorted(later.removed) == sorted(f"music/{f.name}" for f in half) and not any(f.exists() for f in half)
