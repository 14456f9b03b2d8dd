"""Writing a song line by line: each line drawn (again while it will not do), a rhyme steered into the last word,
choruses repeated.

For each line of the :class:`~generators.songs.form.SongPlan`:

- a returning section's line (a chorus again) is the first one's, word for word, fed through the model so
  what follows hears it (when something follows: a chorus that ends the song is not fed);
- any other line: one continuation of the song so far is drawn from one saved LSTM state (in the batching loop
  beside other requests when one runs), then 2, then 4 more side by side (:data:`DRAWS`) while none
  is acceptable (new to the song, not a run of one word, no weak ending, fitting the syllables, near the line's
  drawn number of words). :class:`LineShaper` keeps each a single, non-empty line; with a syllable target it
  ends it within one syllable of it, else within :data:`WORDS_SLACK` words of a length drawn around the
  corpus's, pushing the line end from that length on. The first draw that is new to the song, fits the
  syllables and rhymes where the scheme says is kept;
- where none rhymes, the best candidate keeps all but its last word, and that word is chosen among the
  dictionary's words that rhyme with the line it answers (and fit the syllables left) by the model's own
  probability of each whole word there (:func:`~generators.engine.best_endings`, a beam search through the words' letters, from
  the state the loop saved where that word starts), drawn at the request's temperature. Feeding and searching
  run beside the loop, at most as many at once as there are cores (:meth:`BatchScheduler.beside`).

A line the scheme pairs with a word the dictionary lacks keeps the best candidate (its spelling may rhyme).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..decoding import BlockFirst, Processor, force
from ..errors import GenerationError
from ..sampling import TokenStream
from .form import SongPlan
from .rhyme import WEAK_ENDINGS, last_word, line_syllables, rhymes, rhyming_words, syllables, words_of

DRAWS = (1, 2, 4)  # lines drawn at once for a line, round after round until one is acceptable
MORE_WORDS_OFF = 4  # a candidate this many words from the line's drawn length is not acceptable
WORDS_SLACK = 3  # without a syllable target, a line ends within this many words of its drawn length
END_PUSH = 1.5  # nats added to a line end's logit per word from the drawn length on
TOP_ENDINGS = 4  # the rhyme is drawn among this many likeliest words
MAX_LINE_CHARS = 120  # a candidate that runs longer without ending its line is dropped
CORPUS_WORDS_PER_LINE = (7.0, 2.0)  # mean and spread of the lyrics corpus's words per line: lines are chosen near
MIN_SYLLABLES, MAX_SYLLABLES = 2, 24
VARIED = 0.6  # a line's distinct words over its words at least this, or it is a last resort


def blank_ids(vocab) -> np.ndarray:
    """The ids of the vocabulary's blanks: whitespace that ends a word but not the line."""
    return np.array([i for i, c in enumerate(vocab.chars) if c.isspace() and c != "\n"], np.intp)


class LineShaper(Processor):
    """One line: never empty, ended by a newline (the stream then stops). With ``target`` syllables: no new word
    past ``target`` syllables and no line end before ``target - 1``. Else, with ``words`` ``(low, wanted, high)``:
    no line end before ``low`` words, none past ``high``, and from the ``wanted``-th word on a line end is made
    :data:`END_PUSH` nats likelier per word, so the line ends where the model would end one near there. ``prefix``:
    the line's text so far."""

    def __init__(self, vocab, target: int | None, prefix: str = "", words: tuple[int, int, int] | None = None):
        self.chars, self.newline = vocab.chars, vocab.index["\n"]
        self.blank = blank_ids(vocab)
        self.apostrophes = np.array([i for i, c in enumerate(vocab.chars) if c in "'\u2019"], np.intp)
        self.target, self.words, self.text = target, words, prefix

    def process(self, logits: np.ndarray) -> np.ndarray:
        words = words_of(self.text)
        if not words:
            logits[self.newline] = -np.inf
            return logits
        if self.target is not None:
            low, high, count = self.target - 1, self.target, line_syllables(self.text)
        elif self.words is not None:
            (low, wanted, high), count = self.words, len(words)
            if count >= wanted:
                logits[self.newline] += END_PUSH * (count - wanted + 1)
        else:
            return logits
        if count < low:
            logits[self.newline] = -np.inf
        elif count >= high and np.isfinite(logits[self.newline]):
            # No further word: the one being written ends, then the line does, after at most one mark
            # ("wanna," not "wanna,,,"; "don't" not "don't,'se's"; "I've" not "I've'd").
            last, word = self.text[-1:], self.text.rsplit(" ", 1)[-1]
            if last in "'\u2019":  # mid-word ("don'") unless a dropped g ("lovin'")
                keep = logits[self.newline] if word[:-1].lower().endswith("in") else -np.inf
                logits[self.blank] = logits[self.apostrophes] = -np.inf
                logits[self.newline] = keep
                return logits
            if not last.isalpha():
                return force(logits, self.newline)
            logits[self.blank] = -np.inf
            if any(c in word for c in "'\u2019"):
                logits[self.apostrophes] = -np.inf
        return logits

    def observe(self, token: int) -> None:
        if token == self.newline:
            self.done = True
        else:
            self.text += self.chars[token]


@dataclass
class SongResult:
    text: str
    lines: list[str]  # the song's lines (seed's included), without labels
    plan: SongPlan
    rng_seed: int
    seconds: float
    generated_chars: int
    steered: int  # lines whose last word was steered into a rhyme
    replaced: dict

    @property
    def stop_reason(self) -> str:
        return "lines"

    def summary(self) -> str:
        return f"{len(self.lines)} lines, {self.plan.describe()}, RNG seed {self.rng_seed}"


class SongWriter:
    """Writes the lines of a plan after a seed (see the module docstring) with a character model."""

    def __init__(self, gen, opts, rng, syllable_target: int | None = None):
        if syllable_target is not None and (not isinstance(syllable_target, int) or isinstance(syllable_target, bool)
                                            or not MIN_SYLLABLES <= syllable_target <= MAX_SYLLABLES):
            raise GenerationError(f"syllables must be between {MIN_SYLLABLES} and {MAX_SYLLABLES}, "
                                  f"got {syllable_target!r}")
        if "\n" not in gen.vocab.index:
            raise GenerationError("this model has no line breaks in its vocabulary; it cannot write songs")
        self.gen, self.vocab, self.opts, self.rng = gen, gen.vocab, opts, rng
        self.target = syllable_target
        self.blanks = frozenset(blank_ids(self.vocab).tolist())  # where a stream saves its state (a word starts)
        self.steered = self.chars = 0

    def write(self, context: str, seed: str, plan: SongPlan, earlier: list[str] = ()) -> tuple[list[str], float, dict]:
        """The song's lines (``earlier`` ones, then the seed's), the model time taken and the seed characters
        replaced (``context``: text fed before the seed, as at the start of a song; ``earlier``: the song's first
        lines, not fed to the model)."""
        given = list(earlier) + seed.split("\n")
        partial = given.pop()  # the seed's unfinished last line ("" when it ends with a newline)
        if len(given) + (1 if partial else 0) > len(plan.lines):
            raise GenerationError(f"the seed already has {len(given) + bool(partial)} lines; ask for more lines")
        ids, replaced = self.vocab.encode_lenient(context + "".join(line + "\n" for line in given[len(earlier):]))
        self.seed_line = self.vocab.seed_view(partial)  # (how the model reads the seed's unfinished line)
        start = time.perf_counter()
        state, pending = self.gen.feed(None, ids[:-1]), int(ids[-1])
        lines = list(given)
        last_new = max((i for i, spec in enumerate(plan.lines) if spec.repeat_of is None), default=-1)
        while len(lines) < len(plan.lines):
            i = len(lines)
            spec = plan.lines[i]
            if spec.repeat_of is not None:
                text = lines[spec.repeat_of]
                if i < last_new:  # (a chorus that ends the song is not fed: nothing follows to hear it)
                    state, pending = self._feed(state, pending, text)
            else:
                prefix = partial if i == len(given) else ""
                text, state, pending = self._new_line(lines, plan, i, prefix, state, pending)
            lines.append(text)
        replaced.update(self.seed_line.replaced)
        return lines, time.perf_counter() - start, replaced

    def _fork(self) -> np.random.Generator:
        return np.random.default_rng(int(self.rng.integers(2**63)))

    # -- one line -------------------------------------------------------------
    def _feed(self, state, pending: int, text: str):
        """Feed a known line (and its newline): the state after it, with the newline pending."""
        ids, _ = self.vocab.encode_lenient(text)
        self.chars += len(ids) + 1
        return self.gen.feed(state, [pending, *ids]), self.vocab.index["\n"]

    def _new_line(self, lines: list[str], plan: SongPlan, i: int, prefix: str, state, pending: int):
        answer = self._rhyme_target(lines, plan, i)
        earlier = {line.strip().lower() for line in lines}
        wanted_words = float(np.clip(self.rng.normal(*CORPUS_WORDS_PER_LINE), 3, 14))

        def badness(text: str) -> tuple:
            new = text.strip().lower() not in earlier
            fits = self.target is None or abs(line_syllables(text) - self.target) <= 1
            rhymed = answer is None or rhymes(last_word(text), answer)
            words = words_of(text)
            varied = len(set(words)) >= VARIED * len(words)  # not "oh oh oh oh"
            weak = last_word(text) in WEAK_ENDINGS  # "... with the"
            return (not new, not varied, weak, not fits, not rhymed, abs(len(words) - wanted_words))

        def acceptable(text: str) -> bool:  # (a rhyme the steering can still give)
            bad = badness(text)
            return not any(bad[:4]) and bad[5] <= MORE_WORDS_OFF

        wanted = round(wanted_words)
        words = (max(1, wanted - WORDS_SLACK), wanted, wanted + WORDS_SLACK)
        candidates = []
        for count in DRAWS:
            candidates += self._candidates(prefix, state, pending, words, count)
            if any(acceptable(c[0]) for c in candidates):
                break
        if not candidates:
            raise GenerationError("the model wrote no line that ends; try a lower temperature")
        candidates.sort(key=lambda c: badness(c[0]))  # (a stable sort: ties keep the order drawn)
        text, stream = candidates[0]
        if answer is not None and not rhymes(last_word(text), answer):
            steered = self._steer(text, stream, prefix, answer, state, pending)
            if steered is not None:
                self.steered += 1
                return steered
        return text, stream.state, self.vocab.index["\n"]

    def _candidates(self, prefix: str, state, pending: int, words: tuple[int, int, int],
                    count: int) -> list[tuple[str, object]]:
        """``count`` lines drawn side by side after the song so far, each shaped by :class:`LineShaper`
        (``words``: its bounds without a syllable target): ``[(text, its TokenStream)]``, those that ended within
        :data:`MAX_LINE_CHARS`. Each stream holds the state after its line and one at each blank drawn, where a
        word starts (so a rhyme search goes on from there without feeding the line again)."""
        prefix_ids, joiner, rules = self._prefix(prefix)
        streams = [TokenStream(MAX_LINE_CHARS, self.opts, self._fork(),
                               [LineShaper(self.vocab, self.target, prefix + joiner, words), *rules],
                               marks=self.blanks)
                   for _ in range(count)]  # (each its own RNG: the draws never depend on how rows interleave)
        drawn = self.gen.decode_many([pending, *prefix_ids], streams, state)
        self.chars += sum(len(t) for t in drawn)
        candidates = []
        for stream, tokens in zip(streams, drawn):
            if tokens and tokens[-1] == self.vocab.index["\n"]:  # (else it ran out of characters mid-line)
                text = (prefix + joiner + "".join(self.vocab.chars[t] for t in tokens[:-1])).rstrip()
                candidates.append((text, stream))
        return candidates

    def _prefix(self, prefix: str) -> tuple[list[int], str, list[Processor]]:
        """A line's given start (the seed's unfinished line, or ""): its ids as the model reads them, what joins it
        to the text drawn after it, and the rule that keeps its last word whole (see :class:`SeedView`)."""
        if not prefix:
            return [], "", []
        view = self.seed_line
        return list(view.ids), view.joiner, [BlockFirst(self.vocab.word_chars())] if view.whole_word else []

    def _rhyme_target(self, lines: list[str], plan: SongPlan, i: int) -> str | None:
        """The word line ``i`` must rhyme with: the last word of the latest earlier line of its section with the same
        scheme letter (None: the letter's first line, or no scheme)."""
        for j in plan.rhyme_partners(i):
            if last_word(lines[j]):
                return last_word(lines[j])
        return None

    def _steer(self, text: str, stream, prefix: str, answer: str, state, pending: int):
        """The line again (``stream``: the candidate's, ``state``/``pending``: where it was drawn from), its last
        word drawn among the rhymes of ``answer`` (None when none can be drawn)."""
        words = words_of(text)
        if not words:
            return None
        cut = text.lower().rfind(words[-1])
        body = text[:cut]
        prefix_ids, joiner, _ = self._prefix(prefix)
        if len(body) < len(prefix) + len(joiner) or not words_of(body):
            return None
        pool = rhyming_words(answer, self.vocab.words)
        if self.target is not None:
            left = self.target - line_syllables(body)
            pool = [w for w in pool if abs(left - syllables(w)) <= 1]
        drawn = cut - len(prefix) - len(joiner)  # the body's tokens drawn (one per character)
        marked = [(k, saved) for k, saved in stream.snapshots if k < drawn]
        if marked:  # from the state saved at the body's last blank: only what follows it is fed
            k, start = marked[-1]
            prime = stream.tokens[k:drawn]
        else:
            start, prime = state, [pending, *prefix_ids, *stream.tokens[:drawn]]
        found = self.gen.search_endings(start, prime, pool)
        self.chars += len(prime)
        if not found:
            return None
        scores = np.array([f[0] for f in found[:TOP_ENDINGS]]) / max(self.opts.temperature, 1e-3)
        p = np.exp(scores - scores.max())
        _, word, final = found[int(self.rng.choice(len(p), p=p / p.sum()))]
        return body + word, final, self.vocab.index["\n"]


def song_text(lines: list[str], plan: SongPlan, labels: bool) -> str:
    """The song as text: its lines, each section after its label (``[Chorus]``) and a blank line between
    sections when ``labels``; one line after another otherwise."""
    if not labels or not plan.form:
        return "\n".join(lines)
    names = plan.labels()
    out, section = [], -1
    for line, spec in zip(lines, plan.lines):
        if spec.section != section:
            if out:
                out.append("")
            out.append(names[spec.section])
            section = spec.section
        out.append(line)
    return "\n".join(out)


