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
    """The weights a stepper needs, extracted once and shared by every stepper: from a Keras model, or
    (:meth:`from_arrays`) straight from a checkpoint's arrays, without TensorFlow."""

    def __init__(self, model):
        layers = {layer.name: layer for layer in model.layers}
        arrays = {"embedding/embeddings": layers["embedding"].get_weights()[0]}
        i = 0
        while f"lstm_{i}" in layers:
            for name, w in zip(("kernel", "recurrent_kernel", "bias"), layers[f"lstm_{i}"].get_weights()):
                arrays[f"lstm_{i}/lstm_cell/{name}"] = w
            i += 1
        if not i:
            raise TypeError("model has no stateful LSTM layers (bidirectional models cannot be stepped)")
        arrays["logits/kernel"], arrays["logits/bias"] = layers["logits"].get_weights()
        self._take(arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "StepperWeights":
        """From weights keyed by their Keras variable paths (``lstm_0/lstm_cell/kernel``; see
        :func:`generators.checkpoint.stepper_arrays`)."""
        weights = cls.__new__(cls)
        weights._take(arrays)
        return weights

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights keyed by Keras variable path (what :meth:`from_arrays` takes), to build the Keras model."""
        arrays = {"embedding/embeddings": self.embedding}
        for i, (fused, bias, inputs) in enumerate(self.cells):
            arrays.update({f"lstm_{i}/lstm_cell/kernel": fused[:inputs], f"lstm_{i}/lstm_cell/recurrent_kernel":
                           fused[inputs:], f"lstm_{i}/lstm_cell/bias": bias})
        return {**arrays, "logits/kernel": self.dense_w, "logits/bias": self.dense_b}

    def _take(self, arrays: dict[str, np.ndarray]) -> None:
        self.embedding = np.asarray(arrays["embedding/embeddings"], np.float32)
        self.cells: list[tuple[np.ndarray, np.ndarray, int]] = []
        i = 0
        while f"lstm_{i}/lstm_cell/kernel" in arrays:
            kernel, recurrent, bias = (arrays[f"lstm_{i}/lstm_cell/{n}"] for n in ("kernel", "recurrent_kernel", "bias"))
            # One fused matrix: [x, h] @ [[kernel], [recurrent]].
            fused = np.concatenate([kernel, recurrent], axis=0).astype(np.float32)
            self.cells.append((fused, np.asarray(bias, np.float32), kernel.shape[0]))
            i += 1
        self.dense_w, self.dense_b = (np.asarray(arrays[f"logits/{n}"], np.float32) for n in ("kernel", "bias"))
        self.units = self.cells[0][1].shape[0] // 4


#: Up to this many rows are stepped one by one: BLAS's product of a few rows costs more than as many
#: matrix-vector products (it repacks the weights for each call); from 6 rows on the product is cheaper.
ROWWISE_UP_TO = 4


class BatchedStepper:
    """The states of up to ``capacity`` streams, stepped together: ``step(rows, tokens)``.

    One step advances every listed row by one token with one matrix product
    per layer, so 32 streams cost a few single steps, not 32 (the weights are read
    once per step, not once per stream). A row stepped alone takes the
    single-stream path (matrix-vector products, several times cheaper than a
    product of two rows), so a lone request runs at :class:`LSTMStepper`'s
    speed and gives its tokens; so do up to :data:`ROWWISE_UP_TO` rows (each
    stepped alone, the same arithmetic); when more join, the same state is
    carried on by the batch's matrix products.

    What is guaranteed: a row's logits are the same function of its own
    tokens whatever rows are beside it, up to float32 rounding. They are not
    promised to the bit: BLAS libraries choose their kernels (and so the order
    in which a dot product is summed) by CPU model and by the number of rows,
    so a row of a 5-row product may differ from the same row alone in the last
    bits. A sampled token can change only when its random draw falls within
    that rounding of a boundary between two tokens (see the README's
    "Determinism" for how often that was measured).

    ``exact=True`` steps every row alone (matrix-vector products, row by row):
    each row then computes exactly what it computes alone, by construction,
    on any CPU, at the price of batching's speed-up.
    """

    def __init__(self, weights: StepperWeights, capacity: int = 1, exact: bool = False):
        self.embedding, self.cells = weights.embedding, weights.cells
        self.dense_w, self.dense_b, self.units = weights.dense_w, weights.dense_b, weights.units
        self.capacity, self.exact = capacity, exact
        dtype = self.embedding.dtype  # float32 (float64 where a test casts the weights)
        self.h = [np.zeros((capacity, self.units), dtype) for _ in self.cells]
        self.c = [np.zeros((capacity, self.units), dtype) for _ in self.cells]
        self._buffers = [np.zeros(fused.shape[0], dtype) for fused, _, _ in self.cells]  # a row stepped alone

    def reset(self, row: int) -> None:
        """Zero one row's state (a new stream takes the row)."""
        for h, c in zip(self.h, self.c):
            h[row] = 0.0
            c[row] = 0.0

    def load(self, row: int, state) -> None:
        """Put a saved state (:meth:`save`, or :attr:`LSTMStepper.state`) into one row."""
        for layer, (h, c) in enumerate(zip(*state)):
            self.h[layer][row] = h
            self.c[layer][row] = c

    def save(self, row: int):
        """A copy of one row's state: ``(h per layer, c per layer)``."""
        return [h[row].copy() for h in self.h], [c[row].copy() for c in self.c]

    def step(self, rows, tokens) -> np.ndarray:
        """Advance ``rows`` by one token each (``tokens[i]`` for ``rows[i]``); return their logits (n, vocab)."""
        if len(rows) <= ROWWISE_UP_TO or self.exact:  # few rows (or exact): matrix-vector products, row by row
            return np.stack([self.step_row(int(r), int(t)) for r, t in zip(rows, tokens)])
        rows = np.asarray(rows, np.intp)
        x = self.embedding[np.asarray(tokens, np.intp)]
        for layer, (fused, bias, _) in enumerate(self.cells):
            x, c = _cell(x, self.h[layer][rows], self.c[layer][rows], fused, bias, self.units)
            self.c[layer][rows] = c
            self.h[layer][rows] = x
        return x @ self.dense_w + self.dense_b

    def step_row(self, row: int, token: int) -> np.ndarray:
        """Advance one row alone (its logits, 1-D), with :class:`LSTMStepper`'s arithmetic, in place on its state."""
        x = self.embedding[token]
        for layer, (fused, bias, _) in enumerate(self.cells):
            x, self.c[layer][row] = _cell(x, self.h[layer][row], self.c[layer][row], fused, bias, self.units,
                                          self._buffers[layer])
            self.h[layer][row] = x
        return x @ self.dense_w + self.dense_b


def _cell(x: np.ndarray, h: np.ndarray, c: np.ndarray, fused: np.ndarray, bias: np.ndarray, u: int,
          buf: np.ndarray | None = None):
    """One LSTM cell step (Keras's equations) for one stream (vectors) or a batch (rows); returns (h, c).
    ``buf``: for one stream, a preallocated ``[x, h]`` vector (the same product, without an allocation)."""
    if buf is None:
        z = np.concatenate([x, h], axis=-1) @ fused
    else:
        buf[:x.shape[-1]] = x
        buf[x.shape[-1]:] = h
        z = buf @ fused
    z += bias
    return _gates(z, c, u)


def _gates(z: np.ndarray, c: np.ndarray, u: int):
    """Keras's LSTM gates from the pre-activations ``z`` (input, forget, cell, output): the new ``(h, c)``."""
    i, f, o = _sigmoid(z[..., :u]), _sigmoid(z[..., u:2 * u]), _sigmoid(z[..., 3 * u:])
    c = f * c + i * np.tanh(z[..., 2 * u:3 * u])
    return o * np.tanh(c), c


def feed_state(weights: StepperWeights, state, tokens):
    """The LSTM state after feeding ``tokens`` from ``state`` (None: zeros), when only the state is wanted (a
    known line of a song): layer by layer, so each layer's input products for every token are one matrix
    product and only the recurrent half is stepped token by token, and no logits are computed. The same
    function as :meth:`LSTMStepper.feed` up to float32 rounding (about half the work for the lyrics model)."""
    tokens = np.asarray(tokens, np.intp).reshape(-1)
    u, dtype = weights.units, weights.embedding.dtype
    if state is None:
        state = [np.zeros(u, dtype)] * len(weights.cells), [np.zeros(u, dtype)] * len(weights.cells)
    if not len(tokens):
        return [h.copy() for h in state[0]], [c.copy() for c in state[1]]
    x = weights.embedding[tokens]
    hs, cs = [], []
    for layer, (fused, bias, inputs) in enumerate(weights.cells):
        zx = x @ fused[:inputs] + bias  # (tokens, 4 units): the input's share of every step at once
        recurrent = fused[inputs:]
        h, c = np.array(state[0][layer], dtype), np.array(state[1][layer], dtype)
        out = np.empty((len(tokens), u), dtype)
        for t in range(len(tokens)):
            h, c = _gates(zx[t] + h @ recurrent, c, u)
            out[t] = h
        hs.append(h)
        cs.append(c)
        x = out
    return hs, cs


class LSTMStepper:
    """Single-stream stateful runner: ``feed(ids)`` for the seed, then ``step(id)`` per token.

    The fastest path for one stream (matrix-vector products), and the same
    arithmetic as a row stepped alone in a :class:`BatchedStepper`, so the CLI
    and a lone request in the bot give the same tokens for the same RNG seed.
    Steppers are cheap; make one per generation (they hold that stream's
    state), and share one :class:`StepperWeights` between threads.
    """

    def __init__(self, weights: StepperWeights):
        self.embedding, self.cells = weights.embedding, weights.cells
        self.dense_w, self.dense_b, self.units = weights.dense_w, weights.dense_b, weights.units
        self._buffers = [np.zeros(fused.shape[0], self.embedding.dtype) for fused, _, _ in self.cells]
        self.reset()

    def reset(self) -> None:
        self.h = [np.zeros(self.units, self.embedding.dtype) for _ in self.cells]
        self.c = [np.zeros(self.units, self.embedding.dtype) for _ in self.cells]

    @property
    def state(self):
        """A copy of the state, ``(h per layer, c per layer)``: to fork a stream (see :meth:`BatchedStepper.load`)."""
        return [h.copy() for h in self.h], [c.copy() for c in self.c]

    @state.setter
    def state(self, state) -> None:
        self.h, self.c = [np.array(h) for h in state[0]], [np.array(c) for c in state[1]]

    def step(self, token: int) -> np.ndarray:
        """Advance one token; return the logits (float32, vocab) for the next one."""
        x = self.embedding[token]
        for layer, (fused, bias, _) in enumerate(self.cells):
            x, self.c[layer] = _cell(x, self.h[layer], self.c[layer], fused, bias, self.units, self._buffers[layer])
            self.h[layer] = x
        return x @ self.dense_w + self.dense_b

    def feed(self, tokens) -> np.ndarray:
        """Advance over every token of a (non-empty) sequence; return the logits after the last."""
        logits = None
        for t in tokens:
            logits = self.step(int(t))
        if logits is None:
            raise ValueError("feed() needs at least one token")
        return logits
