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
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, GenerationError
from ..sampling import SamplingOptions, TokenStream, make_rng
from ..sequence import SequenceGenerator
from .config import MUSIC, MusicConfig
from .corpus import Piece, load_corpus
from .encoder import (END, PLAN_KINDS, START, EventCodec, EventVocab, Note, parse_note_list, parse_token,
                      plan_tokens, resolve_overlaps)
from .midi_io import notes_to_midi_bytes, read_midi_notes
from .stats import (NORMAL_TONIC, estimate_key, format_key, normalizing_shift, parse_key, shift_between,
                    transpose)

MAX_NOTES = 20_000
MAX_BARS = 1_000
MAX_SECONDS = 3_600.0
BEATS_PER_BAR = 4  # bars are 4/4
DEFAULT_TEMPERATURE = 0.9
PRIMER_EVENTS = 48  # events kept per stored primer excerpt
STORED_PRIMERS = 64
CONTINUE_QUARTERS = 16  # a continuation is primed with the piece's last 4 bars...
CONTINUE_NOTES = 128  # ...at most this many notes
#: The longest run of one repeated onset (the same notes with the same durations) a piece may hold.
#: The held-out classical pieces' longest is 7; at low temperatures the model otherwise strikes one
#: chord dozens of times in a row.
MAX_REPEATS = 8


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
    bars: float = 0.0  # length in 4/4 bars
    training_data: str = ""
    join_s: float = 0.0  # a continued piece: where the new part begins, in seconds

    def summary(self) -> str:
        trained = f", trained on {self.training_data}" if self.training_data else ""
        return (f"{self.note_count} notes in {self.key}, {self.bars:g} bars ({self.seconds_of_music:.1f} s) at "
                f"{self.tempo:g} BPM, {self.instrument}, RNG seed {self.rng_seed}{trained}")


class MusicVocab(EventVocab):
    """The event vocabulary plus a few primer excerpts of the training corpus (so loading needs nothing else)."""

    def __init__(self, tokens, primers: list[list[str]] | None = None, primer_modes: list[str] | None = None):
        super().__init__(tokens)
        self.primers = primers or []
        if primer_modes is None or len(primer_modes) != len(self.primers):  # older checkpoints: estimate
            primer_modes = [estimate_key(EventCodec.decode(p))[1] for p in self.primers]
        self.primer_modes = primer_modes

    def to_dict(self) -> dict:
        return {**super().to_dict(), "primers": self.primers, "primer_modes": self.primer_modes}

    @classmethod
    def from_dict(cls, data: dict, source: str = "vocab.json") -> "MusicVocab":
        base = EventVocab.from_dict(data, source)
        return cls(base.tokens, data.get("primers") or [], data.get("primer_modes"))


def _gm_names() -> tuple[str, ...]:
    try:
        from pretty_midi.constants import INSTRUMENT_MAP
    except ImportError:  # pragma: no cover - pretty_midi is a dependency
        return ()
    return tuple(INSTRUMENT_MAP)


#: The 128 General MIDI program names, program 0 first ("Acoustic Grand Piano").
GM_NAMES = _gm_names()


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
    by_name = {name.lower(): program for program, name in enumerate(GM_NAMES)}
    if str(instrument).strip().lower() in by_name:
        program = by_name[str(instrument).strip().lower()]
        return program, GM_NAMES[program]
    try:
        inst = m21inst.fromString(str(instrument))
    except Exception:
        inst = None
    if inst is None or inst.midiProgram is None:
        raise GenerationError(f"unknown instrument {instrument!r} (use a General MIDI name like 'violin' or a number 0-127)")
    return int(inst.midiProgram), inst.instrumentName or str(instrument)


class RepeatGuard:
    """Caps runs of one repeated onset at :data:`MAX_REPEATS` while a piece is sampled.

    ``take(token)`` follows the drawn events (``D`` sets the duration of the notes that follow, ``P``
    adds a note to the onset being written, a wait ends it). Once the last ``MAX_REPEATS`` onsets
    held the same notes, ``mask(logits)`` forbids every wait while the onset being written holds
    exactly those notes again, so it gains or changes a note instead of repeating once more.
    """

    def __init__(self, tokens: list[str]):
        self.is_note = np.array([t.startswith("P") for t in tokens])
        self.is_wait = np.array([t.startswith("W") for t in tokens])
        self.is_duration = np.array([t.startswith("D") for t in tokens])
        self.last: tuple | None = None  # the notes of the last finished onset...
        self.run = 0  # ...and how many onsets in a row held them
        self.notes: list[tuple[int, int]] = []  # (pitch token, duration token) of the onset being written
        self.duration = -1

    def take(self, token: int) -> None:
        if self.is_duration[token]:
            self.duration = token
        elif self.is_note[token]:
            self.notes.append((token, self.duration))
        elif self.is_wait[token] and self.notes:  # (a wait with no notes continues the last gap)
            onset = tuple(sorted(self.notes))
            self.run = self.run + 1 if onset == self.last else 1
            self.last, self.notes = onset, []

    def mask(self, logits: np.ndarray) -> np.ndarray:
        if self.run >= MAX_REPEATS and tuple(sorted(self.notes)) == self.last:
            others = np.isfinite(logits) & ~self.is_wait
            if others.any():  # (never leave nothing to draw)
                logits[self.is_wait] = -np.inf
        return logits


#: Events in a row without a note after which the next events must strike one (8 bars of rest or more; below
#: the 50 events a note that bound a piece, so a piece always ends).
MAX_SILENT_EVENTS = 32


class StallGuard:
    """Keeps a piece moving: after :data:`MAX_SILENT_EVENTS` events without a note (waits, durations, plan
    tokens: a loop a weak model can fall into at a low temperature), only a note, or a duration that a note
    then follows, may be drawn."""

    def __init__(self, tokens: list[str]):
        self.is_note = np.array([t.startswith("P") for t in tokens])
        self.is_duration = np.array([t.startswith("D") for t in tokens])
        self.silent = 0
        self.after_duration = False

    def take(self, token: int) -> None:
        self.silent = 0 if self.is_note[token] else self.silent + 1
        self.after_duration = bool(self.is_duration[token])

    def mask(self, logits: np.ndarray) -> np.ndarray:
        if self.silent >= MAX_SILENT_EVENTS:
            allowed = self.is_note if self.after_duration else self.is_note | self.is_duration
            if (np.isfinite(logits) & allowed).any():  # (never leave nothing to draw)
                logits[~allowed] = -np.inf
        return logits


class MusicGenerator(SequenceGenerator):
    KINDS = ("music",)
    config_cls = MusicConfig
    vocab_cls = MusicVocab
    unit = "event"

    @property
    def codec(self) -> EventCodec:
        return codec_for(self.config)

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
        if init_from is not None and init_from.config.plan_bars != config.plan_bars:
            raise ConfigError(f"fine-tuning keeps the checkpoint's event encoding; cannot change plan_bars "
                              f"({init_from.config.plan_bars!r} -> {config.plan_bars!r})")
        loaded = load_corpus(corpus, steps_per_quarter=config.steps_per_quarter, workers=workers,
                             progress=progress == "bar")
        if progress != "none":
            import sys

            print(f"corpus: {loaded.summary()}", file=sys.stderr)
            for name, reason in loaded.skipped:
                print(f"  skipped {name}: {reason}", file=sys.stderr)
        codec = codec_for(config)
        train_pieces, val_pieces = split_pieces(loaded.pieces, config.val_fraction)
        train_tokens = [codec.encode(n) for n in augment(train_pieces, config.augment)]
        val_tokens = [codec.encode(model_space(p.notes, config.augment)[0]) for p in val_pieces]
        if init_from is None:
            known = EventVocab.from_tokens(t for piece in train_tokens + val_tokens for t in piece).tokens
        else:
            known = init_from.vocab.tokens  # fine-tuning keeps the index table
        spaced = [model_space(p.notes, config.augment) for p in train_pieces]
        primers, primer_modes = _primer_excerpts([codec.encode(n) for n, _, _ in spaced], [m for _, _, m in spaced],
                                                 np.random.default_rng(seed), at_bar_lines=bool(codec.bar_steps))
        vocab = MusicVocab(known, primers, primer_modes)
        train_ids, _ = vocab.encode_lenient(t for piece in train_tokens for t in piece)
        val_ids, _ = vocab.encode_lenient(t for piece in val_tokens for t in piece)
        corpus_metrics = {
            "path": loaded.source, "sha256": _corpus_digest(loaded.pieces), "files": len(loaded.pieces),
            "skipped": len(loaded.skipped), "notes": loaded.note_count, "train_pieces": len(train_pieces),
            "val_pieces": len(val_pieces), "val_piece_names": [p.name for p in val_pieces],
            "val_notes": sum(len(p.notes) for p in val_pieces), "augment": config.augment,
            "credit": corpus_credit(corpus),
        }
        return cls._fit("music", np.asarray(train_ids, np.int32), np.asarray(val_ids, np.int32), vocab, config,
                        corpus_metrics=corpus_metrics, epochs=epochs, minutes=minutes, out=out,
                        progress=progress, seed=seed, init_from=init_from)

    # -- generation --------------------------------------------------------
    @property
    def training_data(self) -> str:
        """What the model was trained on, for summaries (from the checkpoint's metrics)."""
        corpus = self.metrics.get("corpus", {})
        name = corpus.get("credit") or Path(str(corpus.get("path") or "unknown corpus")).name
        pieces = corpus.get("files")
        return f"{name}, {pieces} pieces" if pieces else name

    def generate(
        self,
        notes: int | None = None,
        *,
        bars: int | None = None,
        seconds: float | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int | None = None,
        top_p: float | None = None,
        rng_seed: int | None = None,
        tempo: float = 120.0,
        instrument: str | int | None = None,
        primer: str | Path | list[Note] | None = None,
        key: str | None = None,
        primer_key: str | None = None,
        texture: str | None = None,
        register: str | None = None,
        max_notes: int = MAX_NOTES,
    ) -> MusicResult:
        """Generate a piece after a primer, of ``notes`` notes (each note of a chord counts; default 500),
        or ``bars`` bars of 4/4, or ``seconds`` seconds at ``tempo`` (only one of the three).

        ``max_notes`` caps the piece (at most :data:`MAX_NOTES`): more ``notes`` are refused, and a piece
        of ``bars`` or ``seconds`` that would need more notes than that is an error, never a shorter piece.

        ``primer``: ``None`` or ``"random"`` (an excerpt of the training corpus
        stored in the checkpoint, chosen with the RNG seed), a path to a MIDI
        file (its opening), or a note list like ``"C4 E4 G4 C5"``. The primer
        conditions the model but is not part of the output. Primer events the
        vocabulary lacks map to the nearest known ones (``result.replaced``).

        ``key`` (``"D minor"``, ``"F#"``, ``"random"``): the key of the piece;
        without it, the key of a note-list or MIDI primer, else a random one.
        A key-normalised model composes in C major / A minor and the piece is
        transposed; a model with absolute pitches has its output transposed
        from the key it chose. A mode the primer does not share gives the
        relative key (the same scale).

        ``primer_key``: the key of a note-list, MIDI or notes primer when it is
        known (a continuation knows its whole piece's key); by default it is
        estimated from the primer's notes.

        ``texture`` (``sparse``, ``medium``, ``full``) and ``register`` (``low``,
        ``middle``, ``high``), for a model with plans (``plan_bars``): the notes
        per onset and the register the piece holds, as the training corpus's
        10th, 50th and 90th percentile; by default (``None`` or ``"auto"``) the
        primer's (see :meth:`_plan_of`).
        """
        opts = SamplingOptions(temperature, top_k, top_p)
        length = _length_in(notes, bars, seconds, tempo, self.config.steps_per_quarter, max_notes)
        program, instrument_name = resolve_instrument(instrument)
        rng, rng_seed = make_rng(rng_seed)
        wanted = _parse_key_option(key)
        primer_tokens, primer_desc, composed, target = self._primer_tokens(primer, rng, wanted,
                                                                           _parse_key_option(primer_key))
        prime_ids, replaced = self.vocab.encode_lenient(primer_tokens)
        plan = self._chosen_plan(self._plan_of(primer, primer_tokens, primer_desc), texture, register)

        start = time.perf_counter()
        blocked = np.zeros(len(self.vocab), np.float32)
        blocked[[self.vocab.index[START], self.vocab.index[END]]] = -np.inf  # a piece ends when it has its notes
        repeats = RepeatGuard(self.vocab.tokens)
        stall = StallGuard(self.vocab.tokens)
        is_note = repeats.is_note
        waits = np.array([parse_token(t)[1] if t.startswith("W") else 0 for t in self.vocab.tokens])
        played: list[int] = []  # pitches sounded at the current onset: one note per pitch and onset
        count = {"notes": 0, "time": 0, "done": False, "capped": False}
        # Bar lines: a wait stops at the next one, where the plan's tokens are forced (see EventCodec).
        bar = self.codec.bar_steps if plan else 0
        plan_ids = self.vocab.encode_lenient(plan)[0] if plan else []
        blocked[[self.vocab.index[t] for t in self.vocab.tokens if t[0] in PLAN_KINDS]] = -np.inf
        clock = {"time": sum(int(waits[i]) for i in prime_ids), "forced": []}
        shortest_wait = int(waits[waits > 0].min())
        if bar and clock["time"] % bar == 0 and primer_tokens[-1][0] == "W":
            clock["forced"] = list(plan_ids)  # the primer ends on a bar line

        def masked(logits: np.ndarray) -> np.ndarray:
            if clock["forced"]:
                only = np.full_like(logits, -np.inf)
                only[clock["forced"][0]] = 0.0
                return only
            logits = logits + blocked
            logits[played] = -np.inf
            if bar and bar - clock["time"] % bar >= shortest_wait:  # (else no wait fits: let one cross)
                logits[waits > bar - clock["time"] % bar] = -np.inf
            return stall.mask(repeats.mask(logits))

        def stop(token: int) -> bool:
            if clock["forced"]:
                clock["forced"].pop(0)
                return False
            repeats.take(token)
            stall.take(token)
            if waits[token]:
                played.clear()
                clock["time"] += int(waits[token])
                if bar and clock["time"] % bar == 0:
                    clock["forced"] = list(plan_ids)
            elif is_note[token]:
                played.append(token)
            count["notes"] += int(is_note[token])
            if count["notes"]:
                count["time"] += int(waits[token])
            if length.notes is not None:
                count["done"] = count["notes"] >= length.notes
            else:
                count["done"] = count["time"] >= length.steps
                count["capped"] = not count["done"] and count["notes"] >= max_notes
            return count["done"] or count["capped"]

        limit = 50 * (length.notes or max_notes) + 100
        tokens = self.decode(prime_ids, TokenStream(limit, opts, rng, stop=stop, adjust=masked))
        seconds_taken = time.perf_counter() - start
        if count["capped"]:  # never a shorter piece than asked for
            bar_steps = BEATS_PER_BAR * self.config.steps_per_quarter
            raise GenerationError(f"the piece reached {max_notes:,} notes (the most a piece may have) in bar "
                                  f"{count['time'] // bar_steps + 1} of {-(-length.steps // bar_steps)}: ask for "
                                  "fewer bars or seconds, or a sparser texture")
        if not count["done"]:  # the event limit came first: never hand back a short piece silently
            raise GenerationError(f"the model wrote {count['notes']} notes in {len(tokens)} events without "
                                  f"finishing the piece asked for; try a higher temperature")
        # Keep the duration state the primer left: decode primer + output, then drop the primer's notes.
        primer_notes = EventCodec.decode(self.vocab.decode(prime_ids))
        all_notes = EventCodec.decode(self.vocab.decode(prime_ids) + self.vocab.decode(tokens))
        out_notes = all_notes[len(primer_notes):]
        first_onset = min((n.onset for n in out_notes), default=0)
        out_notes = resolve_overlaps(n._replace(onset=n.onset - first_onset) for n in out_notes)  # start at the first note
        if length.steps is not None:  # bars or seconds: cut at the end, notes held past it end there
            out_notes = [n._replace(duration=min(n.duration, length.steps - n.onset)) for n in out_notes
                         if n.onset < length.steps]
        elif len(out_notes) != count["notes"]:
            raise GenerationError("internal: generated note count mismatch")  # pragma: no cover
        out_notes, key_label = self._to_key(out_notes, composed, target)
        spq = self.config.steps_per_quarter
        end_steps = max((n.onset + n.duration for n in out_notes), default=0)
        if length.steps is not None:
            end_steps = length.steps
        midi = notes_to_midi_bytes(out_notes, steps_per_quarter=spq, tempo=float(tempo), program=program)
        return MusicResult(
            midi=midi, notes=out_notes, note_count=len(out_notes),
            seconds_of_music=end_steps / spq * 60.0 / float(tempo), tempo=float(tempo), program=program,
            instrument=instrument_name, key=key_label, rng_seed=rng_seed, primer=primer_desc,
            events=len(tokens), seconds=seconds_taken, replaced=replaced,
            bars=round(end_steps / (BEATS_PER_BAR * spq), 1), training_data=self.training_data,
        )

    @property
    def normalized(self) -> bool:
        return self.config.augment == "normalize"

    @staticmethod
    def _to_key(notes: list[Note], composed: tuple[int, str] | None, wanted: tuple[int, str] | None):
        """Transpose the output from the key it was composed in to the wanted one; return it and its key's name.

        ``composed``: the key a normalised model was steered to (C major / A minor), or None: then
        it is estimated from the notes. A wanted mode other than the composed one gives its
        relative key (the same scale).
        """
        tonic, mode = composed if composed is not None else estimate_key(notes)
        if wanted is None:
            return notes, format_key(tonic, mode)
        target = wanted[0] if wanted[1] == mode else (wanted[0] + (3 if mode == "major" else -3)) % 12
        shift = shift_between(tonic, target)
        moved = transpose(notes, shift) or transpose(notes, shift + 12) or transpose(notes, shift - 12)
        if moved is None:
            raise GenerationError(f"cannot move this piece to {format_key(*wanted)} inside the MIDI range")
        return moved, format_key(target, mode)

    def _primer_tokens(self, primer, rng, wanted, primer_key=None):
        """``(tokens, description, composed, target)``: the primer as the model sees it, the key the
        output will be composed in (None: estimate it from the output), and the key to move it to
        (None: leave it): ``wanted``, else the primer's own key, else (a normalised model with a
        corpus excerpt) a random tonic."""
        if primer is None or primer == "random":
            if not self.vocab.primers:
                return [START], "none", None, wanted
            choices = list(range(len(self.vocab.primers)))
            if wanted is not None:
                choices = [i for i in choices if self.vocab.primer_modes[i] == wanted[1]] or choices
            i = choices[int(rng.integers(len(choices)))]
            tokens, desc = list(self.vocab.primers[i]), f"corpus excerpt #{i}"
            if not self.normalized:
                return tokens, desc, None, wanted
            mode = self.vocab.primer_modes[i]
            return tokens, desc, (NORMAL_TONIC[mode], mode), wanted or (int(rng.integers(12)), mode)
        primer_notes, desc = self._primer_notes(primer)
        tonic, mode = primer_key or estimate_key(primer_notes)
        shift = 0  # how far the primer was moved (0: absolute pitches, or it would leave the MIDI range)
        if self.normalized:
            moved = transpose(primer_notes, shift_between(tonic, NORMAL_TONIC[mode]))
            if moved is not None:
                primer_notes, shift = moved, shift_between(tonic, NORMAL_TONIC[mode])
        codec = self.codec
        tokens = codec.encode(primer_notes)[:-1]  # no END: the piece goes on
        if desc.startswith("MIDI"):
            tokens = tokens[: PRIMER_EVENTS * 2]
        else:  # time moves past the last primer note (to the start of the first bar it may cross, with bars)
            now = sum(parse_token(t)[1] for t in tokens if t.startswith("W"))
            tokens += codec.advance(now, now + min(primer_notes[-1].duration, self.config.max_wait),
                                    lambda _: self._plan_of(primer, tokens, desc))
        if self.normalized:  # composed where the primer was moved to; back to the primer's key unless told
            return tokens, desc, ((tonic + shift) % 12, mode), wanted or (tonic, mode)
        return tokens, desc, None, wanted

    def _plan_of(self, primer, primer_tokens: list[str], desc: str) -> list[str]:
        """The plan tokens (register, texture, key) the whole piece holds; [] for a model without plans.

        A corpus excerpt starts at a bar line with the plan of the real piece's next bar. Held for a
        whole piece, an extreme bar would sink or clog it, so its register is kept between the stored
        excerpts' 10th and 90th percentile and its texture between their median and 90th percentile:
        one thin bar (an upbeat, a lone melody) held for 500 notes leaves a piece nobody asked to be
        sparse a single line (``texture="sparse"`` asks for that). Other primers give their own plan:
        the register and texture of their last ``plan_bars`` bars; a note list is a melody, so its
        texture is the corpus's typical one instead. The key is the piece's home key: K0 for a model
        trained on pieces moved to C major / A minor (where the primer was moved too), else the
        primer's own.
        """
        if not self.config.plan_bars or not self.vocab.has_plan:
            return []
        if primer is None or primer == "random":
            found: dict[str, int] = {}
            for t in primer_tokens:
                if t[0] in PLAN_KINDS:
                    found.setdefault(t[0], parse_token(t)[1])
            plan = {"K": found.get("K", 0)}
            for kind in ("R", "T"):
                low, mid, high = self.plan_range(kind)
                plan[kind] = min(max(found.get(kind, mid), mid if kind == "T" else low), high)
        else:
            notes = EventCodec.decode(primer_tokens)
            last = max(n.onset for n in notes)
            window = [n for n in notes if n.onset > last - self.config.plan_bars * self.codec.bar_steps]
            plan = {t[0]: parse_token(t)[1] for t in plan_tokens(
                float(np.mean([n.pitch for n in window])), len(window), len({n.onset for n in window}),
                np.bincount([n.pitch % 12 for n in window], minlength=12))}
            if desc.startswith("notes"):
                plan["T"] = self.plan_range("T")[1]
        if self.normalized:
            plan["K"] = 0
        return [f"{kind}{plan[kind]}" for kind in PLAN_KINDS if self.vocab.values[kind]]  # (older models: no K)

    def _chosen_plan(self, plan: list[str], texture: str | None, register: str | None) -> list[str]:
        """The primer's plan with the texture and register asked for (validated, with the bad value named)."""
        asked = {"T": _plan_choice("texture", texture, TEXTURES), "R": _plan_choice("register", register, REGISTERS)}
        if not any(v is not None for v in asked.values()):
            return plan
        if not plan:
            raise GenerationError("this music model has no texture or register plans (it was trained before they "
                                  "existed; retrain it to get them)")
        return [f"{t[0]}{self.plan_range(t[0])[asked[t[0]]]}" if asked.get(t[0]) is not None else t for t in plan]

    def plan_range(self, kind: str) -> tuple[int, int, int]:
        """``(low, median, high)``: the 10th, 50th and 90th percentile of the stored corpus excerpts' plan
        values of ``kind`` (``R`` register, ``T`` texture, ``K`` key); 60, 20 or 0 throughout if there are none."""
        values = sorted(parse_token(t)[1] for p in self.vocab.primers for t in p[:4] if t.startswith(kind))
        if not values:
            return {"R": (60, 60, 60), "T": (20, 20, 20)}.get(kind, (0, 0, 0))
        low, mid, high = (values[min(len(values) - 1, int(q * len(values)))] for q in (0.1, 0.5, 0.9))
        return low, mid, high

    def _primer_notes(self, primer) -> tuple[list[Note], str]:
        if isinstance(primer, list):
            if not primer or not all(isinstance(n, Note) for n in primer):
                raise GenerationError("a primer given as notes must be a non-empty list of Note")
            return sorted(primer), "the piece so far"
        text = str(primer)
        path = Path(text)
        if path.suffix.lower() in (".mid", ".midi"):
            if not path.is_file():
                raise GenerationError(f"primer MIDI file not found: {path}")
            try:
                notes = read_midi_notes(path, self.config.steps_per_quarter)
            except Exception as exc:
                raise GenerationError(f"cannot read primer MIDI {path.name}: {str(exc)[:120] or type(exc).__name__}") from None
            if not notes:
                raise GenerationError(f"primer MIDI {path.name} has no notes")
            return notes, f"MIDI file {path.name}"
        return parse_note_list(text), f"notes {text}"

    def read_piece(self, path: str | Path) -> list[Note]:
        """The notes of a MIDI file on this model's grid (a clear error for a missing, bad or empty file)."""
        if Path(path).suffix.lower() not in (".mid", ".midi"):
            raise GenerationError(f"not a MIDI file (.mid, .midi): {path}")
        if not Path(path).is_file():
            raise GenerationError(f"MIDI file not found: {path}")
        return self._primer_notes(Path(path))[0]

    def continue_piece(self, previous: list[Note], notes: int | None = None, *, bars: int | None = None,
                       seconds: float | None = None, tempo: float = 120.0, piece_key: str | None = None,
                       **options) -> MusicResult:
        """Continue a piece: the model is primed with its last bars, and the result is the whole, longer piece.

        ``previous``: the piece so far (e.g. read back from a MIDI file this
        generator wrote). The new part (``notes``, ``bars`` or ``seconds``, as
        for :meth:`generate`; default 500 notes) follows in the piece's key,
        a beat-fraction after its last onset. Other options as for
        :meth:`generate` (not ``primer`` or ``key``). ``piece_key``: the piece's
        key when known (e.g. the key :meth:`generate` reported for it, which is
        exactly the frame the model composed it in); default: estimated.
        """
        if not previous:
            raise GenerationError("there is no piece to continue (no notes)")
        for name in ("primer", "key"):
            if name in options:
                raise GenerationError(f"continuing a piece takes no {name} (the piece is the primer)")
        previous = sorted(previous)
        last_onset = previous[-1].onset
        window = CONTINUE_QUARTERS * self.config.steps_per_quarter
        tail = [n for n in previous if n.onset >= last_onset - window][-CONTINUE_NOTES:]
        first = tail[0].onset
        tail = [n._replace(onset=n.onset - first) for n in tail]
        # The tail is read in the whole piece's key (its last bars alone may sound like another one).
        piece_key = format_key(*(_parse_key_option(piece_key) or estimate_key(previous)))
        part = self.generate(notes, bars=bars, seconds=seconds, tempo=tempo, primer=tail, primer_key=piece_key,
                             **options)
        # The primer ended with a wait of the last note's duration (see _primer_tokens): the new part starts there.
        start = last_onset + min(tail[-1].duration, self.config.max_wait)
        whole = resolve_overlaps(previous + [n._replace(onset=n.onset + start) for n in part.notes])
        spq = self.config.steps_per_quarter
        end_steps = max(n.onset + n.duration for n in whole)
        part.midi = notes_to_midi_bytes(whole, steps_per_quarter=spq, tempo=float(tempo), program=part.program)
        part.notes, part.note_count = whole, len(whole)
        part.seconds_of_music = end_steps / spq * 60.0 / float(tempo)
        part.bars = round(end_steps / (BEATS_PER_BAR * spq), 1)
        part.primer = f"the last {len(tail)} notes of the piece"
        part.join_s = start / spq * 60.0 / float(tempo)
        part.key = piece_key
        return part

    # -- evaluation --------------------------------------------------------
    def evaluate(self, corpus: str | Path | None = None, *, pieces: int = 10, notes: int = 500,
                 temperature: float = DEFAULT_TEMPERATURE, rng_seed: int = 1, workers: int | None = None,
                 split: str = "all") -> dict:
        """Likelihood of a MIDI folder, and musical statistics of generated pieces next to the corpus's.

        ``split``: ``all`` pieces of the folder, or the ``val`` (held-out) or ``train`` pieces of the
        split training makes with this model's ``val_fraction`` (by content hash, so the same pieces).
        Loss is in nats per event and per note (total nats over the pieces / their notes), so models
        with different encodings compare. The corpus statistics are of each piece's opening
        ``notes`` notes; the generated ones of ``pieces`` pieces of ``notes`` notes at ``temperature``,
        RNG seeds ``rng_seed`` onwards, primers drawn as by default.
        """
        from .stats import mean_stats

        if split not in SPLITS:
            raise GenerationError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        loaded = load_corpus(corpus, steps_per_quarter=self.config.steps_per_quarter, workers=workers, progress=False)
        chosen = loaded.pieces
        if split != "all":
            chosen = split_pieces(loaded.pieces, self.config.val_fraction)[split == "val"]
        tokens = [t for p in chosen for t in self.codec.encode(model_space(p.notes, self.config.augment)[0])]
        ids, replaced = self.vocab.encode_lenient(tokens)
        loss = self.loss_on(np.asarray(ids, np.int32))
        note_total = sum(len(p.notes) for p in chosen)
        generated = [self.generate(notes, temperature=temperature, rng_seed=rng_seed + i).notes for i in range(pieces)]
        return {"nats_per_event": loss, "bits_per_event": loss / math.log(2), "events": len(ids),
                "nats_per_note": loss * len(ids) / note_total, "notes": note_total, "pieces": len(chosen),
                "split": split, "unknown_events": sum(tokens.count(t) for t in replaced),
                "corpus_summary": loaded.summary(), "corpus_stats": mean_stats([p.notes[:notes] for p in chosen]),
                "generated_stats": mean_stats(generated), "generated": generated}


SPLITS = ("all", "val", "train")


class Length(NamedTuple):
    notes: int | None  # stop after this many notes, or
    steps: int | None  # after this many grid steps of music


def _length_in(notes, bars, seconds, tempo, steps_per_quarter: int, max_notes: int = MAX_NOTES) -> Length:
    """Validate the length options (one of notes, bars, seconds; default 500 notes) and the tempo."""
    if not isinstance(tempo, (int, float)) or isinstance(tempo, bool) or not 20 <= tempo <= 400:
        raise GenerationError(f"tempo must be between 20 and 400 BPM, got {tempo!r}")
    if not isinstance(max_notes, int) or isinstance(max_notes, bool) or not 1 <= max_notes <= MAX_NOTES:
        raise GenerationError(f"max_notes must be between 1 and {MAX_NOTES}, got {max_notes!r}")
    given = [name for name, v in (("notes", notes), ("bars", bars), ("seconds", seconds)) if v is not None]
    if len(given) > 1:
        raise GenerationError(f"give one length: notes, bars or seconds (got {' and '.join(given)})")
    if bars is not None:
        if not isinstance(bars, int) or isinstance(bars, bool) or not 1 <= bars <= MAX_BARS:
            raise GenerationError(f"bars must be between 1 and {MAX_BARS}, got {bars!r}")
        return Length(None, bars * BEATS_PER_BAR * steps_per_quarter)
    if seconds is not None:
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_SECONDS:
            raise GenerationError(f"seconds must be between 1 and {MAX_SECONDS:g}, got {seconds!r}")
        steps = max(1, round(seconds * tempo / 60 * steps_per_quarter))
        if steps > MAX_BARS * BEATS_PER_BAR * steps_per_quarter:
            raise GenerationError(f"{seconds:g} s at {tempo:g} BPM is {steps / (BEATS_PER_BAR * steps_per_quarter):,.0f} "
                                  f"bars; a piece has at most {MAX_BARS:,}")
        return Length(None, steps)
    notes = 500 if notes is None else notes
    if not isinstance(notes, int) or isinstance(notes, bool) or not 1 <= notes <= max_notes:
        raise GenerationError(f"notes must be between 1 and {max_notes}, got {notes!r}")
    return Length(notes, None)


#: Plan choices -> which of plan_range's (10th, 50th, 90th percentile) values they take.
TEXTURES = {"sparse": 0, "medium": 1, "full": 2}
REGISTERS = {"low": 0, "middle": 1, "high": 2}


def _plan_choice(name: str, value: str | None, choices: dict[str, int]) -> int | None:
    if value is None or str(value).strip().lower() in ("", "auto"):
        return None
    if str(value).strip().lower() not in choices:
        raise GenerationError(f"{name} must be auto, {', '.join(choices)}; got {value!r}")
    return choices[str(value).strip().lower()]


def _parse_key_option(key: str | None) -> tuple[int, str] | None:
    if key is None or str(key).strip().lower() in ("", "random"):
        return None
    try:
        return parse_key(str(key))
    except ValueError as exc:
        raise GenerationError(str(exc)) from None


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


def _primer_excerpts(pieces_tokens: list[list[str]], modes: list[str], rng,
                     at_bar_lines: bool = False) -> tuple[list[list[str]], list[str]]:
    """Excerpts of random training pieces (as the model sees them), each with its piece's key mode;
    ``at_bar_lines``: each starts at a bar line's plan, which then holds for the whole generated piece."""
    excerpts, excerpt_modes = [], []
    for _ in range(STORED_PRIMERS):
        which = int(rng.integers(len(pieces_tokens)))
        tokens = pieces_tokens[which]
        excerpt_modes.append(modes[which])
        body = tokens[1:-1]
        if len(body) <= PRIMER_EVENTS:
            excerpts.append([START] + body)
            continue
        # start at a bar line's plan, or else at an onset (a D token after a W), so the excerpt's first
        # notes have their duration
        if at_bar_lines:
            starts = [i for i in range(1, len(body) - PRIMER_EVENTS) if body[i].startswith("R")]
        else:
            starts = [i for i in range(1, len(body) - PRIMER_EVENTS)
                      if body[i].startswith("D") and body[i - 1].startswith("W")]
        i = int(rng.choice(starts)) if starts else 0
        excerpts.append(body[i: i + PRIMER_EVENTS])
    return excerpts, excerpt_modes


def codec_for(config: MusicConfig) -> EventCodec:
    """The event codec of a config (bar lines with plans when ``plan_bars`` is set)."""
    return EventCodec(max_duration=config.max_duration, max_wait=config.max_wait,
                      bar_steps=BEATS_PER_BAR * config.steps_per_quarter if config.plan_bars else 0,
                      plan_bars=config.plan_bars or 4)


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


def _corpus_digest(pieces: list[Piece]) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in sorted(pieces, key=lambda p: p.sha256):
        h.update(p.sha256.encode())
    return h.hexdigest()
