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
from typing import Callable

import numpy as np

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
    if opts.temperature == 0:
        return int(np.argmax(logits))
    p = probabilities(logits, opts)
    # Inverse-CDF draw: one uniform number per token, so a seed replays the same choices.
    return int(min(np.searchsorted(np.cumsum(p), rng.random(), side="right"), p.size - 1))


def generate_tokens(
    step: Callable[[int], np.ndarray],
    first_logits: np.ndarray,
    count: int,
    opts: SamplingOptions,
    rng: np.random.Generator,
    stop: Callable[[int], bool] | None = None,
) -> list[int]:
    """Sample up to ``count`` tokens, feeding each back through ``step``; ``stop(token)`` ends early."""
    out: list[int] = []
    logits = first_logits
    for n in range(count):
        token = sample(logits, opts, rng)
        out.append(token)
        if (stop is not None and stop(token)) or n == count - 1:
            break
        logits = step(token)
    return out
