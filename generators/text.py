"""The character-level generator behind the `text` and `lyrics` models.

    gen = CharGenerator.load("checkpoints/lyrics")
    result = gen.generate("Yeah, oho", length=400, temperature=0.5, rng_seed=7)
    print(result.text)          # begins with "Yeah, oho"

Training, checkpoints and stepping come from :class:`SequenceGenerator`, sampling
from :mod:`generators.sampling`; this file holds what is specific to
characters: the vocabulary, seeds and stop conditions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import CharConfig, preset
from .data import read_text_corpus, split_ids
from .decoding import BlockFirst, LimitRun, Processor
from .errors import CorpusError, GenerationError
from .sampling import SamplingOptions, TokenStream, make_rng
from .registry import TEXT_MODELS
from .sequence import SequenceGenerator
from .songs.rhyme import corpus_words
from .training import fit_generator, loss_on
from .vocab import CharVocab

if TYPE_CHECKING:  # (the song writer is imported when a song is asked for)
    from .songs.writer import SongResult

KINDS = TEXT_MODELS
MAX_LENGTH = 100_000
MAX_SEED_CHARS = 4_000
#: Context fed before the seed: generation starts as if at the beginning of a song or paragraph.
START_CONTEXT = "\n\n"
#: Whitespace characters drawn in a row at most (the Nietzsche corpus indents; a seed the model cannot read, or none,
#: once drifted into a page of spaces).
MAX_BLANKS = 4


def held_out_text(text: str, val_fraction: float) -> str:
    """The end of a corpus that training holds out for validation (see :func:`generators.data.split_ids`)."""
    return text[len(text) - max(1, int(len(text) * val_fraction)):]


@dataclass
class TextResult:
    text: str
    seed: str
    rng_seed: int
    generated_chars: int
    stop_reason: str
    seconds: float
    replaced: dict[str, str] = field(default_factory=dict)

    @property
    def chars_per_second(self) -> float:
        return self.generated_chars / self.seconds if self.seconds > 0 else math.inf


class LineStop(Processor):
    """Ends text at a song's end (a blank line after the seed's lines, with ``until_song_end``) or once it has
    ``max_lines`` lines; ``reason`` says which ("song end", "lines"; "length" while neither)."""

    def __init__(self, newline: int | None, lines_in_seed: int, last: int | None, until_song_end: bool,
                 max_lines: int | None):
        self.newline, self.lines_in_seed, self.lines, self.last = newline, lines_in_seed, lines_in_seed, last
        self.until_song_end, self.max_lines = until_song_end, max_lines
        self.reason = "length"

    def observe(self, token: int) -> None:
        if token == self.newline:
            self.lines += 1
            if self.until_song_end and self.last == self.newline and self.lines > self.lines_in_seed + 1:
                self.reason, self.done = "song end", True
                return
            if self.max_lines is not None and self.lines >= self.max_lines:
                self.reason, self.done = "lines", True
                return
        self.last = token


class CharGenerator(SequenceGenerator):
    """A trained character model (``text`` or ``lyrics``) with its vocabulary, config and metrics."""

    KINDS = KINDS
    config_cls = CharConfig
    vocab_cls = CharVocab
    unit = "char"

    @classmethod
    def train(
        cls,
        kind: str,
        corpus: str | Path,
        *,
        config: CharConfig | None = None,
        epochs: int | None = None,
        minutes: float | None = None,
        out: str | Path | None = None,
        progress: str = "bar",
        data_seed: int = 0,
        init_from: "CharGenerator | None" = None,
    ) -> "CharGenerator":
        """Train on a UTF-8 text file (see :meth:`SequenceGenerator._fit` for ``out``).

        ``data_seed`` shuffles the training windows (the same seed, the same order). ``init_from`` fine-tunes an
        existing generator: its weights, vocabulary and
        architecture are kept (corpus characters outside the vocabulary are mapped
        to the nearest known ones), and ``config`` may change training settings only.
        """
        config = config or preset(kind)
        corpus_data = read_text_corpus(corpus)
        corpus_metrics = {"path": str(corpus_data.path), "sha256": corpus_data.sha256, "bytes": corpus_data.size_bytes}
        if init_from is None:
            if len(set(corpus_data.text)) < 2:
                raise CorpusError(f"corpus has only one distinct character ({corpus_data.text[0]!r}); "
                                  f"a model needs at least two: {corpus_data.path}")
            vocab = CharVocab.from_text(corpus_data.text, corpus_words(corpus_data.text))
            ids = vocab.encode(corpus_data.text)
        else:  # the words of the earlier corpus and of this one
            vocab = CharVocab(init_from.vocab.chars, init_from.vocab.words | set(corpus_words(corpus_data.text)))
            ids, replaced = vocab.encode_lenient(corpus_data.text)
            corpus_metrics["replaced_chars"] = replaced
        train_ids, val_ids = split_ids(ids, config.val_fraction, config.seq_len)
        return fit_generator(cls, kind, train_ids, val_ids, vocab, config, corpus_metrics=corpus_metrics, epochs=epochs, minutes=minutes,
                        out=out, progress=progress, data_seed=data_seed, init_from=init_from)

    def evaluate(self, corpus: str | Path, split: str = "all") -> dict:
        """Cross-entropy of the model on a text file, in nats and bits per character (windows of seq_len); ``split``:
        ``all`` of it, or the ``val`` end that training with this model's ``val_fraction`` holds out."""
        corpus_data = read_text_corpus(corpus)
        text = held_out_text(corpus_data.text, self.config.val_fraction) if split == "val" else corpus_data.text
        ids, replaced = self.vocab.encode_lenient(text)
        if len(ids) < 2:
            raise GenerationError(f"corpus too short to evaluate (needs at least 2 characters): {corpus}")
        loss = loss_on(self, ids)
        unknown = sum(text.count(c) for c in replaced)
        return {"nats_per_char": loss, "bits_per_char": loss / math.log(2), "chars": len(ids),
                "unknown_chars": unknown, "replaced": replaced}

    # -- generation --------------------------------------------------------
    def song(
        self,
        seed: str = "",
        *,
        lines: int = 16,
        rhyme: str | None = None,
        form: str | None = None,
        syllables: int | None = None,
        labels: bool = True,
        temperature: float = 0.5,
        top_k: int | None = None,
        top_p: float | None = None,
        rng_seed: int | None = None,
    ) -> "SongResult":
        """A song of ``lines`` lines (the seed's included; labels not counted) after ``seed``.

        ``rhyme``: a scheme (``AABB``, ``ABAB``, ``ABCB``, ``AAAA``, ``none``; default: one of the first three,
        drawn); ``form``: sections (``"verse chorus verse chorus"``, ``VCVCBC``, ``none``; default: a common form
        for 12 lines or more), whose chorus returns word for word; ``syllables``: every line within one syllable
        of it; ``labels``: section labels (``[Chorus]``) in the text. See :mod:`generators.songs`.
        """
        from .songs.form import parse_scheme, parse_song_form, plan_song

        if not isinstance(seed, str):
            raise GenerationError("seed must be text")
        if len(seed) > MAX_SEED_CHARS:
            raise GenerationError(f"seed is too long ({len(seed)} characters, at most {MAX_SEED_CHARS})")
        opts = SamplingOptions(temperature, top_k, top_p)
        rng, rng_seed = make_rng(rng_seed)
        plan = plan_song(lines, parse_song_form(form), parse_scheme(rhyme), rng)
        return self._write_song(seed, plan, opts, rng, rng_seed, syllables, labels)

    def continue_song(self, text: str, *, form: str | None = None, rhyme: str | None = None,
                      syllables: int | None = None, labels: bool = True, temperature: float = 0.5,
                      top_k: int | None = None, top_p: float | None = None,
                      rng_seed: int | None = None) -> "SongResult":
        """The song ``text`` (as :meth:`song` wrote it) with its next section: the next of ``form`` (default: the
        song's own, read from its labels), a returning chorus word for word; text without section labels gets four
        more lines. The result's text is the whole song."""
        from .songs.form import (DEFAULT_LINES, MAX_SECTIONS, MAX_SONG_LINES, SCHEMES, build_plan, next_section,
                                 parse_scheme, parse_song_form, read_song)

        if not isinstance(text, str) or not text.strip():
            raise GenerationError("there is no song to continue")
        opts = SamplingOptions(temperature, top_k, top_p)
        rng, rng_seed = make_rng(rng_seed)
        lines, sections, sizes = read_song(text)
        if len(sections) >= MAX_SECTIONS or len(lines) >= MAX_SONG_LINES:
            raise GenerationError(f"this song is complete: it has {len(sections) or len(lines)} "
                                  f"{'sections' if len(sections) >= MAX_SECTIONS else 'lines'}, the most a song has "
                                  f"here ({MAX_SECTIONS} sections, {MAX_SONG_LINES} lines); start a new one")
        scheme = parse_scheme(rhyme)
        scheme = SCHEMES[int(rng.integers(3))] if scheme is None else scheme
        if sections:
            plan = next_section(sections, sizes, parse_song_form(form) or sections, scheme)
        else:  # lines without sections (a message, a song without a form): four more lines
            plan = build_plan("", [len(lines) + DEFAULT_LINES["V"]], scheme)
        seed = "".join(line + "\n" for line in lines)[-MAX_SEED_CHARS:]
        kept = seed.count("\n")  # (a long song: its last lines prime the model; all are kept in the text)
        return self._write_song(seed, plan, opts, rng, rng_seed, syllables, labels, earlier=lines[:-kept or None])

    def _write_song(self, seed, plan, opts, rng, rng_seed, syllables, labels, earlier=()) -> "SongResult":
        from .songs.writer import SongResult, SongWriter, song_text

        writer = SongWriter(self, opts, rng, syllables)
        written, seconds, replaced = writer.write(START_CONTEXT, seed, plan, earlier=list(earlier))
        return SongResult(text=song_text(written, plan, labels), lines=written, plan=plan, rng_seed=rng_seed,
                          seconds=seconds, generated_chars=writer.chars, steered=writer.steered, replaced=replaced)

    def generate(
        self,
        seed: str = "",
        *,
        length: int = 400,
        temperature: float = 0.5,
        top_k: int | None = None,
        top_p: float | None = None,
        rng_seed: int | None = None,
        until_song_end: bool = False,
        max_lines: int | None = None,
    ) -> TextResult:
        """Continue ``seed`` by up to ``length`` characters. The result's text begins with the seed as given.

        ``until_song_end`` stops at the first blank line (a song boundary in the
        lyrics corpus); ``max_lines`` stops once the text has that many lines.
        Seed characters missing from the vocabulary are replaced by the nearest
        known ones and listed in ``result.replaced``.
        """
        opts = SamplingOptions(temperature, top_k, top_p)
        if not isinstance(seed, str):
            raise GenerationError("seed must be text")
        if len(seed) > MAX_SEED_CHARS:
            raise GenerationError(f"seed is too long ({len(seed)} characters, at most {MAX_SEED_CHARS})")
        if not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
            raise GenerationError(f"length must be between 1 and {MAX_LENGTH}, got {length!r}")
        if max_lines is not None and (not isinstance(max_lines, int) or max_lines < 1):
            raise GenerationError(f"line count must be a positive integer, got {max_lines!r}")
        rng, rng_seed = make_rng(rng_seed)
        view = self.vocab.seed_view(seed)
        seed_ids, replaced = view.ids, view.replaced
        context, _ = self.vocab.encode_lenient(START_CONTEXT)
        newline = self.vocab.index.get("\n")
        lines = LineStop(newline, seed.count("\n"), int(seed_ids[-1]) if len(seed_ids) else newline,
                         until_song_end, max_lines)
        blanks = np.array([c.isspace() for c in self.vocab.chars], bool)
        processors = [lines, LimitRun(blanks, MAX_BLANKS), *([BlockFirst(self.vocab.word_chars())] if view.whole_word
                                                             else [])]
        start = time.perf_counter()
        tokens = self.decode(np.concatenate([context, seed_ids]), TokenStream(length, opts, rng, processors))
        seconds = time.perf_counter() - start
        generated = self.vocab.decode(tokens)
        if lines.reason != "length":
            generated = generated.rstrip("\n")
        return TextResult(
            text=seed + (view.joiner if not generated[:1].isspace() else "") + generated, seed=seed, rng_seed=rng_seed, generated_chars=len(tokens),
            stop_reason=lines.reason, seconds=seconds, replaced=replaced,
        )
