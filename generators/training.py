"""The one training loop for every generator.

``fit_model`` compiles a freshly built model under a ``tf.distribute`` strategy
(mirrored across GPUs when several are visible, the default strategy
otherwise), trains it with Adam and global-norm gradient clipping, keeps the
best weights by validation loss, halves the learning rate on a plateau, stops
early after ``patience`` epochs without improvement or when the ``minutes``
budget runs out, and reports progress as a bar, JSON lines, or not at all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import checkpoint
from .data import dataset_for, eval_windows, stream_count, training_datasets
from .errors import ConfigError, TrainingError

if TYPE_CHECKING:
    from .sequence import SequenceGenerator

PROGRESS_MODES = ("bar", "json", "none")


def distribution_strategy():
    from .tf_runtime import tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_threads(threads: int | None) -> None:
    """Limit TensorFlow's CPU threads; takes effect only before TensorFlow is first imported."""
    if threads:

        if "generators.tf_runtime" in sys.modules:
            raise ConfigError("the thread count must be set before TensorFlow starts")
        os.environ["GHOSTWRITER_TF_THREADS"] = str(threads)


@dataclass
class FitResult:
    best_val_loss: float
    best_epoch: int
    train_loss_at_best: float
    epochs: int
    steps: int
    targets: int
    wall_time_s: float
    stopped_because: str
    history: list[dict] = field(default_factory=list)


def emit(progress: str, event: dict) -> None:
    """One machine-readable progress line on stdout (``--progress json``)."""
    if progress == "json":
        print(json.dumps(event), flush=True)


# -- the trainer as a child process (the bot's retrain manager, a Ray training task): one relay's pieces ----------
def child_env() -> dict[str, str]:
    """The environment of a ``python -m generators train`` child: it exits when this process is gone."""
    return {**os.environ, "GHOSTWRITER_PARENT_PID": str(os.getpid())}


def read_event(line: str | bytes) -> dict | None:
    """A progress line of the child (see :func:`emit`) as an event, or None for any other line."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def failure_reason(stderr_lines: list[str], code: int | None) -> str:
    """Why a child trainer failed, in one line: its last words on stderr (its own one-line error), else its
    exit status."""
    return next((line.strip() for line in reversed(stderr_lines) if line.strip()), f"exit status {code}")


class _Supervisor:
    """Keras callback logic: best weights, early stopping, time budget, progress lines."""

    def __init__(self, *, patience, minutes, max_epochs, progress, on_improve, unit="token"):
        from .model import reset_state
        from .tf_runtime import keras

        outer = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                outer.start = time.monotonic()

            # A model carrying its state across batches (carry_state) starts every pass afresh.
            def on_epoch_begin(self, epoch, logs=None):
                reset_state(self.model)

            def on_test_begin(self, logs=None):
                reset_state(self.model)

            def on_train_batch_end(self, batch, logs=None):
                outer.steps += 1
                if outer.deadline is not None and time.monotonic() >= outer.deadline:
                    outer.stopped_because = "time budget"
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                outer.epoch_end(self.model, epoch, logs or {})

        self.callback = Callback()
        self.patience, self.max_epochs = patience, max_epochs
        self.progress, self.on_improve, self.unit = progress, on_improve, unit
        self.start = time.monotonic()
        self.deadline = None if minutes is None else self.start + minutes * 60
        self.minutes = minutes
        self.steps = 0
        self.best = math.inf
        self.best_epoch = -1
        self.best_weights = None
        self.train_loss_at_best = math.nan
        self.bad_epochs = 0
        self.history: list[dict] = []
        self.stopped_because = "epochs"

    def epoch_end(self, model, epoch: int, logs: dict) -> None:
        elapsed = time.monotonic() - self.start
        val = float(logs.get("val_loss", math.nan))
        loss = float(logs.get("loss", math.nan))
        improved = val < self.best
        record = {
            "epoch": epoch + 1, "loss": loss, "val_loss": val, "best": improved,
            "lr": float(model.optimizer.learning_rate.numpy()), "steps": self.steps, "elapsed_s": round(elapsed, 1),
        }
        self.history.append(record)
        if improved:
            self.best, self.best_epoch, self.train_loss_at_best = val, epoch + 1, loss
            self.best_weights = model.get_weights()
            self.bad_epochs = 0
            if self.on_improve is not None:
                self.on_improve(model, record)
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.stopped_because = "early stopping"
                model.stop_training = True
        eta = self._eta(epoch + 1, elapsed)
        if self.progress == "json":
            emit("json", {"event": "epoch", **record, "max_epochs": self.max_epochs, "eta_s": eta})
        elif self.progress == "bar":
            eta_text = "" if eta is None else f", ETA {eta / 60:.1f} min"
            mark = " (best)" if improved else ""
            print(
                f"epoch {epoch + 1}/{self.max_epochs}: loss {loss:.4f}, val_loss {val:.4f} nats/{self.unit}{mark}, "
                f"{elapsed / 60:.1f} min{eta_text}",
                file=sys.stderr, flush=True,
            )

    def _eta(self, epochs_done: int, elapsed: float) -> float | None:
        by_epochs = (self.max_epochs - epochs_done) * elapsed / max(epochs_done, 1)
        if self.deadline is not None:
            return round(max(0.0, min(by_epochs, self.deadline - time.monotonic())), 1)
        return round(by_epochs, 1)


def fit_model(
    build: Callable[[], object],
    cfg,
    train_ds,
    train_steps: int,
    val_ds,
    *,
    epochs: int | None,
    minutes: float | None,
    progress: str = "bar",
    targets_per_step: int,
    on_improve: Callable[[object, dict], None] | None = None,
    unit: str = "token",
):
    """Build (inside the strategy scope), compile and train; return ``(model_with_best_weights, FitResult)``."""
    from .tf_runtime import keras

    max_epochs = epochs if epochs is not None else 100_000
    strategy = distribution_strategy()
    with strategy.scope():
        model = build()
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clipnorm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    sup = _Supervisor(
        patience=cfg.patience, minutes=minutes, max_epochs=max_epochs, progress=progress, on_improve=on_improve,
        unit=unit,
    )
    callbacks = [sup.callback, keras.callbacks.TerminateOnNaN()]
    if cfg.lr_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=cfg.lr_patience, min_lr=1e-5, verbose=0))
    verbose = 0 if progress != "bar" else (1 if sys.stderr.isatty() else 0)
    # Keras warns that fit(shuffle=True) is ignored for datasets; ours are shuffled in tf.data.
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    emit(progress, {"event": "start", "steps_per_epoch": train_steps, "max_epochs": max_epochs, "minutes": minutes})
    model.fit(
        train_ds, steps_per_epoch=train_steps, epochs=max_epochs, validation_data=val_ds,
        callbacks=callbacks, verbose=verbose,
    )
    if sup.best_weights is None:  # never a finite validation loss: nothing worth keeping or writing
        raise TrainingError("training diverged: the loss was never a finite number (NaN or inf); "
                            f"try a lower learning_rate than {cfg.learning_rate:g}")
    model.set_weights(sup.best_weights)
    wall = time.monotonic() - sup.start
    result = FitResult(
        best_val_loss=sup.best, best_epoch=sup.best_epoch, train_loss_at_best=sup.train_loss_at_best,
        epochs=len(sup.history), steps=sup.steps, targets=sup.steps * targets_per_step,
        wall_time_s=round(wall, 1), stopped_because=sup.stopped_because, history=sup.history,
    )
    return model, result


# -- a generator trained and scored (the generator classes load and serve; this is where they learn) -------------
def fit_generator(
    cls, kind: str, train_ids: np.ndarray, val_ids: np.ndarray, vocab, config, *, corpus_metrics: dict[str, Any],
    epochs: int | None, minutes: float | None, out: str | Path | None, progress: str, data_seed: int,
    init_from: "SequenceGenerator | None",
):
    """Train a generator of class ``cls`` on token ids, keep the best weights by the loss on ``val_ids``, return it.

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
        baseline = round(loss_on(init_from, val_ids, scoring=config, streams=streams), 4)
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


def loss_on(gen, ids: np.ndarray, *, scoring=None, streams: int | None = None) -> float:
    """Mean cross-entropy in nats per token over ``ids``, in windows of the config's length.

    ``scoring`` (default: this model's config) says how: windows from a zero
    state, or with ``carry_state`` parallel streams that carry the state
    from window to window (``streams`` of them, default as many as fit).
    """
    from .model import build_model, reset_state
    from .tf_runtime import keras

    scoring = scoring or gen.config
    model = gen.model
    if scoring.carry_state:
        streams = streams or stream_count(scoring, len(ids))
        model = build_model(gen.config, len(gen.vocab), streams=streams)
        model.set_weights(gen.model.get_weights())
        reset_state(model)
    ds, _ = dataset_for(scoring, ids, train=False, streams=streams)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return float(model.evaluate(ds, verbose=0))

def token_losses(gen, ids: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, nats)``: each scored token's id and cross-entropy, in the zero-state windows of the
    config's length that :meth:`loss_on` scores (seq2seq, without ``carry_state``), for a breakdown
    by kind of token."""
    if gen.config.carry_state or gen.config.objective != "seq2seq":
        raise ConfigError("a per-token breakdown needs a seq2seq model scored from a zero state")
    ids = np.asarray(ids, np.int32)
    length, starts = eval_windows(len(ids), gen.config.seq_len)
    targets, nats = [], []
    for i in range(0, len(starts), batch):
        rows = np.stack([ids[s:s + length + 1] for s in starts[i:i + batch]])
        logits = np.asarray(gen.model(rows[:, :-1], training=False), np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        log_z = np.log(np.exp(logits).sum(axis=-1))
        picked = np.take_along_axis(logits, rows[:, 1:, None], axis=-1)[..., 0]
        targets.append(rows[:, 1:].ravel())
        nats.append((log_z - picked).ravel())
    return np.concatenate(targets), np.concatenate(nats)


#: Config fields that define the network; fine-tuning must keep them.
ARCHITECTURE_FIELDS = ("embedding", "layers", "units", "bidirectional", "objective")


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
