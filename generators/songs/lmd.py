"""The lyrics-melody dataset (``lmd_songs.jsonl.gz``): songs whose every syllable is paired with the note that sings
it, from Yu, Srivastava & Canales, "Conditional LSTM-GAN for Melody Generation from Lyrics" (ACM TOMM 2021), built
from the Lakh MIDI Dataset (Raffel, 2016).

One song a line: ``{"id", "lines": [[[word, [syllable, ...], [[pitch, duration, rest], ...]], ...], ...]}``.
:func:`read_songs` yields them; :func:`song_lines` gives a song's lines as text, cleaned where the karaoke files
hurt a lyrics model (syllables left apart joined into the dictionary word they make, a line in capitals written in
sentence case, a backtick read as an apostrophe, ``+`` and ``^`` dropped); :func:`held_out` splits songs by a hash of their id (the same songs every time, whatever the file's
order); :func:`build_lyrics_corpus` writes the lyrics model's corpus from both sources:

    python -m generators.songs.lmd --lmd ../shared/data/lmd_songs.jsonl.gz --lyrics ../shared/data/lyrics.txt --out data/

writes ``data/lyrics_both.txt`` (the training material, then the held-out material at its end, so training with
the ``val_fraction`` it prints holds out exactly that), ``data/heldout_lmd.txt`` (10 % of the songs) and
``data/heldout_lyrics.txt`` (the original file's last 5 %), for ``evaluate lyrics --corpus``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import Iterator

HELD_OUT = 0.10  # songs of the dataset kept aside, by id hash
ORIGINAL_HELD_OUT = 0.05  # the original lyrics file's end kept aside (as its checkpoint was validated)
_DROP = str.maketrans({"`": "'", "+": None, "^": None})


def read_songs(path: str | Path) -> Iterator[dict]:
    """The dataset's songs, one dict each (see the module docstring)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def joined_words(words: list[str]) -> list[str]:
    """Syllables the dataset left apart joined where together they make a dictionary word and apart they do not
    both ("on ly" -> "only", "hap pen" stays unless "hap" is no word)."""
    from .rhyme import known

    out: list[str] = []
    for word in words:
        if out and known(out[-1] + word) and not (known(out[-1]) and known(word)):
            out[-1] += word
        else:
            out.append(word)
    return out


def song_lines(song: dict) -> list[str]:
    """A song's lines as text (words joined by spaces), cleaned (see the module docstring); empty lines dropped."""
    out = []
    for line in song["lines"]:
        text = " ".join(joined_words([word[0] for word in line])).translate(_DROP)
        text = re.sub(r"\s+", " ", text).strip()
        letters = [c for c in text if c.isalpha()]
        if len(letters) > 3 and all(c.isupper() for c in letters):  # SHOUTED karaoke lines: sentence case
            text = re.sub(r"\bi\b", "I", text.lower().capitalize())
        if text:
            out.append(text)
    return out


def held_out(song_id: str, fraction: float = HELD_OUT) -> bool:
    """Whether a song is kept aside: by a hash of its id, so the same songs whatever the file's order."""
    return int(hashlib.sha256(song_id.encode()).hexdigest()[:8], 16) / 0x100000000 < fraction


def build_lyrics_corpus(lmd: Path, lyrics: Path, out: Path) -> dict:
    """Write the corpus files (see the module docstring); returns their sizes and the ``val_fraction`` that holds
    out exactly the held-out material."""
    train, val = [], []
    for song in read_songs(lmd):
        text = "\n".join(song_lines(song))
        if text:
            (val if held_out(song["id"]) else train).append(text)
    original = lyrics.read_text(encoding="utf-8").replace("\r\n", "\n").strip("\n")
    cut = len(original) - int(len(original) * ORIGINAL_HELD_OUT)
    cut = original.rfind("\n\n", 0, cut) + 2 if original.rfind("\n\n", 0, cut) > 0 else cut  # at a blank line
    lmd_train, lmd_val = "\n\n".join(train) + "\n\n", "\n\n".join(val) + "\n\n"
    original_train, original_val = original[:cut], original[cut:] + "\n"
    out.mkdir(parents=True, exist_ok=True)
    held = lmd_val + original_val
    both = lmd_train + original_train + held
    (out / "lyrics_both.txt").write_text(both, encoding="utf-8")
    (out / "heldout_lmd.txt").write_text(lmd_val, encoding="utf-8")
    (out / "heldout_lyrics.txt").write_text(original_val, encoding="utf-8")
    return {"songs_train": len(train), "songs_held_out": len(val), "chars": len(both),
            "held_out_chars": len(held), "val_fraction": round(len(held) / len(both), 6)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.songs.lmd", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmd", type=Path, required=True)
    parser.add_argument("--lyrics", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(build_lyrics_corpus(args.lmd, args.lyrics, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
