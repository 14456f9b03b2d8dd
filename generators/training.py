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
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

from .errors import ConfigError, TrainingError

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
