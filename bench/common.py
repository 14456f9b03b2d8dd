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


def timed_fit(model, dataset, steps: int, targets_per_step: int) -> float:
    """Targets per second of ``model.fit`` over ``steps`` batches, after a two-batch warm-up."""
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * targets_per_step / (time.perf_counter() - start)


def predict_loop(model, window: np.ndarray, n: int, choose, to_input=lambda w: np.array([w])) -> float:
    """The baseline generation loop: ``model.predict`` over the whole window for every token. Returns tokens/s."""
    window = list(window)
    start = time.perf_counter()
    for _ in range(n):
        probs = model.predict(to_input(window), verbose=0)
        token = choose(probs)
        window = window[1:] + [token]
    return n / (time.perf_counter() - start)
