"""The music generator: MIDI corpus -> note/chord/duration/rest events -> LSTM -> MIDI.

    gen = MusicGenerator.load("checkpoints/music")
    result = gen.generate(notes=500, temperature=0.9, tempo=100, instrument="piano", rng_seed=1)
    Path("song.mid").write_bytes(result.midi)

Training, checkpoints and stepping are shared with the text generators
(:class:`generators.sequence.SequenceGenerator`), sampling too.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..decoding import Block, Processor
from ..errors import ConfigError, GenerationError
from ..sampling import SamplingOptions, TokenStream, make_rng
from ..sequence import SequenceGenerator
from ..training import fit_generator, loss_on, token_losses
from .config import MUSIC, MusicConfig
from .constraints import (BEATS_PER_BAR, MAX_NOTES, BarClock, Length, OnePitchPerOnset, PieceLength, RepeatGuard,
                          StallGuard, check_finished, requested_length)
from .corpus import augment, corpus_credit, corpus_digest, load_corpus, model_space, split_pieces
from .encoder import END, PLAN_KINDS, START, EventCodec, EventVocab, Note, resolve_overlaps
from .chords import ChordFollower, bar_chords, check_fits_key, implied_key, in_composed_frame, parse_progression
from .chords import describe as describe_chords
from .form import SECTION_BARS, Form, FormPlan, auto_form, parse_form
from .midi_io import notes_to_midi_bytes, resolve_instrument
from .primers import PrimerBuilder, key_option, primer_excerpts
from .stats import estimate_key, format_key, mean_stats, shift_between, tonic_in_mode, transpose

DEFAULT_TEMPERATURE = 0.9
CONTINUE_QUARTERS = 16  # a continuation is primed with the piece's last 4 bars...
CONTINUE_NOTES = 128  # ...at most this many notes


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
    form: str = ""  # "form AABA (8-bar sections)", or "" (through-composed)
    chords: str = ""  # "chords C G Am F", or "" (none given)
    sections: tuple[str, int] = ("", 0)  # the form's letters and bars per section (the piano roll marks them)
    cut_at_s: float = 0.0  # a piece of so many notes stopped at this many seconds (generate's max_seconds); 0: not

    @property
    def cut_note(self) -> str:
        return (f"stopped at {self.cut_at_s:g} s, the most a piece lasts here ({self.note_count:,} notes)"
                if self.cut_at_s else "")

    def summary(self) -> str:
        trained = f", trained on {self.training_data}" if self.training_data else ""
        shape = "".join(f", {part}" for part in (self.form, self.chords) if part)
        return (f"{self.note_count} note{'s' if self.note_count != 1 else ''} in {self.key}, {self.bars:g} bars ({self.seconds_of_music:.1f} s){shape} "
                f"at {self.tempo:g} BPM, {self.instrument}, RNG seed {self.rng_seed}{trained}")


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
        data_seed: int = 0,
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
        primers, primer_modes = primer_excerpts([codec.encode(n) for n, _, _ in spaced], [m for _, _, m in spaced],
                                                 np.random.default_rng(data_seed), at_bar_lines=bool(codec.bar_steps))
        vocab = MusicVocab(known, primers, primer_modes)
        train_ids, _ = vocab.encode_lenient(t for piece in train_tokens for t in piece)
        val_ids, _ = vocab.encode_lenient(t for piece in val_tokens for t in piece)
        corpus_metrics = {
            "path": loaded.source, "sha256": corpus_digest(loaded.pieces), "files": len(loaded.pieces),
            "skipped": len(loaded.skipped), "notes": loaded.note_count, "train_pieces": len(train_pieces),
            "val_pieces": len(val_pieces), "val_piece_names": [p.name for p in val_pieces],
            "val_notes": sum(len(p.notes) for p in val_pieces), "augment": config.augment,
            "credit": corpus_credit(corpus),
        }
        return fit_generator(cls, "music", np.asarray(train_ids, np.int32), np.asarray(val_ids, np.int32), vocab, config,
                        corpus_metrics=corpus_metrics, epochs=epochs, minutes=minutes, out=out,
                        progress=progress, data_seed=data_seed, init_from=init_from)

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
        form: str | None = None,
        section_bars: int | None = None,
        chords: str | None = None,
        max_seconds: float | None = None,
    ) -> MusicResult:
        """Generate a piece after a primer, of ``notes`` notes (each note of a chord counts; default 500),
        or ``bars`` bars of 4/4, or ``seconds`` seconds at ``tempo`` (only one of the three).

        ``max_notes`` caps the piece (at most :data:`MAX_NOTES`): more ``notes`` are refused, and a piece of ``bars``
        or ``seconds`` needing more notes is an error, never a shorter piece. ``max_seconds``: a piece of ``notes``
        ends there at the latest (held notes end there; ``result.cut_at_s`` says so).

        ``primer``: ``None`` or ``"random"`` (a training-corpus excerpt stored in the checkpoint, chosen with the
        RNG seed), a MIDI file's path (its opening), or notes like ``"C4 E4 G4 C5"``; it conditions the model but
        is not in the output; events the vocabulary lacks map to the nearest known ones (``result.replaced``).

        ``key`` (``"D minor"``, ``"F#"``, ``"random"``): the piece's key; else a note-list or MIDI primer's, else
        random. A key-normalised model composes in C major / A minor and the piece is transposed (an absolute one
        from the key it chose); a mode the primer does not share gives the relative key. ``primer_key``: the
        primer's key when known (a continuation knows its piece's); else estimated.

        ``texture`` (``sparse``, ``medium``, ``full``) and ``register`` (``low``, ``middle``, ``high``), for a model
        with plans: notes per onset and register as the corpus's 10th, 50th, 90th percentile; default the primer's.

        ``form`` (``"AABA"``, ``"ABACA"``, ...; ``"through"``: none): sections of ``section_bars`` bars (default
        :data:`~generators.music.form.SECTION_BARS`; given without a form, or against ``bars``, it is refused), a
        returning letter replaying its first time (see :mod:`generators.music.form`); the piece is as many bars
        as its sections, or ``bars`` shared among them. By default (``None``, ``"auto"``) a piece of 16 bars or
        more, asked for in bars, gets a common form drawn to fit. ``chords`` (``"C G Am F"``): a chord per bar,
        repeated (anew in each section), that the notes keep to (:mod:`generators.music.chords`), in its key (a
        ``key`` given beside them must be theirs).
        """
        opts = SamplingOptions(temperature, top_k, top_p)
        rng, rng_seed = make_rng(rng_seed)
        shape, notes, bars = _form_of(parse_form(form), notes, bars, seconds, section_bars, rng, self.codec.bar_steps)
        length = requested_length(notes, bars, seconds, tempo, self.config.steps_per_quarter, max_notes)
        program, instrument_name = resolve_instrument(instrument)
        progression, primers = check_fits_key(parse_progression(chords), key_option(key), chords), self.primers
        primed = primers.prime(primer, rng, key_option(key) or implied_key(progression), key_option(primer_key))
        plan = primers.chosen_plan(primers.plan_of(primed), texture, register)
        at_bar = shape is not None or progression is not None  # sections and chords fall on the output's bars
        prime_tokens, origin = self._sections_start(primed.tokens, plan) if at_bar else (primed.tokens, None)
        prime_ids, replaced = self.vocab.encode_lenient(prime_tokens)
        start = time.perf_counter()
        rules, counted = self._rules(prime_ids, plan, length, max_notes, shape, origin,
                                     progression and in_composed_frame(progression, primed.composed, primed.target))
        tokens = self.decode(prime_ids, TokenStream(50 * (length.notes or max_notes) + 100, opts, rng, rules))
        seconds_taken, spq = time.perf_counter() - start, self.config.steps_per_quarter
        check_finished(counted, len(tokens), BEATS_PER_BAR * spq)
        out_notes, key_label = to_key(self._new_notes(prime_ids, tokens, length, origin), primed.composed,
                                      primed.target)
        out_notes, cut_at_s = _cut_at(out_notes, max_seconds if length.steps is None else None, tempo, spq)
        end_steps = length.steps or max((n.onset + n.duration for n in out_notes), default=0)
        return MusicResult(
            midi=notes_to_midi_bytes(out_notes, steps_per_quarter=spq, tempo=float(tempo), program=program),
            notes=out_notes, note_count=len(out_notes),
            seconds_of_music=end_steps / spq * 60.0 / float(tempo), tempo=float(tempo), program=program,
            instrument=instrument_name, key=key_label, rng_seed=rng_seed, primer=primed.description,
            events=len(tokens), seconds=seconds_taken, replaced=replaced,
            bars=round(end_steps / (BEATS_PER_BAR * spq), 1), training_data=self.training_data,
            form=shape.describe() if shape else "", sections=(shape.letters, shape.section_bars) if shape else ("", 0),
            chords=describe_chords(chords) if progression else "", cut_at_s=cut_at_s)

    def _rules(self, prime_ids: list[int], plan: list[str], length: Length, max_notes: int,
               shape: Form | None = None, origin: int | None = None,
               progression: list | None = None) -> tuple[list[Processor], PieceLength]:
        """The processors a piece is drawn through (see :mod:`generators.music.constraints`), and its length rule."""
        vocab = self.vocab
        counted = PieceLength(vocab, length.notes, length.steps, max_notes, from_start=shape is not None)
        rules: list[Processor] = [Block(vocab.mask(START, END, *PLAN_KINDS)), OnePitchPerOnset(vocab),
                                  RepeatGuard(vocab), StallGuard(vocab)]
        if plan:  # bar lines: waits stop at the next one, where the plan's tokens are forced
            bar, sections = self.codec.bar_steps, shape and shape.section_bars
            if progression:
                rules.append(ChordFollower(vocab, progression, bar, origin, sections))
            if shape is not None:  # sections: the first section's events are recorded, a returning one replayed
                rules.append(FormPlan(vocab, shape, bar, origin))
            time_so_far = int(vocab.amounts("W")[prime_ids].sum())
            plan_ids = vocab.encode_lenient(plan)[0]
            rules.append(BarClock(vocab, bar, plan_ids, time_so_far, BarClock.opening_of(vocab, prime_ids, bar, plan_ids),
                                  harmony=progression and bar_chords(vocab, progression, bar, origin, sections)))
        return rules + [counted], counted

    def _sections_start(self, tokens: list[str], plan: list[str]) -> tuple[list[str], int]:
        """A piece in sections starts at a bar line: the primer's time is carried on to the next one (with the
        plan there). Returns the primer's tokens and that bar line's step."""
        if not plan:
            raise GenerationError("this music model has no bar lines, which a form or chords need (it was trained "
                                  "before plans existed; retrain it to get them)")
        now = EventCodec.time_of(tokens)
        bar = self.codec.bar_steps
        line = -(-now // bar) * bar
        return (tokens + self.codec.advance(now, line, lambda _: plan) if line > now else tokens), line

    def _new_notes(self, prime_ids: list[int], tokens: list[int], length: Length,
                   origin: int | None = None) -> list[Note]:
        """The notes the drawn tokens add after the primer, from time 0 (the first note, or ``origin``: the bar
        line a piece in sections starts at), cut at the length's end (bars, seconds)."""
        # Keep the duration state the primer left: decode primer + output, then drop the primer's notes.
        primer_notes = EventCodec.decode(self.vocab.decode(prime_ids))
        out_notes = EventCodec.decode(self.vocab.decode(prime_ids) + self.vocab.decode(tokens))[len(primer_notes):]
        first_onset = min((n.onset for n in out_notes), default=0) if origin is None else origin
        out_notes = resolve_overlaps(n._replace(onset=n.onset - first_onset) for n in out_notes)
        if length.steps is not None:  # bars or seconds: cut at the end, notes held past it end there
            return [n._replace(duration=min(n.duration, length.steps - n.onset)) for n in out_notes
                    if n.onset < length.steps]
        if len(out_notes) != length.notes:
            raise GenerationError("internal: generated note count mismatch")  # pragma: no cover
        return out_notes

    @property
    def primers(self) -> PrimerBuilder:
        """Primers and plans for this model (see :mod:`generators.music.primers`)."""
        return PrimerBuilder(self.vocab, self.config, self.codec)

    def plan_range(self, kind: str) -> tuple[int, int, int]:
        return self.primers.plan_range(kind)

    def read_piece(self, path: str | Path) -> list[Note]:
        """The notes of a MIDI file on this model's grid (a clear error for a missing, bad or empty file)."""
        return self.primers.read_piece(path)

    @property
    def normalized(self) -> bool:
        return self.config.augment == "normalize"

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
        for name in ("primer", "key", "form", "chords"):
            if options.get(name) is not None:
                raise GenerationError(f"continuing a piece takes no {name} (the piece is the primer; the new part "
                                      "goes on through-composed)")
        previous = sorted(previous)
        last_onset = previous[-1].onset
        window = CONTINUE_QUARTERS * self.config.steps_per_quarter
        tail = [n for n in previous if n.onset >= last_onset - window][-CONTINUE_NOTES:]
        first = tail[0].onset
        tail = [n._replace(onset=n.onset - first) for n in tail]
        # The tail is read in the whole piece's key (its last bars alone may sound like another one).
        piece_key = format_key(*(key_option(piece_key) or estimate_key(previous)))
        options = {k: v for k, v in options.items() if k not in ("form", "chords")}
        part = self.generate(notes, bars=bars, seconds=seconds, tempo=tempo, primer=tail, primer_key=piece_key,
                             form="through", **options)
        # The primer ended with a wait of the last note's duration (see _primer): the new part starts there.
        start = last_onset + min(tail[-1].duration, self.config.max_wait)
        whole = _joined(previous, _at_level(tail, [n._replace(onset=n.onset + start) for n in part.notes]))
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
                 split: str = "all", bars: int | None = None) -> dict:
        """Likelihood of a MIDI folder, and musical statistics of generated pieces next to the corpus's.

        ``split``: ``all`` pieces of the folder, or the ``val`` (held-out) or ``train`` pieces of the
        split training makes with this model's ``val_fraction`` (by content hash, so the same pieces).
        Loss is in nats per event and per note (total nats over the pieces / their notes), so models
        with different encodings compare. The corpus statistics are of each piece's opening
        ``notes`` notes (or first ``bars`` bars); the generated ones of ``pieces`` pieces of ``notes`` notes (or
        ``bars`` bars, where a form is drawn as by default) at ``temperature``,
        RNG seeds ``rng_seed`` onwards, primers drawn as by default.
        """
        if split not in SPLITS:
            raise GenerationError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        loaded = load_corpus(corpus, steps_per_quarter=self.config.steps_per_quarter, workers=workers, progress=False)
        chosen = loaded.pieces
        if split != "all":
            chosen = split_pieces(loaded.pieces, self.config.val_fraction)[split == "val"]
        tokens = [t for p in chosen for t in self.codec.encode(model_space(p.notes, self.config.augment)[0])]
        ids, replaced = self.vocab.encode_lenient(tokens)
        loss = loss_on(self, np.asarray(ids, np.int32))
        note_total = sum(len(p.notes) for p in chosen)
        by_kind = nats_by_kind(self, ids, note_total)
        if bars is None:
            generated = [self.generate(notes, temperature=temperature, rng_seed=rng_seed + i).notes
                         for i in range(pieces)]
            openings = [p.notes[:notes] for p in chosen]
        else:  # pieces of so many bars (default settings: a form is drawn for 16 bars or more)
            generated = [self.generate(bars=bars, temperature=temperature, rng_seed=rng_seed + i).notes
                         for i in range(pieces)]
            steps = bars * BEATS_PER_BAR * self.config.steps_per_quarter
            openings = [[n for n in p.notes if n.onset < p.notes[0].onset + steps] for p in chosen]
        return {"nats_per_event": loss, "bits_per_event": loss / math.log(2), "events": len(ids),
                "nats_per_note": loss * len(ids) / note_total, "notes": note_total, "pieces": len(chosen),
                "nats_per_note_by_kind": by_kind,
                "split": split, "unknown_events": sum(tokens.count(t) for t in replaced),
                "corpus_summary": loaded.summary(), "corpus_stats": mean_stats(openings), "skipped": loaded.skipped,
                "generated_stats": mean_stats(generated), "generated": generated}


def nats_by_kind(gen: "MusicGenerator", ids: list[int], note_total: int) -> dict[str, float]:
    """Nats per note ``gen`` spends on each kind of event of ``ids`` (P pitch, D duration, W wait, V velocity,
    R T K H the bar-line plan, ...): what each part of the grammar costs, scaled to all the events as the mean
    loss is (the windows leave the last few unscored). Empty for a model that cannot be scored token by token."""
    try:
        targets, nats = token_losses(gen, np.asarray(ids, np.int32))
    except ConfigError:
        return {}
    vocab = gen.vocab
    per_target = np.array([vocab.kind(i) for i in range(len(vocab))])[targets]
    scale = len(ids) / len(targets) / note_total
    return {k: float(nats[per_target == k].sum() * scale) for k in EventVocab.ORDER if (per_target == k).any()}


SPLITS = ("all", "val", "train")


def to_key(notes: list[Note], composed: tuple[int, str] | None, wanted: tuple[int, str] | None):
    """Transpose the output from the key it was composed in to the wanted one; return it and its key's name.

    ``composed``: the key a normalised model was steered to (C major / A minor), or None: then
    it is estimated from the notes. A wanted mode other than the composed one gives its
    relative key (the same scale).
    """
    tonic, mode = composed if composed is not None else estimate_key(notes)
    if wanted is None:
        return notes, format_key(tonic, mode)
    target = tonic_in_mode(wanted, mode)
    shift = shift_between(tonic, target)
    moved = transpose(notes, shift) or transpose(notes, shift + 12) or transpose(notes, shift - 12)
    if moved is None:
        raise GenerationError(f"cannot move this piece to {format_key(*wanted)} inside the MIDI range")
    return moved, format_key(target, mode)


def _cut_at(notes: list[Note], max_seconds: float | None, tempo: float, spq: int) -> tuple[list[Note], float]:
    """``(notes, cut_at_s)``: the notes within ``max_seconds`` (held ones ending there) and where they were cut
    (0.0: they were not; ``max_seconds`` None: no cap)."""
    if max_seconds is None:
        return notes, 0.0
    limit = max(1, int(max_seconds * tempo / 60 * spq))
    if all(n.onset + n.duration <= limit for n in notes):
        return notes, 0.0
    return [n._replace(duration=min(n.duration, limit - n.onset)) for n in notes if n.onset < limit], float(max_seconds)


def _at_level(tail: list[Note], new: list[Note]) -> list[Note]:
    """The new notes moved to the loudness the piece ends at (the mean velocity of its ``tail``), their own rises
    and falls kept: the model, primed with a fortissimo ending, may otherwise fall back to its corpus's mezzo."""
    if not tail or not new:
        return new
    shift = round(sum(n.velocity for n in tail) / len(tail) - sum(n.velocity for n in new) / len(new))
    return [n._replace(velocity=min(127, max(1, n.velocity + shift))) for n in new]


def _joined(previous: list[Note], new: list[Note]) -> list[Note]:
    """A piece and the notes continuing it, the piece as it was: a new note that would strike a key the piece still
    holds is left out (struck again, the held note would end there)."""
    held: dict[int, list[tuple[int, int]]] = {}
    for n in previous:
        held.setdefault(n.pitch, []).append((n.onset, n.onset + n.duration))
    kept = [n for n in new if not any(a <= n.onset < b for a, b in held.get(n.pitch, ()))]
    return resolve_overlaps(previous + kept)


def _form_of(letters: str | None, notes, bars, seconds, section_bars, rng, bar_steps: int):
    """``(form, notes, bars)``: the form asked for, with its section length (``bars``, if given, shared among
    the sections) and the piece's length; ``auto``: one drawn to fit ``bars`` (a model with bar lines)."""
    if letters in ("auto", None) and section_bars is not None:
        raise GenerationError("section_bars sets the length of a form's sections: give a form too (AABA, ABACA, ...)")
    if letters == "auto":
        return (auto_form(bars, rng) if bars is not None and bar_steps else None), notes, bars
    if letters is None:
        return None, notes, bars
    if notes is not None or seconds is not None:
        raise GenerationError("a form sets the length in bars: give bars (shared among the sections) or "
                              "section_bars, not notes or seconds")
    given = section_bars is not None
    section_bars = SECTION_BARS if section_bars is None else section_bars
    if not isinstance(section_bars, int) or isinstance(section_bars, bool) or not 1 <= section_bars <= 64:
        raise GenerationError(f"section_bars must be between 1 and 64, got {section_bars!r}")
    if bars is not None and given and bars != section_bars * len(letters):
        raise GenerationError(f"{bars} bars and {section_bars}-bar sections disagree: {letters} in {section_bars}-bar "
                              f"sections is {section_bars * len(letters)} bars (give bars or section_bars, not both)")
    if bars is not None:
        if not isinstance(bars, int) or bars % len(letters) or bars < len(letters):
            raise GenerationError(f"{bars!r} bars do not divide into the {len(letters)} sections of {letters}")
        section_bars = bars // len(letters)
    shape = Form(letters, section_bars)
    return shape, None, shape.bars


def codec_for(config: MusicConfig) -> EventCodec:
    """The event codec of a config (bar lines with plans when ``plan_bars`` is set)."""
    return EventCodec(max_duration=config.max_duration, max_wait=config.max_wait,
                      bar_steps=BEATS_PER_BAR * config.steps_per_quarter if config.plan_bars else 0,
                      plan_bars=config.plan_bars or 4, velocity_bins=config.velocity_bins,
                      chord_plan=config.chord_plan)


