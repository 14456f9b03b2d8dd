"""Carry an LSTM's state one token at a time, in NumPy, with the Keras model's weights.

A single-token step is a few small matrix-vector products; run through a
TensorFlow function it is dominated by per-call overhead (about 1 ms on two
CPU cores for the text model), while NumPy does it in a fraction of that. The
equations are Keras's LSTM (gates in the order input, forget, cell, output;
sigmoid recurrent activation, tanh activation), and a test checks the logits
match the Keras model's to float32 precision.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # numerically safe logistic


class StepperWeights:
    """The weights a stepper needs, extracted once from a Keras model and shared by every stepper."""

    def __init__(self, model):
        layers = {layer.name: layer for layer in model.layers}
        self.embedding = np.asarray(layers["embedding"].get_weights()[0], np.float32)
        self.cells: list[tuple[np.ndarray, np.ndarray, int]] = []
        i = 0
        while f"lstm_{i}" in layers:
            kernel, recurrent, bias = layers[f"lstm_{i}"].get_weights()
            # One fused matrix: [x, h] @ [[kernel], [recurrent]].
            fused = np.concatenate([kernel, recurrent], axis=0).astype(np.float32)
            self.cells.append((fused, bias.astype(np.float32), kernel.shape[0]))
            i += 1
        if not self.cells:
            raise TypeError("model has no stateful LSTM layers (bidirectional models cannot be stepped)")
        self.dense_w, self.dense_b = (np.asarray(w, np.float32) for w in layers["logits"].get_weights())
        self.units = self.cells[0][1].shape[0] // 4


class BatchedStepper:
    """The states of up to ``capacity`` streams, stepped together: ``step(rows, tokens)``.

    One step advances every listed row by one token with one matrix product
    per layer, so 32 streams cost little more than one (the weights are read
    once per step, not once per stream). A row's result never depends on which
    other rows are stepped beside it, or where it sits: the layer products run
    on at least two rows (one row alone is doubled; OpenBLAS computes a row of
    a matrix product the same way for any number of rows from two up, but a
    single row takes a different kernel), and the logits are computed row by
    row (with a few output columns, the product's kernel varies with the row
    count). So a stream gives the same logits, to the bit, alone or in a batch.
    """

    def __init__(self, weights: StepperWeights, capacity: int = 1):
        self.embedding, self.cells = weights.embedding, weights.cells
        self.dense_w, self.dense_b, self.units = weights.dense_w, weights.dense_b, weights.units
        self.capacity = capacity
        self.h = [np.zeros((capacity, self.units), np.float32) for _ in self.cells]
        self.c = [np.zeros((capacity, self.units), np.float32) for _ in self.cells]

    def reset(self, row: int) -> None:
        """Zero one row's state (a new stream takes the row)."""
        for h, c in zip(self.h, self.c):
            h[row] = 0.0
            c[row] = 0.0

    def step(self, rows, tokens) -> np.ndarray:
        """Advance ``rows`` by one token each (``tokens[i]`` for ``rows[i]``); return their logits (n, vocab)."""
        rows = np.asarray(rows, np.intp)
        tokens = np.asarray(tokens, np.intp)
        n = len(rows)
        if n == 1:  # doubled: the same product kernel as for a batch (see the class docstring)
            rows, tokens = np.repeat(rows, 2), np.repeat(tokens, 2)
        x = self.embedding[tokens]
        u = self.units
        for layer, (fused, bias, _) in enumerate(self.cells):
            h_prev, c_prev = self.h[layer][rows], self.c[layer][rows]
            z = np.concatenate([x, h_prev], axis=1) @ fused
            z += bias
            i, f, o = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u]), _sigmoid(z[:, 3 * u:])
            c = f * c_prev + i * np.tanh(z[:, 2 * u:3 * u])
            x = o * np.tanh(c)
            self.c[layer][rows[:n]] = c[:n]
            self.h[layer][rows[:n]] = x[:n]
        return np.stack([x[r] @ self.dense_w for r in range(n)]) + self.dense_b


class LSTMStepper:
    """Single-stream stateful runner: ``feed(ids)`` for the seed, then ``step(id)`` per token.

    The fastest path for one stream (matrix-vector products, about four times
    cheaper than the two-row products a batch uses). Its logits can differ
    from a batch row's in the last bits, so a sampled token differs only when
    a random draw falls within about 1e-7 of a boundary between two tokens;
    within a batching loop, alone or not, results are identical to the bit
    (see :class:`BatchedStepper`). Steppers are cheap; make one per
    generation (they hold that stream's state), and share one
    :class:`StepperWeights` between threads.
    """

    def __init__(self, weights: StepperWeights):
        self.embedding, self.cells = weights.embedding, weights.cells
        self.dense_w, self.dense_b, self.units = weights.dense_w, weights.dense_b, weights.units
        self._buffers = [np.zeros(fused.shape[0], np.float32) for fused, _, _ in self.cells]
        self.reset()

    def reset(self) -> None:
        self.h = [np.zeros(self.units, np.float32) for _ in self.cells]
        self.c = [np.zeros(self.units, np.float32) for _ in self.cells]

    def step(self, token: int) -> np.ndarray:
        """Advance one token; return the logits (float32, vocab) for the next one."""
        x = self.embedding[token]
        u = self.units
        for layer, (fused, bias, n_in) in enumerate(self.cells):
            buf = self._buffers[layer]
            buf[:n_in] = x
            buf[n_in:] = self.h[layer]
            z = buf @ fused
            z += bias
            i, f, o = _sigmoid(z[:u]), _sigmoid(z[u:2 * u]), _sigmoid(z[3 * u:])
            c = f * self.c[layer] + i * np.tanh(z[2 * u:3 * u])
            self.c[layer] = c
            x = self.h[layer] = o * np.tanh(c)
        return x @ self.dense_w + self.dense_b

    def feed(self, tokens) -> np.ndarray:
        """Advance over every token of a (non-empty) sequence; return the logits after the last."""
        logits = None
        for t in tokens:
            logits = self.step(int(t))
        if logits is None:
            raise ValueError("feed() needs at least one token")
        return logits
