"""The LSTM language model shared by every generator, readable top to bottom.

    tokens (batch, time) int32
      -> Embedding(vocab, embedding)
      -> [LSTM(units) -> Dropout] x layers      (cuDNN-eligible: no recurrent_dropout)
      -> Dense(vocab)                            logits for every timestep
                                                 (objective="window": the last one only)

Training uses this Keras model. Generation runs the same weights one token at
a time through :class:`generators.stepper.LSTMStepper`, which carries each
layer's (h, c) state instead of re-running a window per token.
"""

from __future__ import annotations

import numpy as np

from .tf_runtime import keras, tf


def build_model(cfg, vocab_size: int, *, streams: int | None = None) -> keras.Model:
    """Build the model described by ``cfg`` (any config with the fields used below).

    With ``streams``, the LSTM layers are stateful over a fixed batch of that
    many streams: each call starts from the state the previous one left
    (training and scoring with ``cfg.carry_state``; :func:`reset_state` clears
    it). The weights are the same either way.
    """
    windowed = cfg.objective == "window"
    if streams:
        tokens = keras.Input(batch_shape=(streams, None), dtype="int32", name="tokens")
    else:
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, cfg.embedding, name="embedding")(tokens)
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        lstm = keras.layers.LSTM(cfg.units, return_sequences=not (windowed and last), stateful=bool(streams),
                                 name=f"lstm_{i}")
        if cfg.bidirectional:
            lstm = keras.layers.Bidirectional(lstm, name=f"bilstm_{i}")
        x = lstm(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(tokens, logits, name=f"{cfg.preset}_lstm")


def reset_state(model: keras.Model) -> None:
    """Zero the carried state of a model built with ``streams``."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def window_logits(model: keras.Model, windows: np.ndarray) -> np.ndarray:
    """Logits of the token after each window (batch, time): the stateless, full-window path."""
    out = model(tf.convert_to_tensor(windows, tf.int32), training=False).numpy()
    return out if out.ndim == 2 else out[:, -1, :]
