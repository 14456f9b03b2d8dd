"""Decoding constraints as small processors, shared by text, lyrics and music.

A stream (:class:`~generators.sampling.TokenStream`) holds a list of
processors, the way Hugging Face's ``LogitsProcessor`` list or vLLM's logits
processors work. Before each draw every processor may rewrite the logits (mask
a token with ``-inf``, or force one by masking all others); after each draw
every processor observes the token drawn; the stream ends when one of them says
it is ``done`` (or its token budget runs out). A stream runs the same list
alone or as one row of the batching loop, so every constraint holds in both.

    stream = TokenStream(400, opts, rng, processors=[StopWhen(lambda t: t == newline)])

Each processor is one rule, a few lines long. The first to rewrite the logits
copies them (:class:`Block` does: the stepper's array is never changed in
place); later ones may write in place. Generator-specific rules live beside
their encoders (``generators/music/constraints.py``).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


class Processor:
    """One decoding rule: ``process`` shapes the logits of the next draw, ``observe`` sees each token drawn,
    ``done`` ends the stream. The base class does nothing."""

    done = False

    def process(self, logits: np.ndarray) -> np.ndarray:
        return logits

    def observe(self, token: int) -> None:
        pass


class Block(Processor):
    """Tokens that are never drawn (``blocked``: a boolean mask over the vocabulary). Copies the logits."""

    def __init__(self, blocked: np.ndarray):
        self.penalty = np.where(blocked, -np.inf, 0.0).astype(np.float32)

    def process(self, logits: np.ndarray) -> np.ndarray:
        return logits + self.penalty


class BlockFirst(Block):
    """Tokens that are not drawn first (``blocked``), then anything: a seed's last word is not continued by the
    first character drawn after it."""

    def __init__(self, blocked: np.ndarray):
        super().__init__(blocked)
        self.first = True

    def process(self, logits: np.ndarray) -> np.ndarray:
        return super().process(logits) if self.first else logits

    def observe(self, token: int) -> None:
        self.first = False


class LimitRun(Block):
    """At most ``most`` of the ``blocked`` tokens in a row (whitespace, say: prose does not drift into a page of
    blanks)."""

    def __init__(self, blocked: np.ndarray, most: int):
        super().__init__(blocked)
        self.members, self.most, self.run = blocked, most, 0

    def process(self, logits: np.ndarray) -> np.ndarray:
        return super().process(logits) if self.run >= self.most else logits

    def observe(self, token: int) -> None:
        self.run = self.run + 1 if self.members[token] else 0


class StopWhen(Processor):
    """Ends the stream after a token for which ``predicate(token)`` is true."""

    def __init__(self, predicate: Callable[[int], bool]):
        self.predicate = predicate

    def observe(self, token: int) -> None:
        if self.predicate(token):
            self.done = True


def force(logits: np.ndarray, token: int) -> np.ndarray:
    """Logits that can only draw ``token`` (any sampler, any temperature)."""
    only = np.full_like(logits, -np.inf)
    only[token] = 0.0
    return only


def run_processors(processors: Iterable[Processor], logits: np.ndarray) -> np.ndarray:
    for p in processors:
        logits = p.process(logits)
    return logits
