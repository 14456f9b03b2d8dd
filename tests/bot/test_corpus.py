import asyncio
import io
import zipfile

import pytest

from bot.commands import Commands, Invocation, UserError
from bot.console import reply_to
from bot.corpus import MAX_ZIP_ENTRIES, TeamCorpus, check_midi
from bot.jobs import JobQueue
from generators.music.encoder import Note
from generators.music.midi_io import notes_to_midi_bytes

MIDI = notes_to_midi_bytes([Note(0, 60, 4), Note(4, 64, 4)])


@pytest.fixture
def corpus(tmp_path):
    return TeamCorpus({"text": tmp_path / "text.txt", "lyrics": tmp_path / "lyrics.txt", "music": tmp_path / "music"})


def test_text_uploads_are_validated_and_appended(corpus):
    r = corpus.add("lyrics", [("a.txt", b"Yeah, oho\nla la\n"), ("b.txt", "caf\u00e9".encode("latin-1")),
                              ("c.txt", b"bin\x00ary"), ("d.pdf", b"%PDF"), ("e.txt", b"  \n"), ("big.txt", None)])
    assert r.accepted == ["a.txt"]
    assert dict(r.rejected) == {"b.txt": "not UTF-8 (bad byte at offset 3)", "c.txt": "binary data, not text",
                                "d.pdf": "not a text file (.txt)", "e.txt": "empty", "big.txt": "too large to upload"}
    corpus.add("lyrics", [("f.txt", b"second song")])
    assert corpus.paths["lyrics"].read_text() == "Yeah, oho\nla la\n\nsecond song\n"


def test_midi_and_zip_uploads(corpus):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("song.mid", MIDI)
        z.writestr("notes.txt", "hi")
        z.writestr("broken.mid", b"MThd garbage")
    r = corpus.add("music", [("one.mid", MIDI), ("pack.zip", buf.getvalue()), ("bad.zip", b"PK nope"), ("x.wav", b"RIFF")])
    assert r.accepted == ["one.mid (2 notes)", "pack.zip/song.mid (already in the corpus)"]
    rejected = dict(r.rejected)
    assert rejected["pack.zip/notes.txt"] == "not a MIDI file" and "not a readable MIDI" in rejected["pack.zip/broken.mid"]
    assert rejected["bad.zip"] == "not a valid zip file" and "x.wav" in rejected
    assert len(list(corpus.paths["music"].glob("*.mid"))) == 1  # the same content is stored once
    assert "1 MIDI files" in corpus.describe()


def test_zip_bounds(corpus):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(MAX_ZIP_ENTRIES + 1):
            z.writestr(f"{i}.mid", b"")
    r = corpus.add("music", [("many.zip", buf.getvalue())])
    assert r.accepted == [] and "more than" in r.rejected[0][1]


def test_corpus_commands_are_admin_only_and_work_from_the_console(tmp_path):
    from bot.retrain import RetrainManager

    paths = {"text": tmp_path / "t.txt", "lyrics": tmp_path / "l.txt", "music": tmp_path / "m"}
    manager = RetrainManager(tmp_path / "data", paths, tmp_path / "shipped", lambda m, p: None, lambda m, g: None)
    commands = Commands({}, JobQueue(1, 4, 1, 0), retrainer=manager)
    song = tmp_path / "song.txt"
    song.write_text("Yeah, oho")

    async def scenario():
        with pytest.raises(UserError, match="Only admins"):
            await commands.corpus_add(Invocation(2), "lyrics", [("a.txt", b"x")])
        ok = await reply_to(commands, Invocation(1, is_admin=True), f"/corpus add lyrics file:{song}")
        listing = await reply_to(commands, Invocation(1, is_admin=True), "/corpus list")
        usage = await reply_to(commands, Invocation(1, is_admin=True), "/corpus remove lyrics")
        return ok, listing, usage

    ok, listing, usage = asyncio.run(scenario())
    commands.jobs.shutdown()
    assert "Accepted 1 file" in ok.content and not ok.ephemeral
    assert "`lyrics`: l.txt" in listing.content
    assert "usage" in usage.content


def _zip_with(bad_name: str, patch) -> bytes:
    """A zip of a good MIDI and one entry ``bad_name``, whose central-directory record ``patch`` edits."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("good.mid", MIDI)
        z.writestr(bad_name, notes_to_midi_bytes([Note(0, 67, 4), Note(4, 72, 2)]))
    data = bytearray(buf.getvalue())
    record = data.rfind(b"PK\x01\x02")  # the last central-directory header: the bad entry's
    patch(data, record)
    return bytes(data)


def _flip_data_byte(data, record):
    local = int.from_bytes(data[record + 42: record + 46], "little")
    start = local + 30 + int.from_bytes(data[local + 26: local + 28], "little")
    data[start + 20] ^= 0xFF  # the stored bytes no longer match the CRC


@pytest.mark.parametrize("patch, reason", [
    (_flip_data_byte, "damaged in the zip (Bad CRC-32"),
    (lambda d, r: d.__setitem__(slice(r + 24, r + 28), (10).to_bytes(4, "little")), "damaged in the zip"),  # lies
    (lambda d, r: d.__setitem__(slice(r + 8, r + 10), (1).to_bytes(2, "little")), "encrypted"),
    (lambda d, r: d.__setitem__(slice(r + 10, r + 12), (98).to_bytes(2, "little")), "unsupported compression"),
])
def test_a_bad_zip_entry_is_refused_in_one_line_and_the_good_ones_kept(corpus, patch, reason):
    r = corpus.add("music", [("pack.zip", _zip_with("bad.mid", patch))])
    assert r.accepted == ["pack.zip/good.mid (2 notes)"]
    assert len(r.rejected) == 1 and r.rejected[0][0] == "pack.zip/bad.mid" and r.rejected[0][1].startswith(reason)
    assert "\n" not in r.rejected[0][1]


def test_console_corpus_add_keeps_every_file(tmp_path):
    from .test_retrain import run

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("first song")
    b.write_text("second song")
    corpus = TeamCorpus({"text": tmp_path / "team.txt", "lyrics": tmp_path / "l.txt", "music": tmp_path / "m"})

    class Manager:
        pass

    manager = Manager()
    manager.corpus = corpus
    commands = Commands({}, JobQueue(1, 4, 1, 0), retrainer=manager)
    reply = run(reply_to(commands, Invocation(0, "console", is_admin=True), f"/corpus add text file:{a} file:{b}"))
    assert "Accepted 2 file(s): a.txt, b.txt" in reply.content
    assert (tmp_path / "team.txt").read_text() == "first song\n\nsecond song\n"


def test_a_midi_with_a_gap_of_millions_of_bars_is_no_corpus():
    from tests.generators.music.test_midi_io import gap_midi

    notes, why = check_midi(gap_midi())
    assert notes == [] and "2,000 bars" in why


def test_a_team_corpus_that_cannot_be_trained_on_is_named_before_training(tmp_path):
    paths = {"text": tmp_path / "t.txt", "lyrics": tmp_path / "l.txt", "music": tmp_path / "m"}
    corpus = TeamCorpus(paths)
    paths["lyrics"].write_text("la la")
    assert corpus.problem("lyrics", 202) == ("the lyrics corpus has 5 characters; training needs at least 202 "
                                             "(add more with `/corpus add`)")
    paths["lyrics"].write_bytes(b"\x00\x01binary" * 100)
    assert "binary" in corpus.problem("lyrics", 202) and str(tmp_path) not in corpus.problem("lyrics", 202)
    paths["lyrics"].write_text("sing it loud so all can hear\n" * 10)
    assert corpus.problem("lyrics", 202) is None
    paths["music"].mkdir()
    assert corpus.problem("music") == "the music corpus has no MIDI files (.mid, .midi)"
    (paths["music"] / "bad.mid").write_bytes(b"MThd" + bytes(20))
    assert corpus.problem("music") == "none of its 1 MIDI files can be read"
    (paths["music"] / "good.mid").write_bytes(notes_to_midi_bytes([Note(0, 60, 4)]))
    assert corpus.problem("music") is None
