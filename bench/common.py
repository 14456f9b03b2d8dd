"""Helpers shared by the benchmarks: timed training steps and the per-token predict loop."""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")

import numpy as np  # noqa: E402


def timed_fit(model, dataset, steps: int, targets_per_step: int, warmup: int = 2) -> float:
    """Targets per second of ``model.fit`` in its steady state.

    One ``fit`` of ``warmup + steps`` batches, timed from the end of the warm-up
    batches to the end of the last: tracing and the input pipeline's start are
    left out (a second ``fit`` call would pay part of them again, several
    seconds on two cores, inside the timed steps).
    """
    from generators.tf_runtime import keras

    ends: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())

    model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[Clock()])
    return steps * targets_per_step / (ends[-1] - ends[warmup - 1])


def predict_loop(model, window: np.ndarray, n: int, choose, to_input=lambda w: np.array([w])) -> float:
    """The baseline generation loop: ``model.predict`` over the whole window for every token. Returns tokens/s."""
    window = list(window)
    start = time.perf_counter()
    for _ in range(n):
        probs = model.predict(to_input(window), verbose=0)
        token = choose(probs)
        window = window[1:] + [token]
    return n / (time.perf_counter() - start)
