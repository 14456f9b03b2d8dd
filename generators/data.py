"""Corpora and tf.data pipelines shared by the generators.

Token ids (characters, or music events) become training windows two ways:

* :func:`seq2seq_dataset`: non-overlapping windows of ``seq_len + 1`` tokens,
  each giving ``seq_len`` targets (the next token at every timestep). Every
  epoch starts at a different offset so window boundaries move.
* :func:`stream_dataset` (``carry_state``): the corpus cut into parallel
  streams, batch ``k`` holding window ``k`` of every stream, so a stateful
  model carries each stream's state from one window into the next.
* :func:`window_dataset`: the book chapter's method, one target per window,
  windows every ``step`` tokens (the baseline, and bidirectional models).

Validation holds out the contiguous end of the corpus (:func:`split_ids`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CorpusError


MAX_CORPUS_BYTES = 1024 * 1024 * 1024  # 1 GB of text is far more than these models can use


@dataclass
class TextCorpus:
    path: Path
    text: str
    sha256: str
    size_bytes: int


def read_text_corpus(path: str | Path) -> TextCorpus:
    """Read a UTF-8 text corpus, with a clear error for anything unusable."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}")
    if path.is_dir():
        raise CorpusError(f"corpus is a folder, expected a text file: {path}")
    if not path.is_file():
        raise CorpusError(f"corpus is not a regular file (a device or a pipe?): {path}")
    try:
        size = path.stat().st_size
        if size > MAX_CORPUS_BYTES:
            raise CorpusError(f"corpus is {size / 2**20:.0f} MB, more than the {MAX_CORPUS_BYTES // 2**20} MB limit: {path}")
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read corpus {path}: {exc.strerror or exc}") from None
    if not raw.strip():
        raise CorpusError(f"corpus is empty: {path}")
    if b"\x00" in raw:
        raise CorpusError(f"corpus looks binary (contains NUL bytes), expected UTF-8 text: {path}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"corpus is not UTF-8 text (bad byte at offset {exc.start}): {path}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return TextCorpus(path=path, text=text, sha256=hashlib.sha256(raw).hexdigest(), size_bytes=len(raw))


def split_ids(ids: np.ndarray, val_fraction: float, seq_len: int, what: str = "characters") -> tuple[np.ndarray, np.ndarray]:
    """Hold out the contiguous end of the corpus for validation (at least one window each side)."""
    need = 2 * (seq_len + 1)
    if len(ids) < need:
        raise CorpusError(
            f"corpus has {len(ids)} {what}, shorter than one training window plus one validation window "
            f"({need} needed with seq_len={seq_len})"
        )
    n_val = max(int(len(ids) * val_fraction), seq_len + 1)
    return ids[:-n_val], ids[-n_val:]


def _tf():
    from .tf_runtime import tf

    return tf


def eval_windows(count: int, seq_len: int) -> tuple[int, np.ndarray]:
    """``(length, starts)``: the windows a sequence of ``count`` ids is scored in, from offset 0, each predicting the
    ``length`` ids after its start (a short sequence gives one short window)."""
    length = min(seq_len, count - 1)
    return length, np.arange(0, count - length, length, dtype=np.int64)


def seq2seq_dataset(ids: np.ndarray, seq_len: int, batch_size: int, *, train: bool, seed: int = 0):
    """Return ``(dataset, steps)``: batches of (x, y) with y = x shifted by one token.

    For training the dataset repeats forever (``steps`` batches make an epoch),
    each epoch from a new random offset, windows shuffled; for evaluation it is
    one pass over windows from offset 0 (a short corpus gives one short window).
    """
    tf = _tf()
    ids = np.asarray(ids, np.int32)
    length = min(seq_len, len(ids) - 1)
    per_epoch = (len(ids) - length) // length  # windows available at the largest offset
    data = tf.constant(ids)

    def window(start):
        w = data[start : start + length + 1]
        return w[:-1], w[1:]

    if not train:
        _, starts = eval_windows(len(ids), seq_len)  # (the same length)
        ds = tf.data.Dataset.from_tensor_slices(starts).map(window).batch(batch_size)
        return ds.prefetch(tf.data.AUTOTUNE), -(-len(starts) // batch_size)

    batch_size = max(1, min(batch_size, per_epoch))

    def epoch(e):
        offset = tf.random.stateless_uniform([], seed=[seed, e], maxval=length, dtype=tf.int64)
        starts = tf.range(offset, len(ids) - length, length, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices(starts).shuffle(per_epoch + 1, seed=seed)

    ds = tf.data.Dataset.range(2**62).flat_map(epoch).map(window, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return ds, per_epoch // batch_size


def window_dataset(ids: np.ndarray, seq_len: int, step: int, batch_size: int, *, train: bool, seed: int = 0):
    """Return ``(dataset, steps)``: (window, next token) pairs, windows every ``step`` tokens."""
    tf = _tf()
    ids = np.asarray(ids, np.int32)
    length = min(seq_len, len(ids) - 1)
    starts = np.arange(0, len(ids) - length, step, dtype=np.int64)
    data = tf.constant(ids)

    def window(start):
        return data[start : start + length], data[start + length]

    ds = tf.data.Dataset.from_tensor_slices(starts)
    if train:
        batch_size = max(1, min(batch_size, len(starts)))
        ds = ds.repeat().shuffle(min(len(starts), 100_000), seed=seed)
        ds = ds.map(window, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
        return ds.prefetch(tf.data.AUTOTUNE), len(starts) // batch_size
    ds = ds.map(window).batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE), -(-len(starts) // batch_size)


def stream_count(cfg, *lengths: int) -> int:
    """How many parallel streams ``carry_state`` uses: the batch size, fewer when a corpus is too short.

    Every stream of every corpus (token counts ``lengths``) must hold at least
    one window, with room for the training offset.
    """
    fits = [max(1, (n - 1) // cfg.seq_len) for n in lengths]
    return max(1, min(cfg.batch_size, *fits))


def stream_dataset(ids: np.ndarray, seq_len: int, streams: int, *, train: bool, seed: int = 0):
    """Return ``(dataset, steps)``: batches of ``streams`` windows, window ``k`` of each stream in batch ``k``.

    The ids are cut into ``streams`` contiguous streams of equal length; a
    model carrying its state across batches (reset at every epoch and before
    every evaluation) thus sees each stream in order. Training repeats forever
    (``steps`` batches an epoch), each epoch from a new random offset into the
    streams so window boundaries move; evaluation is one pass from offset 0.
    The tail that does not fill a whole window in every stream is left out.
    """
    tf = _tf()
    ids = np.asarray(ids, np.int32)
    length = min(seq_len, len(ids) - 1)
    # Room for the training offset (less when the corpus barely fills the streams).
    slack = max(0, min(length - 1, len(ids) - 1 - streams * length)) if train else 0
    per_stream = (len(ids) - 1 - slack) // streams
    windows = per_stream // length
    if windows < 1:
        raise CorpusError(f"{len(ids)} tokens cannot fill {streams} streams of {length}-token windows")
    data = tf.constant(ids)
    # Start of window k of stream b, in batch order (k major).
    grid = (np.arange(windows)[:, None] * length + np.arange(streams)[None, :] * per_stream).reshape(-1)

    def window(start):
        w = data[start : start + length + 1]
        return w[:-1], w[1:]

    if not train:
        ds = tf.data.Dataset.from_tensor_slices(grid.astype(np.int64)).map(window).batch(streams)
        return ds.prefetch(tf.data.AUTOTUNE), windows
    grid_t = tf.constant(grid, tf.int64)

    def epoch(e):
        offset = tf.random.stateless_uniform([], seed=[seed, e], maxval=slack + 1, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices(grid_t + offset)

    ds = tf.data.Dataset.range(2**62).flat_map(epoch).map(window, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(streams, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return ds, windows


def dataset_for(cfg, ids: np.ndarray, *, train: bool, seed: int = 0, streams: int | None = None):
    """``(dataset, steps)`` for the config's objective (see :func:`seq2seq_dataset`, :func:`window_dataset`).

    With ``cfg.carry_state``: :func:`stream_dataset` over ``streams`` streams
    (default: :func:`stream_count` for these ids alone).
    """
    if cfg.carry_state:
        streams = streams or stream_count(cfg, len(ids))
        return stream_dataset(ids, cfg.seq_len, streams, train=train, seed=seed)
    if cfg.objective == "window":
        return window_dataset(ids, cfg.seq_len, cfg.window_step, cfg.batch_size, train=train, seed=seed)
    return seq2seq_dataset(ids, cfg.seq_len, cfg.batch_size, train=train, seed=seed)


def training_datasets(cfg, train_ids: np.ndarray, val_ids: np.ndarray, seed: int = 0):
    """``(train_ds, train_steps, val_ds, streams)`` for the config's objective.

    ``streams`` is the stateful batch both datasets share (``carry_state``), else None.
    """
    streams = stream_count(cfg, len(train_ids), len(val_ids)) if cfg.carry_state else None
    train_ds, steps = dataset_for(cfg, train_ids, train=True, seed=seed, streams=streams)
    val_ds, _ = dataset_for(cfg, val_ids, train=False, streams=streams)
    if getattr(cfg, "epoch_steps", 0):  # (the training data repeats: an epoch is a count of steps)
        steps = min(steps, cfg.epoch_steps)
    return train_ds, max(steps, 1), val_ds, streams
