"""Sampling, shared by every generator: temperature, top-k, top-p, reproducible RNG seeds.

``temperature == 0`` is greedy decoding (argmax). Otherwise the logits are
divided by the temperature, optionally cut to the ``top_k`` most likely tokens
and to the smallest set whose probability reaches ``top_p``, and one token is
drawn with a NumPy generator seeded by ``rng_seed`` (a fresh random seed when
none is given; it is always returned so a result can be reproduced).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .decoding import Processor, StopWhen, run_processors
from .errors import GenerationError

MAX_RNG_SEED = 2**32 - 1


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.5
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and 0.0 <= self.temperature <= 5.0):
            raise GenerationError(f"temperature must be between 0 and 5, got {self.temperature!r}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 1):
            raise GenerationError(f"top-k must be a positive integer, got {self.top_k!r}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise GenerationError(f"top-p must be in (0, 1], got {self.top_p!r}")


def make_rng(rng_seed: int | None) -> tuple[np.random.Generator, int]:
    """A generator and the seed that recreates it (drawn at random when ``rng_seed`` is None)."""
    if rng_seed is None:
        rng_seed = secrets.randbelow(MAX_RNG_SEED + 1)
    if not isinstance(rng_seed, int) or not 0 <= rng_seed <= MAX_RNG_SEED:
        raise GenerationError(f"RNG seed must be an integer in [0, {MAX_RNG_SEED}], got {rng_seed!r}")
    return np.random.default_rng(rng_seed), rng_seed


def probabilities(logits: np.ndarray, opts: SamplingOptions) -> np.ndarray:
    """The distribution sampled from (float64, sums to 1); temperature must be > 0."""
    z = np.asarray(logits, dtype=np.float64)
    with np.errstate(over="ignore"):  # shifted first: a tiny temperature gives -inf (near-greedy), never NaN
        z = (z - z.max()) / opts.temperature
    if opts.top_k is not None and opts.top_k < z.size:
        cut = np.partition(z, -opts.top_k)[-opts.top_k]
        z = np.where(z >= cut, z, -np.inf)
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    if opts.top_p is not None and opts.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order])
        keep = int(np.searchsorted(cumulative, opts.top_p) + 1)  # smallest prefix reaching top_p
        mask = np.zeros_like(p, dtype=bool)
        mask[order[:keep]] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return p


def sample(logits: np.ndarray, opts: SamplingOptions, rng: np.random.Generator) -> int:
    """Draw one token index from ``logits``."""
    return int(sample_rows(np.asarray(logits)[None], [opts], [rng])[0])


def sample_rows(logits: np.ndarray, opts: list[SamplingOptions], rngs: list[np.random.Generator]) -> np.ndarray:
    """Draw one token per row of ``logits`` (rows, vocab), each with its own options and RNG.

    Rows with plain temperature sampling (the common case) are computed
    together; each row's arithmetic is the same whichever rows are beside it,
    so a row draws the same token alone or in a batch. Top-k/top-p rows and
    greedy rows are handled one by one. Inverse-CDF draws: one uniform number
    per token, so a seed replays the same choices.
    """
    n, vocab = logits.shape
    plain, other = [], []
    for i, o in enumerate(opts):
        (plain if o.temperature > 0 and o.top_k is None and o.top_p is None else other).append(i)
    tokens = np.empty(n, np.intp)
    if plain:
        z = np.array(logits if len(plain) == n else logits[plain], np.float64)
        temps = np.array([opts[i].temperature for i in plain])[:, None]
        z -= z.max(axis=1, keepdims=True)
        with np.errstate(over="ignore"):  # a tiny temperature gives -inf (near-greedy), never NaN: the max is 0
            z /= temps
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        np.cumsum(z, axis=1, out=z)
        u = np.array([rngs[i].random() for i in plain])[:, None]
        drawn = np.count_nonzero(z <= u, axis=1)
        tokens[plain] = np.minimum(drawn, vocab - 1)
    for i in other:
        o = opts[i]
        if o.temperature == 0:
            tokens[i] = int(np.argmax(logits[i]))
        else:
            p = probabilities(logits[i], o)
            tokens[i] = min(np.searchsorted(np.cumsum(p), rngs[i].random(), side="right"), vocab - 1)
    return tokens


class TokenStream:
    """One generation's sampling state: its options, its own RNG, the tokens drawn, when to stop.

    A stepping loop (alone, or a batch of many streams) hands it the logits
    after each step; :meth:`choose` draws the next token and says whether the
    stream is done. Its ``processors`` (:mod:`generators.decoding`) shape each
    draw and may end the stream early (``stop(token)`` is a shorthand for a
    :class:`~generators.decoding.StopWhen`); at most ``count`` tokens.
    """

    def __init__(self, count: int, opts: SamplingOptions, rng: np.random.Generator,
                 processors: Sequence[Processor] = (), stop: Callable[[int], bool] | None = None,
                 marks: frozenset[int] = frozenset()):
        self.count, self.opts, self.rng = count, opts, rng
        # When a token of ``marks`` is drawn, the loop that runs the stream saves the LSTM state there (before the
        # token is fed): ``snapshots`` [(index of the token, state)], so a caller can go back to a word's start.
        self.marks, self.snapshots = marks, []
        self.processors = list(processors) + ([StopWhen(stop)] if stop is not None else [])
        # Each draw calls only what a processor defines (a step is a fraction of a millisecond: calls count).
        self._shapers = [p for p in self.processors if type(p).process is not Processor.process]
        self._observers = [p for p in self.processors if type(p).observe is not Processor.observe]
        self.tokens: list[int] = []
        self.state = None  # the LSTM state when done (set by the loop that ran it; see BatchScheduler.submit)

    def prepare(self, logits: np.ndarray) -> np.ndarray:
        """The logits to draw from (after every processor)."""
        return run_processors(self._shapers, logits)

    def accept(self, token: int) -> bool:
        """Take the drawn token; True when the stream is done (no further step needed)."""
        token = int(token)
        self.tokens.append(token)
        done = len(self.tokens) >= self.count
        for p in self._observers:  # (a processor ends the stream only when it observes a token)
            p.observe(token)
            done = done or p.done
        return done

    def choose(self, logits: np.ndarray) -> bool:
        """Draw the next token from ``logits`` and take it; True when the stream is done."""
        return self.accept(sample(self.prepare(logits), self.opts, self.rng))
