"""Working with a result: buttons (also after a restart), history, primer files, the message menu, autocomplete."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time

import pytest

from bot.commands import Commands, Invocation, UserError
from bot.console import run_console
from bot.history import History, Record
from bot.jobs import JobQueue

from .conftest import FakeMusicGenerator, FakeTextGenerator
from .test_e2e import opt, start_bot, stop_bot


def buttons_of(message: dict) -> dict[str, str]:
    """action -> custom ID of the buttons under a sent message."""
    ids = [c["custom_id"] for row in message.get("components", []) for c in row["components"]]
    return {cid.split(":")[1]: cid for cid in ids}


def text_of(message: dict) -> str:
    """A text reply without its note line and footer."""
    body = message["content"].rsplit("\n-# ", 1)[0]
    return body.split("\n", 1)[1] if body.startswith("-# ") else body


def real_commands(tmp_path, history: History | None = None) -> Commands:
    from bot.app import load_generator
    from generators.paths import shipped_checkpoints

    generators = {m: load_generator(m, shipped_checkpoints() / m) for m in ("lyrics", "music")}
    history = history or History(tmp_path / "data").open()
    return Commands(generators, JobQueue(workers=2 + 4, queue_depth=50, user_max_jobs=10, user_burst=0),
                    max_batch=4, history=history, primer_dir=tmp_path / "data" / "primers")


def test_buttons_continue_again_vary_listen_and_survive_a_restart(monkeypatch, tmp_path):
    from generators.music.midi_io import midi_bytes_to_notes, notes_to_midi_bytes

    async def scenario():
        commands = real_commands(tmp_path)
        fake, bot, runner = await start_bot(monkeypatch, commands)
        try:
            token = await fake.interact("lyrics", [opt("seed", "Yeah, oho", "str"), opt("lines", 12, "int")])
            first = await fake.reply(token)
            buttons = buttons_of(first)
            assert set(buttons) == {"continue", "again", "vary_down", "vary_up"}
            shape_of = lambda m: m["content"].rsplit("\n-# ", 1)[1].split(" · rng_seed")[0]  # noqa: E731
            assert shape_of(first).startswith("form verse chorus") and ", rhyme " in shape_of(first)

            token = await fake.press(first, buttons["continue"], user_id=501)  # anyone may press
            continued = await fake.reply(token)
            assert text_of(continued).startswith(text_of(first)) and len(text_of(continued)) > len(text_of(first))
            assert "continued" in continued["content"]
            assert text_of(continued)[len(text_of(first)):].startswith("\n\n[")  # the next section, labelled

            token = await fake.press(first, buttons["vary_up"])
            varied = await fake.reply(token)
            seed_of = lambda m: m["content"].split("rng_seed ")[1].split(" ")[0]  # noqa: E731
            assert seed_of(varied) == seed_of(first) and "temp 0.6" in varied["content"]
            assert shape_of(varied) == shape_of(first)  # the same form and scheme
            token = await fake.press(first, buttons["vary_down"])
            assert "temp 0.4" in (await fake.reply(token))["content"]
            token = await fake.press(first, buttons["again"])
            again = await fake.reply(token)
            assert "\nYeah, oho" in text_of(again) and "temp 0.5" in again["content"]
            assert shape_of(again) == shape_of(first)

            token = await fake.interact("compose", [opt("notes", 60, "int")])
            piece = await fake.reply(token, timeout=120)
            assert set(buttons_of(piece)) == {"continue", "again", "vary_down", "vary_up", "listen"}
            notes = midi_bytes_to_notes(next(f["data"] for f in piece["files"] if f["filename"].endswith(".mid")))
            token = await fake.press(piece, buttons_of(piece)["continue"])
            longer = await fake.reply(token, timeout=120)
            more = midi_bytes_to_notes(next(f["data"] for f in longer["files"] if f["filename"].endswith(".mid")))
            starts = lambda ns: [(n.onset, n.pitch) for n in ns]  # noqa: E731 (a held note may end where it is struck again)
            assert len(more) >= len(notes) + 60 and starts(more[:len(notes)]) == starts(notes)  # the piece, then more
            token = await fake.press(longer, buttons_of(longer)["again"])  # again on a continuation: re-continue
            redo = await fake.reply(token, timeout=120)
            redone = midi_bytes_to_notes(next(f["data"] for f in redo["files"] if f["filename"].endswith(".mid")))
            assert starts(redone[:len(notes)]) == starts(notes) and len(redone) >= len(notes) + 60
            token = await fake.press(piece, buttons_of(piece)["listen"])
            listened = await fake.reply(token, timeout=120)
            assert any(f["filename"].endswith(".ogg") for f in listened["files"])
            with_audio = {**piece, "attachments": piece["attachments"] + [
                {"id": "1", "filename": "compose-1.ogg", "size": 10, "url": "http://127.0.0.1/x.ogg",
                 "proxy_url": "http://127.0.0.1/x.ogg"}]}
            token = await fake.press(with_audio, buttons_of(piece)["listen"])  # the preview was added by then
            already = await fake.reply(token)
            assert already["ephemeral"] and "already attached" in already["content"]

            # The message menu on somebody's message, and autocomplete.
            token = await fake.context_menu("Continue lyrics", fake.user_message("Dancing in the moonlight"))
            menu = await fake.reply(token)
            assert text_of(menu).startswith("Dancing in the moonlight")
            choices = await fake.autocomplete("compose", [{"name": "instrument", "type": 3, "value": "vio",
                                                           "focused": True}])
            assert choices and choices[0]["name"] == "Violin"
            choices = await fake.autocomplete("compose", [{"name": "key", "type": 3, "value": "d mi",
                                                           "focused": True}])
            assert [c["value"] for c in choices] == ["D minor"]

            # primer_file: a MIDI sketch primes; anything else is refused in one line.
            sketch = notes_to_midi_bytes(notes[:20], tempo=100)
            token = await fake.interact("compose", [opt("notes", 40, "int")],
                                        attachments=[fake.attachment("primer_file", "sketch.mid", sketch)])
            primed = await fake.reply(token, timeout=120)
            assert "your MIDI file" in primed["content"] and not primed["ephemeral"]
            for name, data in (("notes.txt", b"C4 E4 G4"), ("bad.mid", b"MThd-not-really"),
                               ("big.mid", b"MThd" + b"\0" * (3 * 1024 * 1024))):
                token = await fake.interact("compose", attachments=[fake.attachment("primer_file", name, data)])
                refused = await fake.reply(token)
                assert refused["ephemeral"] and refused["content"].startswith("⚠️") and "\n" not in refused["content"]
        finally:
            await stop_bot(fake, bot, runner)
            commands.shutdown()

        # A restart: a new bot process would load the same history; the old message's buttons still work.
        commands = real_commands(tmp_path)
        fake, bot, runner = await start_bot(monkeypatch, commands)
        try:
            token = await fake.press(first, buttons["continue"])
            after = await fake.reply(token)
            assert text_of(after).startswith(text_of(first)) and not after["ephemeral"]
            token = await fake.interact("history", user_id=500)
            listing = await fake.reply(token)
            assert listing["ephemeral"] and "/lyrics" in listing["content"] and "/compose" in listing["content"]
            opened = await fake.reply(await fake.press(listing, buttons_of(listing)["open"]))
            assert opened["ephemeral"] and opened["content"]
        finally:
            await stop_bot(fake, bot, runner)
            commands.shutdown()
        rows = sqlite3.connect(tmp_path / "data" / "history.sqlite3").execute(
            "SELECT command, action, COUNT(*) FROM generations GROUP BY command, action").fetchall()
        counts = {(c, a): n for c, a, n in rows}
        assert counts[("lyrics", "command")] == 1 and counts[("lyrics", "continue")] == 2
        assert counts[("lyrics", "context")] == 1 and counts[("compose", "continue")] == 1
        assert counts[("compose", "again")] == 1

    asyncio.run(scenario())


def run(coro):
    return asyncio.run(coro)


def fake_commands(tmp_path, history) -> Commands:
    return Commands({"lyrics": FakeTextGenerator(), "text": FakeTextGenerator(), "music": FakeMusicGenerator()},
                    JobQueue(workers=2, queue_depth=10, user_max_jobs=10, user_burst=0), history=history)


def test_history_retention_prunes_rows_and_files(tmp_path):
    now = [1_000_000.0]
    history = History(tmp_path, retention_days=1, clock=lambda: now[0]).open()

    async def scenario():
        for i, age_days in enumerate((3, 2, 0.5)):
            rec = Record(id=f"{i:012x}", created=now[0] - age_days * 86400, user_id=1, command="compose",
                         options={"tempo": 120}, rng_seed=i, model="music", model_version="shipped")
            await history.record(rec, midi=b"MThd")
        assert len(await history.recent(1)) == 3
        assert await history.prune() == 2
        left = await history.recent(1)
        assert [r.id for r in left] == ["000000000002"]
        assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["000000000002.mid"]

    run(scenario())
    history.close()


def test_history_keeps_at_most_max_rows(tmp_path):
    history = History(tmp_path, max_rows=3).open()

    async def scenario():
        for i in range(5):
            await history.record(Record(id=f"{i:012x}", created=time.time() + i, user_id=1, command="lyrics",
                                        options={}, rng_seed=i, model="lyrics", model_version="shipped"))
        assert await history.prune() == 2
        assert [r.id for r in await history.recent(1)] == [f"{i:012x}" for i in (4, 3, 2)]

    run(scenario())
    history.close()


def test_a_corrupt_history_is_reported_and_commands_still_answer(tmp_path, caplog):
    (tmp_path / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    history = History(tmp_path).open()
    assert not history.available and "cannot be used" in history.error
    assert any("history is off" in r.message for r in caplog.records)
    commands = fake_commands(tmp_path, history)
    reply = run(commands.write(Invocation(1), "lyrics", seed="Still"))
    assert reply.content.startswith("Still") and reply.buttons == []  # no record, so no buttons
    assert "History" in commands.status().content
    with pytest.raises(UserError, match="cannot be found|History is off|history is off"):
        run(commands.act(Invocation(1), "again", "0123456789ab"))
    with pytest.raises(UserError):
        run(commands.history_list(Invocation(1)))


def test_history_migrates_an_older_file_and_refuses_a_newer_one(tmp_path):
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.execute("CREATE TABLE unrelated (x)")
    db.commit()
    db.close()
    history = History(tmp_path).open()
    assert history.available
    assert sqlite3.connect(tmp_path / "history.sqlite3").execute("PRAGMA user_version").fetchone()[0] == 1
    history.close()
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    newer = History(tmp_path).open()
    assert not newer.available and "newer" in newer.error


def test_buttons_act_like_the_commands_and_usage_is_for_admins(tmp_path):
    commands = fake_commands(tmp_path, History(tmp_path).open())
    reply = run(commands.write(Invocation(1, "ann"), "lyrics", seed="Hey", temp=0.5, rng_seed=5))
    gen_id = reply.buttons[0].target
    assert [b.action for b in reply.buttons] == ["continue", "again", "vary_down", "vary_up"]
    calmer = run(commands.act(Invocation(2, "bob"), "vary_down", gen_id))
    assert commands.generators["lyrics"].calls[-1][2:] == (0.4, 5)  # the same seed, 0.1 cooler
    assert calmer.buttons and calmer.buttons[0].target != gen_id
    with pytest.raises(UserError, match="no longer in the history"):
        run(commands.act(Invocation(1), "again", "ffffffffffff"))
    with pytest.raises(UserError, match="Only admins"):
        run(commands.usage(Invocation(1)))
    usage = run(commands.usage(Invocation(9, is_admin=True), days=7))
    assert "/lyrics: 1" in usage.content and "/lyrics (vary_down): 1" in usage.content and "ann" in usage.content


def test_a_result_of_a_version_that_is_gone_says_so(tmp_path):
    commands = fake_commands(tmp_path, History(tmp_path).open())
    reply = run(commands.write(Invocation(1), "lyrics", seed="Hey"))

    class Retrainer:  # serving v3; the version that made the result ("shipped") is still there
        def current(self, model):
            from pathlib import Path

            return Path("/x") / model / "v3"

        def versions(self, model):
            return ["v3"]

    commands.retrainer = Retrainer()
    again = run(commands.act(Invocation(1), "again", reply.buttons[0].target))
    assert "made by lyrics version shipped, which no longer serves; this uses the serving version v3" in again.content
    rec = run(commands.history.get(again.buttons[0].target))
    assert rec.model_version == "v3" and rec.parent_id == reply.buttons[0].target

    async def gone():  # a result of v2, which was pruned
        old = Record(id="00000000abcd", created=time.time(), user_id=1, command="lyrics",
                     options={"seed": "x", "temp": 0.5, "length": 50}, rng_seed=1, model="lyrics", model_version="v2",
                     output_text="x")
        await commands.history.record(old)
        return await commands.act(Invocation(1), "again", old.id)

    assert "version v2, which is gone" in run(gone()).content


def test_console_continue_again_vary_history(tmp_path):
    from bot.console import LAST

    LAST.clear()
    commands = fake_commands(tmp_path, History(tmp_path).open())
    stdin = io.StringIO('/continue\n/lyrics seed:"Hey" rng_seed:3\n/continue\n/again\n/vary up\n/vary sideways\n'
                        '/history\n/compose notes:10\n/listen\n/usage\n')
    out = io.StringIO()
    errors = run(run_console(commands, tmp_path / "out", stdin=stdin, out=out))
    text = out.getvalue()
    assert "no result yet" in text  # /continue before anything was made
    assert "usage: /vary up|down" in text
    assert "Your last results" in text and "/open" in text
    assert text.count("Hey") >= 4  # the result, its continuation, again, vary
    assert "/continue " in text and "/listen " in text  # the buttons, in words
    assert any(p.suffix == ".ogg" for p in (tmp_path / "out").iterdir())
    assert errors == 2  # /continue with nothing yet, /vary sideways (/usage: the console user is an admin)


def test_a_locked_history_is_reported_at_start_up(tmp_path):
    History(tmp_path).open().close()  # an existing, current database...
    holder = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")  # ...that another process holds locked
    try:
        history = History(tmp_path).open()
        assert not history.available and "locked" in history.error
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_read_only_history_is_reported_at_start_up(tmp_path, monkeypatch):
    import bot.history as history_module

    History(tmp_path).open().close()
    real_connect = sqlite3.connect
    monkeypatch.setattr(history_module.sqlite3, "connect",  # as a file the bot may read but not write opens
                        lambda path, **kw: real_connect(f"file:{path}?mode=ro", uri=True, **kw))
    history = History(tmp_path).open()
    assert not history.available and "readonly" in history.error
    commands = fake_commands(tmp_path, history)
    assert "cannot be used" in commands.status().content


def test_a_history_that_stops_accepting_writes_goes_off_once_and_leaves_no_orphan_file(tmp_path, monkeypatch, caplog):
    commands = fake_commands(tmp_path, History(tmp_path).open())
    first = run(commands.compose(Invocation(1), notes=10))
    assert first.buttons

    def read_only(self, rec):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(History, "_insert", read_only)
    caplog.clear()
    for _ in range(3):
        reply = run(commands.compose(Invocation(1), notes=10))
        assert reply.files and reply.buttons == []  # the piece still comes, without buttons
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == [f"{first.buttons[0].target}.mid"]
    warnings = [r for r in caplog.records if "history is off" in r.getMessage()]
    assert len(warnings) == 1 and not any(r.exc_info for r in caplog.records)
    assert "cannot be written" in commands.status().content


def test_retention_deletes_primers_no_row_names(tmp_path):
    import os

    now = [2_000_000.0]
    history = History(tmp_path, retention_days=1, clock=lambda: now[0]).open()
    primers = tmp_path / "primers"
    primers.mkdir()
    named, orphan, fresh = (primers / f"{n}.mid" for n in ("aaaa", "bbbb", "cccc"))
    for path, age_days in ((named, 5), (orphan, 5), (fresh, 0.1)):
        path.write_bytes(b"MThd")
        os.utime(path, (now[0] - age_days * 86400,) * 2)

    async def scenario():
        await history.record(Record(id="0000000000aa", created=now[0], user_id=1, command="compose",
                                    options={"primer": str(named)}, rng_seed=1, model="music",
                                    model_version="shipped"))
        await history.prune()

    run(scenario())
    history.close()
    assert sorted(p.name for p in primers.iterdir()) == ["aaaa.mid", "cccc.mid"]


@pytest.mark.parametrize("action", ["continue", "open", "listen"])
@pytest.mark.parametrize("damage", ["noise", "truncated", "no notes"])
def test_a_damaged_stored_piece_gets_a_clear_message(tmp_path, action, damage):
    from generators.music.midi_io import notes_to_midi_bytes

    commands = fake_commands(tmp_path, History(tmp_path).open())
    piece = run(commands.compose(Invocation(1), notes=10))
    gen_id = piece.buttons[0].target
    stored = tmp_path / "history" / f"{gen_id}.mid"
    stored.write_bytes({"noise": bytes(range(256)) * 4, "truncated": stored.read_bytes()[:30],
                        "no notes": notes_to_midi_bytes([])}[damage])
    with pytest.raises(UserError, match="damaged"):
        run(commands.act(Invocation(1), action, gen_id))


def test_long_texts_of_one_rng_seed_are_attached_under_their_own_names(tmp_path):
    commands = fake_commands(tmp_path, History(tmp_path).open())
    out = io.StringIO()
    stdin = io.StringIO("/text length:2000 rng_seed:3 temp:0.5\n/text length:2000 rng_seed:3 temp:1.5\n/vary up\n")
    run(run_console(commands, tmp_path / "out", stdin=stdin, out=out))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 3 and all(n.startswith("text-3-") and n.endswith(".txt") for n in names), names


def test_a_text_is_continued_up_to_a_cap_and_a_finished_song_says_so(tmp_path):
    from bot.commands.options import MAX_CONTINUED_CHARS

    commands = fake_commands(tmp_path, History(tmp_path).open())
    reply = run(commands.write(Invocation(1), "text", seed="the", length=2000, rng_seed=1))
    for _ in range(MAX_CONTINUED_CHARS // 2000 + 2):
        try:
            reply = run(commands.act(Invocation(1), "continue", reply.buttons[0].target))
        except UserError as exc:
            assert "the most a text is continued to here" in str(exc) and "/text" in str(exc)
            break
    else:
        pytest.fail("a text was continued past the cap")


def test_a_piece_of_notes_is_capped_in_seconds_and_a_pruned_primer_does_not_stop_a_continuation(tmp_path):
    from bot.commands.options import MAX_PIECE_SECONDS
    from generators.music.encoder import Note
    from generators.music.midi_io import notes_to_midi_bytes

    commands = fake_commands(tmp_path, History(tmp_path).open())
    commands.primer_dir = tmp_path / "primers"
    run(commands.compose(Invocation(1), notes=1500, tempo=20))
    assert commands.generators["music"].last["max_seconds"] == MAX_PIECE_SECONDS
    sketch = notes_to_midi_bytes([Note(0, 60, 4), Note(4, 64, 4)])
    piece = run(commands.compose(Invocation(1), notes=10, primer_file=("sketch.mid", sketch)))
    for primer in commands.primer_dir.iterdir():  # (pruned by the history's retention, say)
        primer.unlink()
    longer = run(commands.act(Invocation(1), "continue", piece.buttons[0].target))  # the stored piece is enough
    assert longer.files and longer.files[0].filename.endswith(".mid")
    with pytest.raises(UserError, match="MIDI sketch this piece was primed with is gone"):
        run(commands.act(Invocation(1), "again", piece.buttons[0].target))


def test_the_console_goes_on_when_its_output_folder_goes_bad(tmp_path):
    commands = fake_commands(tmp_path, History(tmp_path).open())
    out_dir = tmp_path / "out"
    out_dir.write_text("a file where the folder was")
    out = io.StringIO()
    stdin = io.StringIO("/compose notes:10 rng_seed:5\n/text length:2000 rng_seed:3\n/text seed:hi length:60\n")
    errors = run(run_console(commands, out_dir, stdin=stdin, out=out))
    text = out.getvalue()
    assert errors == 0 and text.count("was not saved: BOT_OUTPUT_DIR") >= 3 and "la la" in text


def test_console_variations_never_overwrite_each_others_files(tmp_path):
    from bot.console import LAST

    LAST.clear()
    commands = fake_commands(tmp_path, History(tmp_path).open())
    stdin = io.StringIO("/compose notes:10 rng_seed:5\n/vary up\n/vary down\n")
    run(run_console(commands, tmp_path / "out", stdin=stdin, out=io.StringIO()))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len([n for n in names if n.endswith(".mid")]) == 3 and len([n for n in names if n.endswith(".ogg")]) == 3
    stems = {n.rsplit(".", 1)[0] for n in names}
    assert len(stems) == 3 and all(s.startswith("compose-5-") for s in stems)  # each result's .mid/.png/.ogg together


def test_continuations_stop_at_a_pieces_caps(tmp_path):
    from generators.music.midi_io import midi_bytes_to_notes

    commands = fake_commands(tmp_path, History(tmp_path).open())
    piece = run(commands.compose(Invocation(1), notes=1900, tempo=300))
    longer = run(commands.act(Invocation(1), "continue", piece.buttons[0].target))  # 500 asked, 100 left
    assert "only 100 notes added: a piece here has at most 2,000" in longer.content
    assert len(midi_bytes_to_notes(longer.files[0].data)) == 2000
    with pytest.raises(UserError, match="cannot be continued"):
        run(commands.act(Invocation(1), "continue", longer.buttons[0].target))
    with pytest.raises(UserError, match="last 2,400 s"):
        run(commands.compose(Invocation(1), bars=200, tempo=20))
    slow = run(commands.compose(Invocation(1), seconds=590, tempo=60))
    assert commands.generators["music"].last["max_notes"] == 2000
    with pytest.raises(UserError, match="at most"):
        run(commands.act(Invocation(1), "continue", slow.buttons[0].target))
