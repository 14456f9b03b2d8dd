"""What every generator shares: its checkpoint (loading and saving) and serving (decoding through the engine, the
batching loop). Training and scoring a generator live in :mod:`generators.training`.

A generator is a trained model plus its vocabulary, config and metrics.
Subclasses (:class:`generators.text.CharGenerator`,
:class:`generators.music.generator.MusicGenerator`) turn their corpora into
token ids and tokens back into output; everything else lives here.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import checkpoint, engine
from .errors import CheckpointError, ConfigError
from .scheduler import BatchScheduler
from .stepper import StepperWeights

_BUILDING = threading.Lock()  # one thread builds a generator's Keras model on first use



class SequenceGenerator:
    KINDS: ClassVar[tuple[str, ...]]
    config_cls: ClassVar[type]
    vocab_cls: ClassVar[type]
    #: What one token is, for metric names and messages ("char", "event").
    unit: ClassVar[str]

    def __init__(self, kind: str, model, vocab, config, metrics: dict | None = None):
        self.kind, self._model, self.vocab, self.config = kind, model, vocab, config
        self.metrics = metrics or {}
        self._weights = None  # StepperWeights, extracted on first generation
        self.batcher = None  # a BatchScheduler once enable_batching() is called

    # -- checkpoints -------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, keras: bool = False):
        """Read a checkpoint. A model that generates by stepping (every unidirectional, stateful one) is read
        straight into NumPy: TensorFlow is imported only when :attr:`model` is first used (to train, evaluate
        with Keras or save). ``keras``: build the Keras model now (window and bidirectional models always do)."""
        data = checkpoint.read_checkpoint(path, expected_kinds=cls.KINDS)
        try:
            config = cls.config_cls.from_dict(data.config)
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{data.path / 'config.json'}: {exc}") from None
        vocab = cls.vocab_cls.from_dict(data.vocab, source=str(data.path / "vocab.json"))
        if keras or config.objective == "window" or config.bidirectional:
            from .model import build_model

            model = build_model(config, len(vocab))
            checkpoint.load_weights_into(model, data)
            return cls(data.kind, model, vocab, config, data.metrics)
        gen = cls(data.kind, None, vocab, config, data.metrics)
        gen._weights = StepperWeights.from_arrays(checkpoint.stepper_arrays(data, config, len(vocab)))
        return gen

    @property
    def model(self):
        """The Keras model; for a generator read by :meth:`load` without it, built from the stepper's weights (the
        checkpoint's, exactly) on first use."""
        with _BUILDING:
            if self._model is None:
                from .model import build_model

                model = build_model(self.config, len(self.vocab))
                arrays = self._weights.arrays()
                model.set_weights([arrays[v.path] for v in model.weights])
                self._model = model
        return self._model

    @model.setter
    def model(self, model) -> None:
        self._model = model

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint. The in-memory weights are rounded to float16 first, matching the file."""
        checkpoint.quantize_weights(self.model)
        self._weights = None
        return checkpoint.write_checkpoint(
            path, kind=self.kind, model=self.model, config=self.config.to_dict(),
            vocab=self.vocab.to_dict(), metrics=self.metrics,
        )

    @property
    def val_loss(self) -> float | None:
        return self.metrics.get(f"val_loss_nats_per_{self.unit}")

    # -- generation --------------------------------------------------------
    @property
    def stepper_weights(self):
        """The weights the NumPy steppers use, extracted once and shared by every stream."""
        if self._weights is None:
            self._weights = StepperWeights(self.model)
        return self._weights

    def enable_batching(self, max_batch: int = 32, exact: bool = False):
        """Run every later generation in this model's batching loop (see :mod:`generators.scheduler`).

        ``exact``: step each row alone, so a request's tokens never depend on its neighbours, even in the
        last bit (slower: no batched matrix products).
        """
        if self.config.objective == "window":
            raise ConfigError("window models re-run a window per token and cannot be batched")
        if self.batcher is None:
            self.batcher = BatchScheduler(self.stepper_weights, max_batch=max_batch, name=self.kind, exact=exact)
        return self.batcher

    def ready(self, max_batch: int = 0, exact: bool = False) -> None:
        """Serve (see :class:`generators.protocol.Generator`): with ``max_batch`` rows of batching loop, when the
        model can be batched (a window model re-runs a window a token and serves one request a thread)."""
        if max_batch and self.config.objective != "window":
            self.enable_batching(max_batch, exact=exact)

    def retire(self) -> None:
        """Stop serving: the batching loop drains (see :meth:`close_batching`)."""
        self.close_batching()

    def beside(self):
        """The context for work beside the batching loop (see :meth:`BatchScheduler.beside`); none without a loop."""
        return self.batcher.beside() if self.batcher is not None else contextlib.nullcontext()

    def close_batching(self, wait: bool = False) -> None:
        """Drain the batching loop: submitted requests finish, later ones run alone."""
        if self.batcher is not None:
            self.batcher.close(wait=wait)

    def decode(self, prime_ids, stream) -> list[int]:
        """Prime on ``prime_ids``, then draw ``stream``'s tokens (a :class:`~generators.sampling.TokenStream`).

        In the model's batching loop when one runs, else alone in this thread
        on the single-stream path. Alone in the loop a request gets the same
        tokens as without one; beside others, the same but for a draw within
        float rounding of a token boundary (see :mod:`generators.scheduler`).
        """
        if self.batcher is not None:
            return self.batcher.run(prime_ids, stream)
        return engine.run_stream(*self.start(np.asarray(prime_ids, np.int32)), stream)

    def decode_many(self, prime_ids, streams, state=None) -> list[list[int]]:
        """Several streams from one state (``state``: a fork, see :attr:`~generators.stepper.LSTMStepper.state`;
        None: zeros), each primed on ``prime_ids``, side by side: in the batching loop when one runs, else here with
        the same arithmetic. Each stream's ``state`` is set when it is done (see :meth:`BatchScheduler.submit`)."""
        if self.batcher is not None:
            return self.batcher.run_many(prime_ids, streams, state)
        return engine.run_together(self.stepper_weights, prime_ids, streams, state)

    def feed(self, state, tokens):
        """The state after known ``tokens`` from ``state`` (None: zeros), beside the batching loop (a song's returning
        chorus; see :func:`generators.engine.feed`)."""
        with self.beside():
            return engine.feed(self.stepper_weights, state, tokens)

    def search_endings(self, state, prime: list[int], words: list[str]):
        """The likeliest of ``words`` to end a line after ``prime`` from ``state``, beside the batching loop (see
        :func:`generators.engine.best_endings`)."""
        with self.beside():
            return engine.best_endings(self.stepper_weights, self.vocab, state, prime, words)

    def start(self, prime_ids: np.ndarray):
        """Prime on ``prime_ids``; return ``(step, first_logits)`` where ``step(token)`` gives the next logits.

        Stateful models carry their LSTM state (one step per token); window
        models re-run their last ``seq_len`` tokens for every token.
        """
        if self.config.objective == "window":
            from .model import window_logits

            window = deque(np.asarray(prime_ids).tolist()[-self.config.seq_len:], maxlen=self.config.seq_len)

            def step_window(token: int) -> np.ndarray:
                window.append(token)
                return window_logits(self.model, np.array([list(window)], np.int32))[0]

            return step_window, window_logits(self.model, np.array([list(window)], np.int32))[0]
        return engine.start(self.stepper_weights, prime_ids)
