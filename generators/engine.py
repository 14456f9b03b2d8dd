"""The engine: the one place where a model is stepped. Everything that advances an LSTM state goes through here
(the steppers of :mod:`generators.stepper` do the arithmetic; nothing else calls them):

- :func:`advance`: one step of many rows (a batch of requests, or a caller's few): each row is fed its prime's
  next token or its last draw; rows past their prime run their processors and draw; a row whose stream is done
  leaves with its tokens and its state; a row may keep snapshots of its state (see :class:`~generators.sampling.
  TokenStream`'s ``marks``);
- :func:`step_alone`: the same for a single row, on the single-stream path, until it is done or interrupted;
- :func:`run_together` / :func:`run_alone`: requests run to the end without a loop (the arithmetic they get in
  one); :func:`run_stream`: a stream driven by any step function (a window model re-runs its window);
- :func:`feed`: the state after known tokens (a song's returning chorus), and :func:`best_endings`: the likeliest
  words to end a line (a rhyme search), from a saved state.

:class:`~generators.scheduler.BatchScheduler` decides who steps when (admission, hand-offs, closing); the CLI, the
bot, the Ray replicas and the song writer all reach the engine through a generator's ``decode``, ``decode_many``,
``feed`` and ``search_endings`` (see :class:`~generators.sequence.SequenceGenerator`), as vLLM keeps its scheduler
apart from the engine that executes a step.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Callable, Sequence

import numpy as np

from .errors import GenerationError
from .sampling import SamplingOptions, TokenStream, sample_rows
from .stepper import BatchedStepper, LSTMStepper, StepperWeights, feed_state

log = logging.getLogger("generators.engine")

BEAM = 8  # words kept open while a line's ending is searched for
PRUNE_NATS = 8.0  # open words this much less likely than a finished one are given up


class Row:
    """A request as the engine steps it: the ids that prime it (fed one a step), its stream, the future that gets
    its tokens, the stepper row it occupies and the state it starts (or goes on) from."""

    __slots__ = ("prime", "fed", "stream", "future", "row", "state")

    def __init__(self, prime: np.ndarray, stream: TokenStream, state=None):
        self.prime, self.fed, self.stream, self.state = prime, 0, stream, state
        self.future: Future = Future()
        self.row = -1

    def next_input(self) -> int:
        if self.fed < len(self.prime):
            self.fed += 1
            return int(self.prime[self.fed - 1])
        return self.stream.tokens[-1]

    @property
    def priming(self) -> bool:
        return self.fed < len(self.prime)


def rows_for(prime_ids, streams: Sequence[TokenStream], state=None) -> list[Row]:
    """One :class:`Row` a stream, all primed on ``prime_ids`` (at least one id) from ``state``."""
    prime = np.asarray(prime_ids, np.intp).reshape(-1)
    if not len(prime):
        raise GenerationError("internal: a generation needs at least one priming token")
    return [Row(prime, stream, state) for stream in streams]


def seat(stepper: BatchedStepper, rows: list[Row]) -> list[Row]:
    """Give each (new) row a place in a fresh ``stepper`` and mark it running."""
    for place, row in enumerate(rows):
        seat_row(stepper, row, place)
        row.future.set_running_or_notify_cancel()
    return rows


def seat_row(stepper: BatchedStepper, row: Row, place: int) -> None:
    """Put ``row`` in ``place`` (zeroed) of ``stepper``, with the state it starts (or goes on) from."""
    row.row = place
    if row.state is not None:
        stepper.load(place, row.state)


def advance(stepper: BatchedStepper, active: list[Row], name: str = "model") -> list[Row]:
    """Step every row of ``active`` by one token: its prime's next token, or the token it drew last. Returns those
    not done; one that is done has its future set: its tokens (and its ``stream.state``), or its own failure. A
    failure of the step itself fails them all."""
    try:
        logits = stepper.step([r.row for r in active], [r.next_input() for r in active])
    except Exception as exc:
        log.exception("batch step of %s failed for %d requests", name, len(active))
        for row in active:
            row.future.set_exception(exc)
        return []
    still, drawing, places = [], [], []
    for i, row in enumerate(active):  # the logits after a priming token are not drawn from
        if row.priming:
            still.append(row)
            continue
        try:
            logits[i] = row.stream.prepare(logits[i])
        except Exception as exc:  # this request's own failure: it leaves alone
            row.future.set_exception(exc)
            continue
        drawing.append(row)
        places.append(i)
    if not drawing:
        return still
    tokens = sample_rows(logits[places], [r.stream.opts for r in drawing], [r.stream.rng for r in drawing])
    for row, token in zip(drawing, tokens):
        try:
            done = row.stream.accept(token)
        except Exception as exc:
            row.future.set_exception(exc)
            continue
        _snapshot(stepper, row)
        if done:
            _finish(stepper, row)
        else:
            still.append(row)
    return still


def step_alone(stepper: BatchedStepper, row: Row, interrupted: Callable[[], bool], count: Callable[[], None]) -> bool:
    """Step a row that is alone without the batch's bookkeeping (the same arithmetic and draws as a lone row in
    :func:`advance`), until it is finished (True) or ``interrupted()`` (False: it goes on in a batch from here);
    ``count()`` after each step. Its own failure (or its step's) fails it alone."""
    try:
        while not interrupted():
            logits = stepper.step_row(row.row, row.next_input())
            count()
            if row.priming:
                continue
            done = row.stream.choose(logits)
            _snapshot(stepper, row)
            if done:
                _finish(stepper, row)
                return True
    except Exception as exc:
        row.future.set_exception(exc)
        return True
    return False


def _snapshot(stepper: BatchedStepper, row: Row) -> None:
    """Save the row's state when the token just drawn is one of the stream's ``marks`` (see :class:`TokenStream`)."""
    stream = row.stream
    if stream.marks and stream.tokens[-1] in stream.marks:
        stream.snapshots.append((len(stream.tokens) - 1, stepper.save(row.row)))


def _finish(stepper: BatchedStepper, row: Row) -> None:
    row.stream.state = stepper.save(row.row)
    row.future.set_result(row.stream.tokens)


def run_together(weights: StepperWeights, prime_ids, streams: list[TokenStream], state=None,
                 exact: bool = False) -> list[list[int]]:
    """Several requests with one prime (and ``state``) stepped side by side without a loop: the arithmetic they get
    in the loop when admitted together (see :meth:`~generators.scheduler.BatchScheduler.submit_many`)."""
    rows = rows_for(prime_ids, streams, state)
    stepper = BatchedStepper(weights, capacity=len(rows), exact=exact)
    active = seat(stepper, rows)
    while active:
        active = advance(stepper, active)
    return [r.future.result() for r in rows]


def run_alone(weights: StepperWeights, prime_ids, stream: TokenStream, state=None) -> list[int]:
    """One request without a loop (the arithmetic of a row stepped alone in the loop)."""
    return run_together(weights, prime_ids, [stream], state)[0]


def start(weights: StepperWeights, prime_ids) -> tuple[Callable[[int], np.ndarray], np.ndarray]:
    """A single stream primed on ``prime_ids``: ``(step, first_logits)``, ``step(token)`` giving the next logits."""
    stepper = LSTMStepper(weights)
    return stepper.step, stepper.feed(prime_ids)


def run_stream(step: Callable[[int], np.ndarray], first_logits: np.ndarray, stream: TokenStream) -> list[int]:
    """Drive one stream alone: sample, feed each token back through ``step``, until it is done."""
    logits = first_logits
    while not stream.choose(logits):
        logits = step(stream.tokens[-1])
    return stream.tokens


def generate_tokens(step: Callable[[int], np.ndarray], first_logits: np.ndarray, count: int, opts: SamplingOptions,
                    rng: np.random.Generator, stop: Callable[[int], bool] | None = None) -> list[int]:
    """Sample up to ``count`` tokens, feeding each back through ``step``; ``stop(token)`` ends early."""
    return run_stream(step, first_logits, TokenStream(count, opts, rng, stop=stop))


def feed(weights: StepperWeights, state, tokens):
    """The state after ``tokens`` from ``state`` (None: zeros), when only the state is wanted (a known line of a
    song): see :func:`~generators.stepper.feed_state`."""
    return feed_state(weights, state, tokens)


def _trie(words: list[str], vocab) -> dict:
    """Words (those whose letters the model knows) as a trie of characters; a word's end is a newline child."""
    trie: dict = {}
    for word in words:
        if all(c in vocab.index for c in word):
            node = trie
            for c in word:
                node = node.setdefault(c, {})
            node["\n"] = {}
    return trie


def best_endings(weights: StepperWeights, vocab, state, prime: list[int], words: list[str], beam: int = BEAM):
    """The likeliest of ``words`` to end a line after ``prime`` (fed from ``state``), by the model's whole-word
    log-probability (a beam search through the words' trie, ``beam`` wide): ``[(log p, word, state)]``, best
    first, where ``state`` is the LSTM state before the word's final newline."""
    trie = _trie(words, vocab)
    if not trie:
        return []
    stepper = BatchedStepper(weights, capacity=beam)
    stepper.load(0, feed_state(weights, state, prime[:-1]))
    beams = [(0.0, "", trie, 0, int(prime[-1]))]  # (log p, word so far, trie node, row, token to feed)
    finished = []
    while beams:
        logits = stepper.step([b[3] for b in beams], [b[4] for b in beams])
        logp = logits - logits.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        grown = []
        for (score, word, node, row, _), row_logp in zip(beams, logp):
            for char, child in node.items():
                total = score + float(row_logp[vocab.index[char]])
                if char == "\n":
                    finished.append((total, word, stepper.save(row)))
                else:
                    grown.append((total, word + char, child, row, vocab.index[char]))
        grown.sort(key=lambda g: -g[0])
        grown = grown[:beam]
        saved = [stepper.save(g[3]) for g in grown]  # rows are reused: copy each parent's state first
        for row, (g, state_of_parent) in enumerate(zip(grown, saved)):
            stepper.load(row, state_of_parent)
        beams = [(g[0], g[1], g[2], row, g[4]) for row, g in enumerate(grown)]
        if finished and beams and beams[0][0] < max(f[0] for f in finished) - PRUNE_NATS:
            break  # every open word is already far less likely than a finished one
    return sorted(finished, key=lambda f: -f[0])
