"""The lyrics-melody dataset reader and the lyrics corpus built from both sources (on a small fixture file)."""

from __future__ import annotations

import gzip
import json

from generators.songs.lmd import build_lyrics_corpus, held_out, read_songs, song_lines


def _word(text: str) -> list:
    return [text, [text], [[60, 1.0, 0.0]]]


def _write(path, songs):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for song_id, lines in songs:
            f.write(json.dumps({"id": song_id, "lines": [[_word(w) for w in line.split()] for line in lines]}) + "\n")


def test_songs_are_read_and_cleaned(tmp_path):
    path = tmp_path / "songs.jsonl.gz"
    _write(path, [("a", ["I LOVE YOU BABY", "don`t go+ away", "   "]), ("b", ["hello there"])])
    songs = list(read_songs(path))
    assert [s["id"] for s in songs] == ["a", "b"]
    assert song_lines(songs[0]) == ["I love you baby", "don't go away"]


def test_the_corpus_holds_out_the_same_songs_and_the_original_files_end(tmp_path):
    ids = [f"song{i}" for i in range(200)]
    _write(tmp_path / "songs.jsonl.gz", [(i, [f"line of {i}", "and another"]) for i in ids])
    original = "\n\n".join(f"verse {i}\nsecond line {i}" for i in range(100)) + "\n"
    (tmp_path / "lyrics.txt").write_text(original)
    info = build_lyrics_corpus(tmp_path / "songs.jsonl.gz", tmp_path / "lyrics.txt", tmp_path / "out")
    both = (tmp_path / "out" / "lyrics_both.txt").read_text()
    held_lmd = (tmp_path / "out" / "heldout_lmd.txt").read_text()
    held_orig = (tmp_path / "out" / "heldout_lyrics.txt").read_text()
    kept_aside = [i for i in ids if held_out(i)]
    assert 5 < len(kept_aside) < 40 and info["songs_held_out"] == len(kept_aside)
    assert all(f"line of {i}\n" in held_lmd for i in kept_aside)
    assert both.endswith(held_lmd + held_orig) and held_orig.startswith("verse ") and "verse 99" in held_orig
    assert info["val_fraction"] == round(len(held_lmd + held_orig) / len(both), 6)
    assert "verse 0\n" in both[: len(both) - len(held_lmd + held_orig)]
