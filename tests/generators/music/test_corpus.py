import pytest

from generators.errors import CorpusError
from generators.music.corpus import load_corpus
from generators.music.encoder import Note
from generators.music.midi_io import notes_to_midi_bytes


@pytest.fixture
def midi_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GHOSTWRITER_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.mid").write_bytes(notes_to_midi_bytes([Note(0, 60, 4), Note(4, 64, 2), Note(4, 67, 2)]))
    (folder / "sub" / "b.MIDI").write_bytes(notes_to_midi_bytes([Note(i * 2, 50 + i, 2) for i in range(12)]))
    (folder / "broken.mid").write_bytes(b"MThd this is not really midi")
    (folder / "notes.txt").write_text("not a midi file")
    return folder


def test_loads_recursively_skips_bad_files_and_caches(midi_folder):
    first = load_corpus(midi_folder, workers=2, progress=False)
    assert sorted(p.name for p in first.pieces) == ["a.mid", "b.MIDI"]
    assert [name for name, _ in first.skipped] == ["broken.mid"]
    assert first.skipped[0][1]  # a reason is given
    assert first.note_count == 15 and first.cached == 0
    assert "2 read" in first.summary() and "1 skipped" in first.summary()
    second = load_corpus(midi_folder, workers=2, progress=False)
    assert second.cached == 2
    assert [p.notes for p in second.pieces] == [p.notes for p in first.pieces]


@pytest.mark.parametrize("setup, fragment", [("missing", "not found"), ("file", "not a folder"),
                                             ("empty", "no .mid"), ("only-bad", "no usable notes")])
def test_unusable_folders(tmp_path, monkeypatch, setup, fragment):
    monkeypatch.setenv("GHOSTWRITER_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "x"
    if setup == "file":
        target.write_text("hi")
    elif setup == "empty":
        target.mkdir()
        (target / "readme.txt").write_text("no midi here")
    elif setup == "only-bad":
        target.mkdir()
        (target / "bad.mid").write_bytes(b"garbage")
    with pytest.raises(CorpusError, match=fragment):
        load_corpus(target, workers=1, progress=False)


def test_music_cli_errors(capsys, music_trained, tmp_path):
    from generators.cli import main

    _, ckpt = music_trained

    def run(*argv):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
        return code, capsys.readouterr().err.strip()

    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("hello")
    cases = [
        (["train", "music", "--corpus", str(tmp_path / "nope"), "--epochs", "1"], "not found"),
        (["train", "music", "--corpus", str(tmp_path / "texts"), "--epochs", "1"], "no .mid"),
        (["generate", "music", "--checkpoint", str(ckpt), "--notes", "0"], "at least 1"),
        (["generate", "music", "--checkpoint", str(ckpt), "--notes", "99999999"], "notes must be"),
        (["generate", "music", "--checkpoint", str(ckpt), "--instrument", "kazoo-of-doom"], "unknown instrument"),
        (["generate", "music", "--checkpoint", str(ckpt), "--primer", "C4 Q2"], "bad note"),
    ]
    for argv, fragment in cases:
        code, err = run(*argv, *(["--out", str(tmp_path / "o")] if argv[0] == "train" else []))
        assert code != 0 and len(err.splitlines()) == 1 and fragment in err, (argv, err)
    out = tmp_path / "song.mid"
    code, _ = run("generate", "music", "--checkpoint", str(ckpt), "--notes", "40", "--rng-seed", "3", "--out", str(out))
    assert code == 0 and out.read_bytes()[:4] == b"MThd"
