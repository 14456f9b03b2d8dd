"""The team's own training material: validated uploads added to each model's corpus under DATA_DIR.

text, lyrics: UTF-8 text files appended (a blank line between uploads) to one
corpus file each. music: MIDI files (or a zip of them), each parsed before it
is kept, stored in the music corpus folder under a content-hash name. Every
file is replaced atomically; nothing half-written is ever trained on.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from generators.data import read_text_corpus
from generators.errors import CorpusError
from generators.music.midi_io import midi_bytes_to_notes
from generators.registry import TEXT_MODELS

MAX_TEXT_BYTES = 8 * 1024 * 1024
MAX_MIDI_BYTES = 2 * 1024 * 1024
MAX_UPLOAD = 64 * 1024 * 1024  # the largest attachment fetched at all (a .zip of MIDI files); larger: refused unread
MAX_ZIP_ENTRIES = 500
MAX_ZIP_TOTAL = 64 * 1024 * 1024
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass
class AddResult:
    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Accepted {len(self.accepted)} file(s)" + (f": {', '.join(self.accepted[:10])}" if self.accepted else ".")]
        if self.accepted[10:]:
            lines[0] += f" and {len(self.accepted) - 10} more"
        for name, reason in self.rejected[:10]:
            lines.append(f"Rejected {name}: {reason}")
        if self.rejected[10:]:
            lines.append(f"... and {len(self.rejected) - 10} more rejected")
        return "\n".join(lines)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_midi(data: bytes | None) -> tuple[list, str | None]:
    """``(notes, None)`` for a usable MIDI upload, else ``([], why not)``: the checks every MIDI upload gets."""
    if data is None or len(data) > MAX_MIDI_BYTES:
        return [], f"larger than {MAX_MIDI_BYTES // (1024 * 1024)} MB"
    try:
        notes = midi_bytes_to_notes(data)
    except Exception as exc:
        return [], f"not a readable MIDI file ({str(exc)[:80] or type(exc).__name__})"
    if not notes:
        return [], "no pitched notes"
    return notes, None


def _size(size: int) -> str:
    """``6 bytes``, ``12 KB``, ``3.4 MB``: never "0 KB" for a file that has something in it."""
    if size < 1024:
        return f"{size} byte{'s' if size != 1 else ''}"
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 2**20:.1f} MB"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[:80] or "file"


class TeamCorpus:
    def __init__(self, paths: dict[str, Path]):
        self.paths = paths  # text, lyrics: a file; music: a folder

    def add(self, model: str, uploads: list[tuple[str, bytes | None]]) -> AddResult:
        """Validate and add uploads (blocking: run it in a worker thread); ``None`` data: too large to fetch."""
        result = AddResult()
        result.rejected += [(name, "too large to upload") for name, data in uploads if data is None]
        uploads = [(name, data) for name, data in uploads if data is not None]
        if model == "music":
            self._add_music(uploads, result)
        else:
            self._add_text(model, uploads, result)
        return result

    def problem(self, model: str, min_chars: int = 0) -> str | None:
        """Why the team corpus of ``model`` cannot be trained on (checked before a retraining starts, so it is not
        refused an hour later), or None. Blocking: run it in a worker thread."""
        path = self.paths[model]
        if model == "music":
            if not path.is_dir():
                return "the music corpus is not a folder"
            files = [p for p in sorted(path.rglob("*")) if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()]
            if not files:
                return "the music corpus has no MIDI files (.mid, .midi)"
            for file in files:  # one readable piece is enough to start; the trainer skips (and names) the rest
                if check_midi(file.read_bytes() if file.stat().st_size <= MAX_MIDI_BYTES else None)[1] is None:
                    return None
            return f"none of its {len(files)} MIDI files can be read"
        try:
            corpus = read_text_corpus(path)
        except CorpusError as exc:  # (the library's words, without the server's path)
            return str(exc).replace(f": {path}", "").replace(str(path), path.name)
        if len(corpus.text) < min_chars:
            return (f"the {model} corpus has {len(corpus.text):,} characters; training needs at least {min_chars:,} "
                    "(add more with `/corpus add`)")
        return None

    def _add_text(self, model: str, uploads, result: AddResult) -> None:
        texts = []
        for name, data in uploads:
            if not name.lower().endswith((".txt", ".text", ".md")):
                result.rejected.append((name, "not a text file (.txt)"))
            elif len(data) > MAX_TEXT_BYTES:
                result.rejected.append((name, f"larger than {MAX_TEXT_BYTES // (1024 * 1024)} MB"))
            elif b"\x00" in data:
                result.rejected.append((name, "binary data, not text"))
            else:
                try:
                    text = data.decode("utf-8-sig").replace("\r\n", "\n").strip()
                except UnicodeDecodeError as exc:
                    result.rejected.append((name, f"not UTF-8 (bad byte at offset {exc.start})"))
                    continue
                if not text:
                    result.rejected.append((name, "empty"))
                    continue
                texts.append(text)
                result.accepted.append(name)
        if texts:
            path = self.paths[model]
            old = path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" if path.exists() else ""
            _atomic_write(path, (old + "\n\n".join(texts) + "\n").encode("utf-8"))

    def _add_music(self, uploads, result: AddResult) -> None:
        candidates: list[tuple[str, bytes]] = []
        for name, data in uploads:
            if name.lower().endswith(".zip"):
                candidates += self._unzip(name, data, result)
            elif name.lower().endswith(MIDI_SUFFIXES):
                candidates.append((name, data))
            else:
                result.rejected.append((name, "not a MIDI file (.mid, .midi) or a zip of them"))
        folder = self.paths["music"]
        for name, data in candidates:
            notes, reason = check_midi(data)
            if reason is not None:
                result.rejected.append((name, reason))
                continue
            digest = hashlib.sha256(data).hexdigest()[:16]
            if folder.is_dir() and any(folder.glob(f"{digest}-*")):
                result.accepted.append(f"{name} (already in the corpus)")
                continue
            _atomic_write(folder / f"{digest}-{_safe_name(name)}", data)
            result.accepted.append(f"{name} ({len(notes)} notes)")

    @staticmethod
    def _unzip(name: str, data: bytes, result: AddResult) -> list[tuple[str, bytes]]:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = [i for i in archive.infolist() if not i.is_dir()]
        except zipfile.BadZipFile:
            result.rejected.append((name, "not a valid zip file"))
            return []
        if len(infos) > MAX_ZIP_ENTRIES:
            result.rejected.append((name, f"more than {MAX_ZIP_ENTRIES} entries"))
            return []
        if sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
            result.rejected.append((name, f"more than {MAX_ZIP_TOTAL // (1024 * 1024)} MB uncompressed"))
            return []
        out = []
        for info in infos:
            entry = f"{name}/{info.filename}"
            if not info.filename.lower().endswith(MIDI_SUFFIXES):
                result.rejected.append((entry, "not a MIDI file"))
                continue
            if info.flag_bits & 0x1:
                result.rejected.append((entry, "encrypted (password-protected zips are not supported)"))
                continue
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                          zipfile.ZIP_LZMA):
                result.rejected.append((entry, f"unsupported compression method {info.compress_type}"))
                continue
            try:
                with archive.open(info) as f:
                    payload = f.read(MAX_MIDI_BYTES + 1)  # bounded even if the header lies about the size
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
                # a bad CRC, a size the header lies about, a damaged stream: this entry only
                result.rejected.append((entry, f"damaged in the zip ({str(exc)[:80] or type(exc).__name__})"))
                continue
            out.append((entry, payload))
        return out

    def describe(self) -> str:
        lines = []
        for model in TEXT_MODELS:
            path = self.paths[model]
            if path.is_file():
                lines.append(f"- `{model}`: {path.name}, {_size(path.stat().st_size)} of text")
            else:
                lines.append(f"- `{model}`: no team material yet")
        folder = self.paths["music"]
        files = [p for p in folder.glob("*") if p.suffix.lower() in MIDI_SUFFIXES] if folder.is_dir() else []
        lines.append(f"- `music`: {len(files)} MIDI files, {_size(sum(p.stat().st_size for p in files))}"
                     if files else "- `music`: no team material yet")
        return "**Team corpora** (what `/retrain` trains on)\n" + "\n".join(lines)
