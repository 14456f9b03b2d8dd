"""What every generator shares: checkpoints, the training run, evaluation and state-carrying steps.

A generator is a trained model plus its vocabulary, config and metrics.
Subclasses (:class:`generators.text.CharGenerator`,
:class:`generators.music.generator.MusicGenerator`) turn their corpora into
token ids and tokens back into output; everything else lives here.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import threading
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import checkpoint
from .data import dataset_for, eval_windows, stream_count, training_datasets
from .errors import CheckpointError, ConfigError
from . import engine
from .scheduler import BatchScheduler
from .stepper import StepperWeights
from .training import emit, fit_model

_BUILDING = threading.Lock()  # one thread builds a generator's Keras model on first use

#: Config fields that define the network; fine-tuning must keep them.
ARCHITECTURE_FIELDS = ("embedding", "layers", "units", "bidirectional", "objective")


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

    # -- training ----------------------------------------------------------
    @classmethod
    def _fit(
        cls, kind: str, train_ids: np.ndarray, val_ids: np.ndarray, vocab, config, *, corpus_metrics: dict[str, Any],
        epochs: int | None, minutes: float | None, out: str | Path | None, progress: str, data_seed: int,
        init_from: "SequenceGenerator | None",
    ):
        """Train on token ids, keep the best weights by the loss on ``val_ids``, return the generator.

        With ``out``, the best model so far is kept in ``<out>.partial`` and the
        final checkpoint replaces ``out`` only when training completes.
        """
        from .model import build_model, reset_state

        baseline = None
        if init_from is not None:
            check_same_architecture(init_from.config, config)
        train_ds, steps, val_ds, streams = training_datasets(config, train_ids, val_ids, seed=data_seed)
        if init_from is not None:
            # Scored the way the new model will be (the same streams when the state is carried).
            baseline = round(init_from.loss_on(val_ids, scoring=config, streams=streams), 4)
            emit(progress, {"event": "baseline", "val_loss": baseline})
        per_window = 1 if config.objective == "window" else min(config.seq_len, len(train_ids) - 1)
        base_metrics = {
            "corpus": {**corpus_metrics, f"{cls.unit}s": len(train_ids) + len(val_ids), f"train_{cls.unit}s": len(train_ids),
                       f"val_{cls.unit}s": len(val_ids)},
            "vocab_size": len(vocab),
            **({"streams": streams} if streams else {}),
        }
        if init_from is not None:
            base_metrics["init_from"] = {"kind": init_from.kind, "date": init_from.metrics.get("date"),
                                         "corpus_sha256": init_from.metrics.get("corpus", {}).get("sha256"),
                                         f"val_loss_nats_per_{cls.unit}": baseline}

        def build():
            model = build_model(config, len(vocab), streams=streams)
            if init_from is not None:
                model.set_weights(init_from.model.get_weights())
            return model

        partial = None if out is None else Path(out).with_name(Path(out).name + ".partial")

        def on_improve(model, record):
            if partial is not None:
                checkpoint.write_checkpoint(partial, kind=kind, model=model, config=config.to_dict(),
                                            vocab=vocab.to_dict(), metrics={**base_metrics, "partial": record})

        model, fit = fit_model(build, config, train_ds, steps, val_ds, epochs=epochs, minutes=minutes,
                               progress=progress, targets_per_step=config.batch_size * per_window,
                               on_improve=on_improve, unit=cls.unit)
        checkpoint.quantize_weights(model)
        reset_state(model)
        val_loss = float(model.evaluate(val_ds, verbose=0))  # the loss of the weights as stored
        if streams:  # the generator holds the ordinary (stateless-batch) model with the same weights
            weights, model = model.get_weights(), build_model(config, len(vocab))
            model.set_weights(weights)
        gen = cls(kind, model, vocab, config)
        gen.metrics = {
            f"val_loss_nats_per_{cls.unit}": round(val_loss, 4),
            f"val_bits_per_{cls.unit}": round(val_loss / math.log(2), 4),
            f"train_loss_nats_per_{cls.unit}": round(fit.train_loss_at_best, 4),
            "best_epoch": fit.best_epoch, "epochs": fit.epochs, "steps": fit.steps, "targets": fit.targets,
            "wall_time_s": fit.wall_time_s, "stopped_because": fit.stopped_because,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(), **base_metrics, "history": fit.history,
        }
        if out is not None:
            gen.save(out)
            if partial is not None:
                shutil.rmtree(partial, ignore_errors=True)
        emit(progress, {"event": "done", "val_loss": gen.val_loss, "baseline_val_loss": baseline,
                        "epochs": fit.epochs, "wall_time_s": fit.wall_time_s, "out": str(out) if out else None})
        return gen

    # -- evaluation --------------------------------------------------------
    def loss_on(self, ids: np.ndarray, *, scoring=None, streams: int | None = None) -> float:
        """Mean cross-entropy in nats per token over ``ids``, in windows of the config's length.

        ``scoring`` (default: this model's config) says how: windows from a zero
        state, or with ``carry_state`` parallel streams that carry the state
        from window to window (``streams`` of them, default as many as fit).
        """
        from .model import build_model, reset_state
        from .tf_runtime import keras

        scoring = scoring or self.config
        model = self.model
        if scoring.carry_state:
            streams = streams or stream_count(scoring, len(ids))
            model = build_model(self.config, len(self.vocab), streams=streams)
            model.set_weights(self.model.get_weights())
            reset_state(model)
        ds, _ = dataset_for(scoring, ids, train=False, streams=streams)
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return float(model.evaluate(ds, verbose=0))

    def token_losses(self, ids: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """``(targets, nats)``: each scored token's id and cross-entropy, in the zero-state windows of the
        config's length that :meth:`loss_on` scores (seq2seq, without ``carry_state``), for a breakdown
        by kind of token."""
        if self.config.carry_state or self.config.objective != "seq2seq":
            raise ConfigError("a per-token breakdown needs a seq2seq model scored from a zero state")
        ids = np.asarray(ids, np.int32)
        length, starts = eval_windows(len(ids), self.config.seq_len)
        targets, nats = [], []
        for i in range(0, len(starts), batch):
            rows = np.stack([ids[s:s + length + 1] for s in starts[i:i + batch]])
            logits = np.asarray(self.model(rows[:, :-1], training=False), np.float64)
            logits -= logits.max(axis=-1, keepdims=True)
            log_z = np.log(np.exp(logits).sum(axis=-1))
            picked = np.take_along_axis(logits, rows[:, 1:, None], axis=-1)[..., 0]
            targets.append(rows[:, 1:].ravel())
            nats.append((log_z - picked).ravel())
        return np.concatenate(targets), np.concatenate(nats)

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


def check_same_architecture(old, new) -> None:
    changed = [f for f in ARCHITECTURE_FIELDS if getattr(old, f) != getattr(new, f)]
    if changed:
        raise ConfigError(
            "fine-tuning keeps the checkpoint's architecture; cannot change "
            + ", ".join(f"{f} ({getattr(old, f)!r} -> {getattr(new, f)!r})" for f in changed)
        )


def _versions() -> dict:
    from .tf_runtime import keras, tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
