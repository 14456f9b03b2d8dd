import asyncio
import io
import re
import threading

import pytest

from bot.commands import MESSAGE_LIMIT, Commands, Invocation, Reply, UserError
from bot.console import dispatch, parse_line, reply_to, run_console
from bot.jobs import Busy, JobQueue
from generators.errors import GeneratorError

from .conftest import FakeMusicGenerator, FakeTextGenerator

USER = Invocation(user_id=1, user_name="ann")
OTHER = Invocation(user_id=2, user_name="bob")


def run(coro):
    return asyncio.run(coro)


def test_lyrics_begin_with_the_seed_and_state_the_rng_seed(commands, fakes):
    reply = run(commands.write(USER, "lyrics", seed="Yeah, oho", temp=0.5, lines=6, rng_seed=9))
    assert reply.content.startswith("Yeah, oho") and reply.content.count("la la") == 5
    assert "rng_seed 9" in reply.content and not reply.ephemeral
    assert "form VC, rhyme AABB" in reply.content  # the summary names the form and the scheme
    assert fakes["lyrics"].calls == [("Yeah, oho", 6, 0.5, 9)]
    assert fakes["lyrics"].song_options == [{"rhyme": "auto", "form": "auto", "syllables": None}]


def test_lyrics_pass_the_song_options_and_refuse_bad_ones_in_one_line(commands, fakes):
    run(commands.write(USER, "lyrics", lines=8, rhyme="ABAB", form="verse chorus", syllables=8, rng_seed=1))
    assert fakes["lyrics"].song_options[-1] == {"rhyme": "ABAB", "form": "verse chorus", "syllables": 8}
    for kwargs, fragment in [({"rhyme": "XYZ1"}, "`rhyme` must be one of"), ({"form": ""}, "song form is empty"),
                             ({"form": "V" * 50}, "at most 24 sections"), ({"form": "verse solo"}, "unknown section"),
                             ({"syllables": 0}, "`syllables` must be between 2 and 24"),
                             ({"syllables": 99}, "`syllables` must be between 2 and 24"),
                             ({"lines": 0}, "`lines` must be between 1 and 64"),
                             ({"length": 10}, "`length` must be between 50"),
                             ({"length": 80, "rhyme": "ABAB"}, "give it or rhyme, not both")]:
        with pytest.raises(UserError, match=re.escape(fragment)) as err:
            run(commands.write(USER, "lyrics", **kwargs))
        assert "\n" not in str(err.value)


def test_lyrics_with_a_length_run_free_instead_of_a_song(commands, fakes):
    reply = run(commands.write(USER, "lyrics", seed="Yeah", length=60, rng_seed=3))
    assert reply.content.startswith("Yeah") and "rhyme" not in reply.content
    assert fakes["lyrics"].calls == [("Yeah", 60, 0.5, 3)] and fakes["lyrics"].song_options == []


def test_defaults_come_from_the_option_table(commands, fakes):
    run(commands.write(USER, "text"))
    assert fakes["text"].calls == [("", 400, 0.5, None)]


def test_long_text_is_attached(commands):
    reply = run(commands.write(USER, "text", seed="x" * 500, length=2000))
    assert len(reply.content) <= MESSAGE_LIMIT
    assert reply.files and reply.files[0].filename.endswith(".txt")
    assert len(reply.files[0].data.decode()) == 2500


@pytest.mark.parametrize("kwargs, fragment", [
    ({"temp": 9}, "temp"), ({"temp": 0.0}, "temp"), ({"lines": 100}, "lines"), ({"lines": "abc"}, "lines"),
    ({"seed": "x" * 4001}, "too long"), ({"seed": "bin\x00ary"}, "text"), ({"rng_seed": -1}, "rng_seed"),
])
def test_bad_input_is_a_user_error(commands, kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        run(commands.write(USER, "lyrics", **kwargs))


def test_compose_attaches_midi_and_piano_roll(commands):
    reply = run(commands.compose(USER, notes=30, tempo=90, rng_seed=5))
    names = [f.filename for f in reply.files]
    assert names[:2] == ["compose-5.mid", "compose-5.png"]
    assert reply.files[0].data[:4] == b"MThd" and reply.files[1].data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rng_seed 5" in reply.content


def test_compose_refuses_file_primers_and_bad_ranges(commands):
    with pytest.raises(UserError, match="primer"):
        run(commands.compose(USER, primer="/etc/passwd.mid"))
    with pytest.raises(UserError, match="notes"):
        run(commands.compose(USER, notes=5000))
    with pytest.raises(UserError, match="one length"):
        run(commands.compose(USER, notes=50, bars=4))
    with pytest.raises(UserError, match="key"):
        run(commands.compose(USER, key="x" * 31))


def test_compose_passes_key_and_length_through(commands, fakes):
    run(commands.compose(USER, key="D minor", bars="8"))
    assert fakes["music"].last == {"notes": None, "key": "D minor", "bars": 8, "seconds": None, "max_notes": 2000, "max_seconds": 600}
    run(commands.compose(USER, seconds="12.5"))
    assert fakes["music"].last["seconds"] == 12.5 and fakes["music"].last["key"] == "random"
    run(commands.compose(USER, texture="full", register="auto"))
    assert fakes["music"].last["texture"] == "full" and "register" not in fakes["music"].last
    with pytest.raises(UserError, match="texture.*sparse, medium, full"):
        run(commands.compose(USER, texture="thick"))


def test_compose_with_the_real_generator_says_key_bars_and_training_data(commands, tmp_path):
    from generators.cli import checkpoint_root
    from generators.music.generator import MusicGenerator

    commands.swap("music", MusicGenerator.load(checkpoint_root() / "music"))
    reply = run(commands.compose(USER, key="Eb major", bars=4, rng_seed=3))
    assert "Eb major" in reply.content and "4 bars" in reply.content and "trained on" in reply.content
    with pytest.raises(GeneratorError, match="unknown key"):
        run(commands.compose(USER, key="H major"))


def test_missing_model_is_reported():
    cmds = Commands({}, JobQueue(1, 4, 1, 0))
    with pytest.raises(UserError, match="not available"):
        run(cmds.write(USER, "lyrics", seed="hi"))
    assert "not loaded" in cmds.status().content


def test_queue_refuses_past_its_depth_and_per_user_limit():
    gate = threading.Event()
    gen = FakeTextGenerator(gate)
    cmds = Commands({"lyrics": gen}, JobQueue(workers=1, queue_depth=2, user_max_jobs=1, user_burst=0))

    async def scenario():
        first = asyncio.ensure_future(cmds.write(Invocation(1), "lyrics", seed="a", lines=4))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match="already have"):
            await cmds.write(Invocation(1), "lyrics", seed="b", lines=4)
        second = asyncio.ensure_future(cmds.write(Invocation(2), "lyrics", seed="c", lines=4))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match="busy"):
            await cmds.write(Invocation(3), "lyrics", seed="d", lines=4)
        gate.set()
        return await first, await second

    a, b = run(scenario())
    assert a.content.startswith("a") and b.content.startswith("c")
    assert cmds.jobs.active == 0
    cmds.jobs.shutdown()


def test_a_burst_of_commands_is_fine_and_a_flood_is_refused():
    now = [100.0]
    jobs = JobQueue(1, 64, 64, user_burst=5, user_rate=0.5, clock=lambda: now[0])
    for _ in range(5):  # /lyrics, /compose, /text ... straight after each other
        jobs.admit(1)
        jobs.release(1)
    with pytest.raises(Busy, match=r"more than 5 commands in a row; try again in 2\.0 s"):
        jobs.admit(1)
    jobs.admit(2)  # others are not affected
    now[0] += 2.0  # one command back every 2 s
    jobs.admit(1)
    with pytest.raises(Busy):
        jobs.admit(1)
    now[0] += 60  # a full bucket again, never more than the burst
    for _ in range(5):
        jobs.admit(1)
    with pytest.raises(Busy):
        jobs.admit(1)
    jobs.shutdown()


def test_event_loop_stays_responsive_while_generating(commands, fakes):
    gate = threading.Event()
    commands.swap("lyrics", FakeTextGenerator(gate))

    async def scenario():
        job = asyncio.ensure_future(commands.write(USER, "lyrics", seed="x", lines=4))
        ticks = 0
        for _ in range(10):  # the loop keeps running while the job blocks its worker thread
            await asyncio.sleep(0.01)
            ticks += 1
        gate.set()
        await job
        return ticks

    assert run(scenario()) == 10


def test_swap_keeps_running_jobs_on_the_old_model(commands):
    gate = threading.Event()
    old = FakeTextGenerator(gate)
    commands.swap("lyrics", old)

    async def scenario():
        job = asyncio.ensure_future(commands.write(USER, "lyrics", seed="old", lines=4))
        await asyncio.sleep(0.05)
        new = FakeTextGenerator()
        commands.swap("lyrics", new)
        gate.set()
        await job
        await commands.write(Invocation(2), "lyrics", seed="new", lines=4)
        return new

    new = run(scenario())
    assert [c[0] for c in old.calls] == ["old"] and [c[0] for c in new.calls] == ["new"]


def test_swap_drains_the_old_models_batching_loop():
    """With batching on, a swapped-in model gets its own loop; the old loop finishes its requests, then stops."""
    from concurrent.futures import ThreadPoolExecutor

    from generators.paths import shipped_checkpoints
    from generators.text import CharGenerator

    path = shipped_checkpoints() / "lyrics"
    old = CharGenerator.load(path)
    commands = Commands({"lyrics": old}, JobQueue(workers=6, queue_depth=10, user_max_jobs=10, user_burst=0),
                        max_batch=4)
    assert old.batcher is not None
    with ThreadPoolExecutor(4) as pool:  # requests in flight on the old model while it is swapped out
        running = [pool.submit(old.generate, "Yeah", length=300, rng_seed=i) for i in range(4)]
        new = CharGenerator.load(path)
        commands.swap("lyrics", new)
        assert new.batcher is not None and old.batcher._closed
        texts = [f.result(timeout=60).text for f in running]
    assert texts == [new.generate("Yeah", length=300, rng_seed=i).text for i in range(4)]
    commands.shutdown()
    assert new.batcher._closed


def test_console_parsing():
    assert parse_line('/lyrics seed:"Yeah, oho" temp:0.5') == ("lyrics", [], {"seed": "Yeah, oho", "temp": "0.5"})
    assert parse_line("/retrain cancel Music") == ("retrain", ["cancel", "music"], {})
    for bad in ("lyrics seed:x", "/", '/lyrics seed:"open', "/lyrics :x"):
        with pytest.raises(UserError):
            parse_line(bad)


def test_console_dispatch_and_errors(commands):
    reply = run(dispatch(commands, USER, '/lyrics seed:"Yeah, oho" temp:0.5'))
    assert reply.content.startswith("Yeah, oho")
    for line, fragment in (("/dance", "/corpus, /status"), ("/lyrics colour:red", "no option colour"),
                           ("/lyrics temp:hot", "`temp` must be a number, got 'hot'"),
                           ("/lyrics lines:many", "`lines` must be a whole number"),
                           ("/lyrics rng_seed:-1", "`rng_seed` must be between 0 and 4294967295, got -1"),
                           ("/lyrics temp:3", "`temp` must be between 0.1 and 2, got 3"),
                           ("/status extra:1", "no options"), ("/corpus add music", "attach at least one file")):
        reply = run(reply_to(commands, USER, line))
        assert reply.ephemeral and fragment in reply.content, reply.content


def test_console_session_writes_attachments(commands, tmp_path):
    stdin = io.StringIO('/lyrics seed:"Yeah, oho" temp:0.5\n\n# comment\n/compose notes:12\n/lyrics temp:9\n/help\n')
    out = io.StringIO()
    errors = run(run_console(commands, tmp_path, stdin=stdin, out=out))
    text = out.getvalue()
    assert text.startswith("Yeah, oho") and "[attachment]" in text and "/compose" in text
    assert errors == 1
    suffixes = {p.suffix for p in tmp_path.iterdir()}
    assert {".mid", ".png"} <= suffixes <= {".mid", ".png", ".ogg"}  # .ogg where FluidSynth is installed


def test_three_commands_in_a_row_are_answered_and_a_flood_is_partly_refused(fakes):
    cmds = Commands(fakes, JobQueue(workers=2, queue_depth=64, user_max_jobs=10, user_burst=5, user_rate=0.5))

    async def scenario():
        row = [await cmds.write(USER, "lyrics", seed="a", lines=4), await cmds.compose(USER, notes=20),
               await cmds.write(USER, "text", seed="b", length=50)]
        flood = await asyncio.gather(*(cmds.write(OTHER, "lyrics", seed="x", lines=4) for _ in range(10)),
                                     return_exceptions=True)
        third = await cmds.write(Invocation(3, "third"), "lyrics", seed="still here", lines=4)
        return row, flood, third

    row, flood, third = run(scenario())
    assert all(isinstance(r, Reply) and r.content for r in row)
    refused = [r for r in flood if isinstance(r, Busy)]
    assert len(refused) == 5 and "in a row" in str(refused[0])
    assert third.content.startswith("still here")
    cmds.jobs.shutdown()


@pytest.mark.parametrize("call, fragment", [
    (lambda c: c.write(USER, "lyrics", temp="nan"), "`temp` must be between 0.1 and 2, got nan"),
    (lambda c: c.write(USER, "lyrics", temp=float("nan")), "`temp` must be between 0.1 and 2, got nan"),
    (lambda c: c.compose(USER, seconds="nan"), "`seconds` must be between 1 and 600, got nan"),
    (lambda c: c.compose(USER, seconds=float("inf")), "`seconds` must be between 1 and 600, got inf"),
    (lambda c: c.usage(Invocation(1, is_admin=True), "nan"), "`days` must be between 1 and 365, got nan"),
])
def test_nan_and_infinity_are_out_of_every_range(commands, call, fragment):
    with pytest.raises(UserError) as err:
        run(call(commands))
    assert fragment in str(err.value)


def test_the_console_refuses_a_huge_primer_file_without_reading_it(commands, tmp_path, monkeypatch):
    from pathlib import Path

    huge = tmp_path / "huge.mid"
    with open(huge, "wb") as f:
        f.truncate(3 * 1024**3)  # 3 GB, sparse
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    reply = run(reply_to(commands, USER, f"/compose primer_file:{huge}"))
    assert reply.ephemeral and "larger than 2 MB" in reply.content


def test_hostile_console_inputs_get_one_clear_line(commands, fakes, tmp_path):
    (tmp_path / "folder.mid").mkdir()
    for line, fragment in ((f"/compose primer_file:{tmp_path / 'folder.mid'}", "is a folder: name a file"),
                           ("/compose primer_file:/dev/zero", "is not a regular file"),
                           ("/compose primer_file:/no/such.mid", "no such file")):
        reply = run(reply_to(commands, USER, line))
        assert reply.ephemeral and fragment in reply.content, reply.content
    run(reply_to(commands, USER, "/lyrics seed:Yeah rhyme:aabb"))  # (as the CLI takes it)
    assert fakes["lyrics"].song_options[-1]["rhyme"] == "AABB"


def test_user_messages_show_no_server_paths():
    from bot.commands import user_message

    msg = user_message(GeneratorError("primer MIDI file not found: /srv/ghost/data/primers/6dfd1234.mid (x)"))
    assert msg == "⚠️ primer MIDI file not found: 6dfd1234.mid (x)"
    assert user_message(UserError("give 1/2 of it, see https://x.y/z")) == "⚠️ give 1/2 of it, see https://x.y/z"


def test_again_on_a_piece_whose_primer_was_pruned_says_so(tmp_path):
    from bot.history import History

    commands = Commands({"music": FakeMusicGenerator()},
                        JobQueue(workers=2, queue_depth=8, user_max_jobs=2, user_burst=0),
                        history=History(tmp_path).open(), primer_dir=tmp_path / "primers")
    from generators.music.encoder import Note
    from generators.music.midi_io import notes_to_midi_bytes

    sketch = notes_to_midi_bytes([Note(0, 60, 4), Note(4, 64, 4)])
    piece = run(commands.compose(USER, notes=10, primer_file=("sketch.mid", sketch)))
    for path in (tmp_path / "primers").iterdir():
        path.unlink()
    reply = run(reply_to(commands, USER, f"/again {piece.buttons[0].target}"))
    assert reply.ephemeral and "primed with is gone" in reply.content and str(tmp_path) not in reply.content


def test_requests_round_trip_and_read_older_rows():
    from bot.commands.requests import ComposeRequest, TextRequest

    request = ComposeRequest(bars=8, key="D minor", temp=0.7, texture="full", piece_key="D minor")
    assert ComposeRequest.from_dict(request.to_dict()) == request
    older = {"notes": 500, "bars": None, "seconds": None, "key": "random", "temp": 0.9, "tempo": 120,
             "instrument": "piano", "primer": None, "piece_key": None, "retired_option": 3}
    assert ComposeRequest.from_dict(older) == ComposeRequest(notes=500)
    assert TextRequest.from_dict({"seed": "Hey", "temp": 0.5, "length": 60}) == TextRequest("Hey", 0.5, 60)


def test_compose_form_is_checked_and_passed_through(commands, fakes):
    run(commands.compose(USER, form="aaba"))
    assert fakes["music"].last["bars"] == 32 and fakes["music"].last["form"] == "aaba"
    run(commands.compose(USER, form="ABAB", bars=16))
    assert fakes["music"].last["bars"] == 16
    for form, fragment in (("AXQ9", "section letters"), ("A" * 17, "too long"), ("ACAB", "order")):
        with pytest.raises((UserError, GeneratorError), match=fragment):
            run(commands.compose(USER, form=form))
    with pytest.raises(UserError, match="sets the length in bars"):
        run(commands.compose(USER, form="AABA", notes=100))
    from bot.commands.options import form_suggestions

    assert form_suggestions("aa") == ["AABA", "AABB"] and form_suggestions("")[:2] == ["auto", "through"]


def test_compose_chords_are_checked_and_passed_through(commands, fakes):
    run(commands.compose(USER, chords="C G Am F", bars=8))
    assert fakes["music"].last["chords"] == "C G Am F"
    reply = run(reply_to(commands, USER, '/compose chords:"C Zm"'))
    assert reply.ephemeral and "unknown chord 'Zm'" in reply.content


def test_help_lists_every_option_from_the_schema_and_fits_one_message():
    from bot.commands import MESSAGE_LIMIT, OPTIONS

    text = Commands.help().content
    assert len(text) <= MESSAGE_LIMIT
    for options in OPTIONS.values():
        for o in options.values():
            assert o.name in text
    assert "temp 0.1–2 (0.5)" in text and "tempo 20–300 (120)" in text and "texture auto|sparse|medium|full" in text
