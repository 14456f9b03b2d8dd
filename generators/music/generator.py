"""The music generator: MIDI corpus -> note/chord/duration/rest events -> LSTM -> MIDI.

    gen = MusicGenerator.load("checkpoints/music")
    result = gen.generate(notes=500, temperature=0.9, tempo=100, instrument="piano", rng_seed=1)
    Path("song.mid").write_bytes(result.midi)

Training, checkpoints and stepping are shared with the text generators
(:class:`generators.sequence.SequenceGenerator`), sampling too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GenerationError
from ..sampling import SamplingOptions, generate_tokens, make_rng
from ..sequence import SequenceGenerator
from .config import MUSIC, MusicConfig
from .corpus import Piece, load_corpus
from .encoder import END, START, EventCodec, EventVocab, Note, parse_note_list, resolve_overlaps
from .midi_io import notes_to_midi_bytes, read_midi_notes
from .stats import estimate_key, key_name, transpose

MAX_NOTES = 20_000
PRIMER_EVENTS = 48  # events kept per stored primer excerpt
STORED_PRIMERS = 64


@dataclass
class MusicResult:
    midi: bytes
    notes: list[Note]
    note_count: int
    seconds_of_music: float
    tempo: float
    program: int
    instrument: str
    key: str
    rng_seed: int
    primer: str
    events: int
    seconds: float  # model time
    replaced: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{self.note_count} notes, {self.seconds_of_music:.1f} s at {self.tempo:g} BPM, "
                f"{self.instrument}, key {self.key}, RNG seed {self.rng_seed}")


class MusicVocab(EventVocab):
    """The event vocabulary plus a few primer excerpts of the training corpus (so loading needs nothing else)."""

    def __init__(self, tokens, primers: list[list[str]] | None = None):
        super().__init__(tokens)
        self.primers = primers or []

    def to_dict(self) -> dict:
        return {**super().to_dict(), "primers": self.primers}

    @classmethod
    def from_dict(cls, data: dict, source: str = "vocab.json") -> "MusicVocab":
        base = EventVocab.from_dict(data, source)
        return cls(base.tokens, data.get("primers") or [])


def resolve_instrument(instrument: str | int | None) -> tuple[int, str]:
    """General MIDI program (0-127) and a display name, from a program number or an instrument name."""
    from music21 import instrument as m21inst

    if instrument is None or instrument == "":
        return 0, "Piano"
    if isinstance(instrument, int) or (isinstance(instrument, str) and instrument.strip().isdigit()):
        program = int(instrument)
        if not 0 <= program <= 127:
            raise GenerationError(f"instrument program must be 0-127, got {program}")
        try:
            name = m21inst.instrumentFromMidiProgram(program).instrumentName or f"program {program}"
        except Exception:
            name = f"program {program}"
        return program, name
    try:
        inst = m21inst.fromString(str(instrument))
    except Exception:
        inst = None
    if inst is None or inst.midiProgram is None:
        raise GenerationError(f"unknown instrument {instrument!r} (use a General MIDI name like 'violin' or a number 0-127)")
    return int(inst.midiProgram), inst.instrumentName or str(instrument)


class MusicGenerator(SequenceGenerator):
    KINDS = ("music",)
    config_cls = MusicConfig
    vocab_cls = MusicVocab
    unit = "event"

    @property
    def codec(self) -> EventCodec:
        return EventCodec(max_duration=self.config.max_duration, max_wait=self.config.max_wait)

    # -- training ----------------------------------------------------------
    @classmethod
    def train(
        cls,
        corpus: str | Path | None = None,
        *,
        config: MusicConfig | None = None,
        epochs: int | None = None,
        minutes: float | None = None,
        out: str | Path | None = None,
        progress: str = "bar",
        seed: int = 0,
        init_from: "MusicGenerator | None" = None,
        workers: int | None = None,
    ) -> "MusicGenerator":
        """Train on a folder of MIDI files (``None``: music21's Bach chorales)."""
        config = config or MUSIC
        loaded = load_corpus(corpus, steps_per_quarter=config.steps_per_quarter, workers=workers,
                             progress=progress == "bar")
        if progress != "none":
            import sys

            print(f"corpus: {loaded.summary()}", file=sys.stderr)
            for name, reason in loaded.skipped:
                print(f"  skipped {name}: {reason}", file=sys.stderr)
        codec = EventCodec(max_duration=config.max_duration, max_wait=config.max_wait)
        train_pieces, val_pieces = split_pieces(loaded.pieces, config.val_fraction)
        train_tokens = [codec.encode(n) for n in augment(train_pieces, config.augment)]
        val_tokens = [codec.encode(p.notes) for p in val_pieces]
        if init_from is None:
            known = EventVocab.from_tokens(t for piece in train_tokens + val_tokens for t in piece).tokens
        else:
            known = init_from.vocab.tokens  # fine-tuning keeps the index table
        primers = _primer_excerpts([codec.encode(p.notes) for p in train_pieces], np.random.default_rng(seed))
        vocab = MusicVocab(known, primers)
        train_ids, _ = vocab.encode_lenient(t for piece in train_tokens for t in piece)
        val_ids, _ = vocab.encode_lenient(t for piece in val_tokens for t in piece)
        corpus_metrics = {
            "path": loaded.source, "sha256": _corpus_digest(loaded.pieces), "files": len(loaded.pieces),
            "skipped": len(loaded.skipped), "notes": loaded.note_count, "train_pieces": len(train_pieces),
            "val_pieces": len(val_pieces), "augment": config.augment,
        }
        return cls._fit("music", np.asarray(train_ids, np.int32), np.asarray(val_ids, np.int32), vocab, config,
                        corpus_metrics=corpus_metrics, epochs=epochs, minutes=minutes, out=out,
                        progress=progress, seed=seed, init_from=init_from)

    # -- generation --------------------------------------------------------
    def generate(
        self,
        notes: int = 500,
        *,
        temperature: float = 0.9,
        top_k: int | None = None,
        top_p: float | None = None,
        rng_seed: int | None = None,
        tempo: float = 120.0,
        instrument: str | int | None = None,
        primer: str | Path | None = None,
    ) -> MusicResult:
        """Generate exactly ``notes`` notes (each note of a chord counts) after a primer.

        ``primer``: ``None`` or ``"random"`` (an excerpt of the training corpus
        stored in the checkpoint, chosen with the RNG seed), a path to a MIDI
        file (its opening), or a note list like ``"C4 E4 G4 C5"``. The primer
        conditions the model but is not part of the output. Primer events the
        vocabulary lacks map to the nearest known ones (``result.replaced``).
        """
        opts = SamplingOptions(temperature, top_k, top_p)
        if not isinstance(notes, int) or isinstance(notes, bool) or not 1 <= notes <= MAX_NOTES:
            raise GenerationError(f"notes must be between 1 and {MAX_NOTES}, got {notes!r}")
        if not isinstance(tempo, (int, float)) or not 20 <= tempo <= 400:
            raise GenerationError(f"tempo must be between 20 and 400 BPM, got {tempo!r}")
        program, instrument_name = resolve_instrument(instrument)
        rng, rng_seed = make_rng(rng_seed)
        primer_tokens, primer_desc = self._primer_tokens(primer, rng)
        prime_ids, replaced = self.vocab.encode_lenient(primer_tokens)

        start = time.perf_counter()
        step, first = self.start(np.asarray(prime_ids, np.int32))
        blocked = np.zeros(len(self.vocab), np.float32)
        blocked[[self.vocab.index[START], self.vocab.index[END]]] = -np.inf  # a piece ends when it has its notes
        is_note = np.array([t.startswith("P") for t in self.vocab.tokens])
        is_wait = np.array([t.startswith("W") for t in self.vocab.tokens])
        played: list[int] = []  # pitches sounded at the current onset: one note per pitch and onset
        count = {"notes": 0}

        def masked(logits: np.ndarray) -> np.ndarray:
            logits = logits + blocked
            logits[played] = -np.inf
            return logits

        def next_logits(token: int) -> np.ndarray:
            if is_wait[token]:
                played.clear()
            elif is_note[token]:
                played.append(token)
            return masked(step(token))

        def stop(token: int) -> bool:
            count["notes"] += int(is_note[token])
            return count["notes"] >= notes

        tokens = generate_tokens(next_logits, masked(first), 50 * notes + 100, opts, rng, stop=stop)
        seconds = time.perf_counter() - start
        # Keep the duration state the primer left: decode primer + output, then drop the primer's notes.
        primer_notes = EventCodec.decode(self.vocab.decode(prime_ids))
        all_notes = EventCodec.decode(self.vocab.decode(prime_ids) + self.vocab.decode(tokens))
        out_notes = all_notes[len(primer_notes):]
        first_onset = min((n.onset for n in out_notes), default=0)
        out_notes = resolve_overlaps(n._replace(onset=n.onset - first_onset) for n in out_notes)  # start at the first note
        if len(out_notes) != count["notes"]:
            raise GenerationError("internal: generated note count mismatch")  # pragma: no cover
        spq = self.config.steps_per_quarter
        end_steps = max((n.onset + n.duration for n in out_notes), default=0)
        midi = notes_to_midi_bytes(out_notes, steps_per_quarter=spq, tempo=float(tempo), program=program)
        return MusicResult(
            midi=midi, notes=out_notes, note_count=len(out_notes),
            seconds_of_music=end_steps / spq * 60.0 / float(tempo), tempo=float(tempo), program=program,
            instrument=instrument_name, key=key_name(out_notes), rng_seed=rng_seed, primer=primer_desc,
            events=len(tokens), seconds=seconds, replaced=replaced,
        )

    def _primer_tokens(self, primer, rng) -> tuple[list[str], str]:
        if primer is None or primer == "random":
            if self.vocab.primers:
                i = int(rng.integers(len(self.vocab.primers)))
                return list(self.vocab.primers[i]), f"corpus excerpt #{i}"
            return [START], "none"
        text = str(primer)
        path = Path(text)
        if path.suffix.lower() in (".mid", ".midi"):
            if not path.is_file():
                raise GenerationError(f"primer MIDI file not found: {path}")
            try:
                primer_notes = read_midi_notes(path, self.config.steps_per_quarter)
            except Exception as exc:
                raise GenerationError(f"cannot read primer MIDI {path.name}: {str(exc)[:120] or type(exc).__name__}") from None
            if not primer_notes:
                raise GenerationError(f"primer MIDI {path.name} has no notes")
            tokens = self.codec.encode(primer_notes)[:-1]  # no END: the piece goes on
            return tokens[: PRIMER_EVENTS * 2], f"MIDI file {path.name}"
        primer_notes = parse_note_list(text)
        tokens = self.codec.encode(primer_notes)[:-1]
        last = primer_notes[-1]
        tokens.append(f"W{min(last.duration, self.config.max_wait)}")  # time moves past the last primer note
        return tokens, f"notes {text}"

    # -- evaluation --------------------------------------------------------
    def evaluate(self, corpus: str | Path | None = None, *, pieces: int = 10, notes: int = 300,
                 temperature: float = 0.9, rng_seed: int = 0, workers: int | None = None) -> dict:
        """Loss in nats per event on a MIDI folder, and musical statistics of generated pieces next to the corpus's."""
        from .stats import mean_stats

        loaded = load_corpus(corpus, steps_per_quarter=self.config.steps_per_quarter, workers=workers, progress=False)
        tokens = [t for p in loaded.pieces for t in self.codec.encode(p.notes)]
        ids, replaced = self.vocab.encode_lenient(tokens)
        loss = self.loss_on(np.asarray(ids, np.int32))
        generated = [self.generate(notes, temperature=temperature, rng_seed=rng_seed + i).notes for i in range(pieces)]
        return {"nats_per_event": loss, "bits_per_event": loss / math.log(2), "events": len(ids),
                "unknown_events": sum(tokens.count(t) for t in replaced), "corpus_summary": loaded.summary(),
                "corpus_stats": mean_stats([p.notes for p in loaded.pieces]), "generated_stats": mean_stats(generated)}


def split_pieces(pieces: list[Piece], val_fraction: float) -> tuple[list[Piece], list[Piece]]:
    """Hold out whole pieces at the end (about ``val_fraction`` of the notes); one piece is split in two."""
    if len(pieces) == 1:
        notes = pieces[0].notes
        cut = max(1, int(len(notes) * (1 - val_fraction)))
        head, tail = notes[:cut], notes[cut:]
        if not tail:
            return pieces, pieces
        t0 = tail[0].onset
        return [Piece(pieces[0].name, pieces[0].sha256, head)], [Piece(pieces[0].name, pieces[0].sha256, [n._replace(onset=n.onset - t0) for n in tail])]
    total = sum(len(p.notes) for p in pieces)
    val, size = [], 0
    for p in reversed(pieces[1:]):
        if size >= val_fraction * total:
            break
        val.append(p)
        size += len(p.notes)
    val.reverse()
    return pieces[: len(pieces) - len(val)], val


def augment(pieces: list[Piece], mode: str) -> list[list[Note]]:
    """Training pieces, plus their transpositions (see :class:`MusicConfig`)."""
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


def _primer_excerpts(pieces_tokens: list[list[str]], rng) -> list[list[str]]:
    excerpts = []
    for _ in range(STORED_PRIMERS):
        tokens = pieces_tokens[int(rng.integers(len(pieces_tokens)))]
        body = tokens[1:-1]
        if len(body) <= PRIMER_EVENTS:
            excerpts.append([START] + body)
            continue
        # start at an onset (a D token after a W), so the excerpt's first notes have their duration
        starts = [i for i in range(1, len(body) - PRIMER_EVENTS) if body[i].startswith("D") and body[i - 1].startswith("W")]
        i = int(rng.choice(starts)) if starts else 0
        excerpts.append(body[i: i + PRIMER_EVENTS])
    return excerpts


def _corpus_digest(pieces: list[Piece]) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in sorted(pieces, key=lambda p: p.sha256):
        h.update(p.sha256.encode())
    return h.hexdigest()
