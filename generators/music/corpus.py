"""Load a folder of MIDI files as quantized notes: parsed in parallel, cached by content hash.

Parsing with music21 is slow (about a second per piano file), so files are
parsed in worker processes across the CPU cores, and each file's notes are
cached under ``$GHOSTWRITER_CACHE`` (default ``~/.cache/ghostwriter``) keyed by
the sha256 of its bytes: an unchanged corpus loads from the cache. A file
that fails to parse is skipped and reported; it never stops the load.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from .encoder import Note
from .midi_io import read_midi_notes, score_to_notes
from .stats import estimate_key, normalizing_shift, transpose

#: Bump when parsing changes, so stale cache entries are not reused.
PARSER_VERSION = 2  # 2: notes carry their velocities
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass
class Piece:
    name: str
    sha256: str
    notes: list[Note]


@dataclass
class MidiCorpus:
    source: str
    pieces: list[Piece]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cached: int = 0
    seconds: float = 0.0

    @property
    def note_count(self) -> int:
        return sum(len(p.notes) for p in self.pieces)

    def summary(self) -> str:
        return (f"{len(self.pieces) + len(self.skipped)} files: {len(self.pieces)} read "
                f"({self.cached} from cache), {len(self.skipped)} skipped, {self.note_count} notes, "
                f"{self.seconds:.1f} s")


def cache_root() -> Path:
    return Path(os.environ.get("GHOSTWRITER_CACHE") or Path.home() / ".cache" / "ghostwriter")


def find_midi_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise CorpusError(f"MIDI folder not found: {folder}")
    if not folder.is_dir():
        raise CorpusError(f"not a folder: {folder} (give a folder of .mid/.midi files)")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise CorpusError(f"no .mid or .midi files in {folder}")
    return files


def bach_chorale_files() -> list[Path]:
    """The Bach chorales that ship inside music21: a corpus every install has."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach") if Path(p).suffix in (".mxl", ".xml", ".krn"))


def _parse_one(path: str, steps_per_quarter: int) -> np.ndarray:
    """Worker: one file -> (N, 4) int32 array of onset, pitch, duration, velocity."""
    if path.lower().endswith(MIDI_SUFFIXES):
        notes = read_midi_notes(path, steps_per_quarter)
    else:
        from music21 import converter

        notes = score_to_notes(converter.parse(path, forceSource=True), steps_per_quarter)
    return np.array(notes, dtype=np.int32).reshape(-1, 4)


def load_corpus(
    folder: str | Path | None,
    *,
    steps_per_quarter: int = 4,
    workers: int | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> MidiCorpus:
    """Load a folder recursively (``None``: music21's Bach chorales); the bar is drawn on a terminal only."""
    progress = progress and sys.stderr.isatty()
    start = time.perf_counter()
    if folder is None:
        files, source = bach_chorale_files(), "music21 corpus: bach chorales"
    else:
        files, source = find_midi_files(Path(folder)), str(folder)
    cache_dir = cache_root() / f"midi-v{PARSER_VERSION}-q{steps_per_quarter}"
    results: dict[Path, np.ndarray] = {}
    skipped: list[tuple[str, str]] = []
    hashes: dict[Path, str] = {}
    todo: list[Path] = []
    for path in files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            skipped.append((path.name, f"cannot read: {exc.strerror or exc}"))
            continue
        hashes[path] = digest
        cached = cache_dir / f"{digest}.npy"
        if use_cache and cached.exists():
            try:
                results[path] = np.load(cached, allow_pickle=False)
                continue
            except (OSError, ValueError):
                pass  # unreadable cache entry: parse again
        todo.append(path)
    n_cached = len(results)
    if todo:
        progress_state = {"done": 0}

        def record(path: Path, arr: np.ndarray | None, exc: BaseException | None) -> None:
            progress_state["done"] += 1
            if exc is not None:  # one bad file never stops the load
                reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                skipped.append((path.name, reason))
            else:
                results[path] = arr
                if use_cache:
                    _write_cache(cache_dir, hashes[path], arr)
            if progress:
                _bar(progress_state["done"], len(todo), path.name)

        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        remaining = list(todo)
        if workers > 1:
            remaining = _parse_in_pool(todo, steps_per_quarter, workers, record)
        for path in remaining:  # one worker, or what a broken pool left: parse here
            try:
                arr = _parse_one(str(path), steps_per_quarter)
            except Exception as exc:
                record(path, None, exc)
            else:
                record(path, arr, None)
        if progress:
            print(file=sys.stderr)
    pieces = []
    for path in files:
        arr = results.get(path)
        if arr is None:
            continue
        if len(arr) == 0:
            skipped.append((path.name, "no pitched notes"))
            continue
        pieces.append(Piece(path.name, hashes[path], list(map(Note._make, arr.tolist()))))
    corpus = MidiCorpus(source, pieces, skipped, n_cached, time.perf_counter() - start)
    if not pieces:
        reasons = "; ".join(f"{n}: {r}" for n, r in skipped[:3])
        raise CorpusError(f"no usable notes in {source}" + (f" ({reasons})" if reasons else ""))
    return corpus


def _parse_in_pool(todo: list[Path], steps_per_quarter: int, workers: int, record) -> list[Path]:
    """Parse in worker processes; returns the files left unparsed if the pool itself broke."""
    pending = set(todo)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_parse_one, str(p), steps_per_quarter): p for p in todo}
            for fut in as_completed(futures):
                path = futures[fut]
                try:
                    arr = fut.result()
                except BrokenProcessPool:
                    raise
                except Exception as exc:
                    pending.discard(path)
                    record(path, None, exc)
                else:
                    pending.discard(path)
                    record(path, arr, None)
    except BrokenProcessPool:
        print("warning: MIDI worker processes failed; parsing the rest in this process", file=sys.stderr)
    return [p for p in todo if p in pending]


def _write_cache(cache_dir: Path, digest: str, arr: np.ndarray) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{digest}.{os.getpid()}.tmp.npy"
        np.save(tmp, arr)
        os.replace(tmp, cache_dir / f"{digest}.npy")
    except OSError:
        pass  # a read-only cache only costs speed


def _bar(done: int, total: int, name: str) -> None:
    width = 30
    filled = width * done // total
    print(f"\rparsing MIDI [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:30]:30s}",
          end="", file=sys.stderr, flush=True)


def split_pieces(pieces: list[Piece], val_fraction: float) -> tuple[list[Piece], list[Piece]]:
    """Hold out whole pieces (about ``val_fraction`` of the notes); a single piece is split in two.

    The held-out pieces are the first by content hash, so they are spread over the whole
    corpus (not one composer's folder) and stay held out when files are added or renamed.
    """
    if len(pieces) == 1:
        notes = pieces[0].notes
        cut = max(1, int(len(notes) * (1 - val_fraction)))
        head, tail = notes[:cut], notes[cut:]
        if not tail:
            return pieces, pieces
        t0 = tail[0].onset
        return [Piece(pieces[0].name, pieces[0].sha256, head)], [Piece(pieces[0].name, pieces[0].sha256, [n._replace(onset=n.onset - t0) for n in tail])]
    total = sum(len(p.notes) for p in pieces)
    held: set[int] = set()
    size = 0
    for i in sorted(range(len(pieces)), key=lambda i: (pieces[i].sha256, pieces[i].name))[: len(pieces) - 1]:
        if size >= val_fraction * total:
            break
        held.add(i)
        size += len(pieces[i].notes)
    return ([p for i, p in enumerate(pieces) if i not in held], [p for i, p in enumerate(pieces) if i in held])


def model_space(notes: list[Note], mode: str) -> tuple[list[Note], int, str]:
    """``(notes, shift, mode)``: the notes as the model sees them, the transposition applied, the key mode.

    With ``normalize`` the piece is transposed to C major / A minor (left as it is if that would
    leave the MIDI range); otherwise pitches stay absolute (shift 0).
    """
    shift, key_mode = normalizing_shift(notes)
    if mode != "normalize":
        return notes, 0, key_mode
    moved = transpose(notes, shift)
    return (moved, shift, key_mode) if moved is not None else (notes, 0, key_mode)


def augment(pieces: list[Piece], mode: str) -> list[list[Note]]:
    """Training pieces as the model sees them, plus their transpositions (see :class:`MusicConfig`)."""
    if mode == "normalize":
        return [model_space(p.notes, mode)[0] for p in pieces]
    out = [p.notes for p in pieces]
    if mode == "none":
        return out
    keys = [estimate_key(p.notes)[0] for p in pieces]
    tonics = sorted(set(keys)) if mode == "corpus-keys" else list(range(12))
    for piece, tonic in zip(pieces, keys):
        for target in tonics:
            shift = (target - tonic + 6) % 12 - 6  # the nearer direction, -6..5
            if shift == 0:
                continue
            moved = transpose(piece.notes, shift)
            if moved is not None:
                out.append(moved)
    return out


def corpus_credit(folder: str | Path | None) -> str:
    """What the corpus is, for summaries: the first heading of a SOURCE.md or README.md in the folder."""
    if folder is None:
        return "Bach chorales (music21 corpus)"
    for name in ("SOURCE.md", "README.md"):
        try:
            lines = (Path(folder) / name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            if line.startswith("# "):
                return line[2:].strip()[:120]
    return Path(folder).name


def corpus_digest(pieces: list[Piece]) -> str:
    h = hashlib.sha256()
    for p in sorted(pieces, key=lambda p: p.sha256):
        h.update(p.sha256.encode())
    return h.hexdigest()
