"""Self-describing checkpoint folders, written atomically.

A checkpoint is a folder holding everything needed to rebuild and use a model::

    config.json   {"format": 1, "kind": "text", "config": {...}}   the config dataclass
    vocab.json    the vocabulary (index table; a text model's also lists its corpus's words, for rhymes)
    metrics.json  training metrics: validation loss, corpus sha256, steps, wall time, date, ...
    weights.npz   every weight as float16, keyed by the Keras variable path

Weights are stored as float16 to keep shipped checkpoints small (half the size
of float32; the validation loss recorded is measured with the stored weights).
A checkpoint is written to a temporary sibling folder and renamed into place,
so readers see either the old complete checkpoint or the new one. Only a
checkpoint (or an empty folder) is ever replaced: a file or a folder of
anything else at the target is refused (:func:`check_target`). Temporary and
set-aside siblings carry the writer's PID, so what a killed writer left is
removed by the next write; folders get the usual permissions (0755 under the
default umask), readable by a service running as another user.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

FORMAT = 1


@dataclass
class CheckpointData:
    path: Path
    kind: str
    config: dict[str, Any]
    vocab: dict[str, Any]
    metrics: dict[str, Any]
    weights: dict[str, np.ndarray]


def _key(variable_path: str) -> str:
    return variable_path.replace("/", "__")


def quantize_weights(model) -> None:
    """Round the model's weights to float16 in place, so memory and disk hold the same model."""
    model.set_weights([np.asarray(w, np.float16).astype(np.float32) for w in model.get_weights()])


def is_checkpoint(path: Path) -> bool:
    """A folder whose config.json has this tool's header (what :func:`write_checkpoint` writes)."""
    try:
        header = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(header, dict) and header.get("format") == FORMAT and isinstance(header.get("kind"), str)


def check_target(path: str | os.PathLike, *, force: bool = False) -> None:
    """Raise :class:`CheckpointError` unless a checkpoint may be written at ``path``: nothing there, an empty
    folder, or (with ``force``) a checkpoint. Never a file, never a folder of other things."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir() or path.is_symlink():
        raise CheckpointError(f"{path} is a file, not a checkpoint folder; refusing to replace it")
    if not any(path.iterdir()):
        return
    if not is_checkpoint(path):
        raise CheckpointError(f"{path} is a folder that is not a checkpoint; refusing to replace its contents "
                              "(give a new or empty folder)")
    if not force:
        raise CheckpointError(f"{path} already holds a checkpoint; add --force to replace it")


def _sweep(path: Path) -> None:
    """Remove temporary and set-aside siblings of ``path`` whose writer process is gone."""
    for entry in path.parent.glob(f".{path.name}.*-*"):
        kind, _, rest = entry.name[len(path.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind in ("tmp", "old") and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process of this machine with that id runs (someone else's counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_checkpoint(path: str | os.PathLike, *, kind: str, model, config: dict, vocab: dict, metrics: dict,
                     force: bool = True) -> Path:
    """Write a checkpoint folder atomically; the weights are stored as float16.

    Refuses (:class:`CheckpointError`) to replace a file or a folder that is not a checkpoint, and a
    checkpoint unless ``force``."""
    path = Path(path)
    check_target(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        weights = {_key(v.path): np.asarray(v.numpy(), np.float16) for v in model.weights}
        np.savez_compressed(tmp / "weights.npz", **weights)
        for name, payload in (
            ("config.json", {"format": FORMAT, "kind": kind, "config": config}),
            ("vocab.json", vocab),
            ("metrics.json", metrics),
        ):
            (tmp / name).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Replace ``path`` by ``tmp``: the old folder is moved aside first and removed after."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)  # put the previous checkpoint back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file missing: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint file is corrupt: {path} ({exc})") from None


def read_checkpoint(path: str | os.PathLike, expected_kinds: tuple[str, ...] | None = None) -> CheckpointData:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint folder at {path}")
    header = _read_json(path / "config.json")
    if not isinstance(header, dict) or header.get("format") != FORMAT or not isinstance(header.get("config"), dict):
        raise CheckpointError(f"checkpoint file is not a format-{FORMAT} config: {path / 'config.json'}")
    kind = header.get("kind")
    if expected_kinds is not None and kind not in expected_kinds:
        raise CheckpointError(
            f"{path / 'config.json'} is a {kind!r} checkpoint, expected {' or '.join(map(repr, expected_kinds))}"
        )
    vocab = _read_json(path / "vocab.json")
    metrics = _read_json(path / "metrics.json")
    weights_path = path / "weights.npz"
    try:
        with np.load(weights_path, allow_pickle=False) as npz:
            weights = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file missing: {weights_path}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        reason = "not a NumPy weights archive" if isinstance(exc, ValueError) else str(exc)
        raise CheckpointError(f"checkpoint file is corrupt: {weights_path} ({reason})") from None
    return CheckpointData(path, kind, header["config"], vocab, metrics, weights)


def load_weights_into(model, data: CheckpointData) -> None:
    """Set the model's weights from a checkpoint, naming the file and variable on any mismatch."""
    arrays = checked_weights(data, {v.path: tuple(v.shape) for v in model.weights})
    model.set_weights([arrays[v.path] for v in model.weights])


def stepper_arrays(data: CheckpointData, config, vocab_size: int) -> dict[str, np.ndarray]:
    """The weights of a (unidirectional) model described by ``config``, as float32 arrays keyed by their Keras
    variable paths, read and checked without building the model (no TensorFlow): what serving needs."""
    units, gates = config.units, 4 * config.units
    expected = {"embedding/embeddings": (vocab_size, config.embedding)}
    for i in range(config.layers):
        expected[f"lstm_{i}/lstm_cell/kernel"] = (config.embedding if i == 0 else units, gates)
        expected[f"lstm_{i}/lstm_cell/recurrent_kernel"] = (units, gates)
        expected[f"lstm_{i}/lstm_cell/bias"] = (gates,)
    expected.update({"logits/kernel": (units, vocab_size), "logits/bias": (vocab_size,)})
    return checked_weights(data, expected)


def checked_weights(data: CheckpointData, expected: dict[str, tuple]) -> dict[str, np.ndarray]:
    """The checkpoint's weights as float32, keyed by variable path, when they are exactly ``expected`` (path ->
    shape) and finite; else :class:`CheckpointError` naming the file and the variable."""
    source = data.path / "weights.npz"
    values = {}
    for name, shape in expected.items():
        key = _key(name)
        if key not in data.weights:
            raise CheckpointError(f"{source} does not match config.json: no weight {name!r}")
        w = data.weights[key]
        if tuple(w.shape) != tuple(shape):
            raise CheckpointError(
                f"{source} does not match config.json: {name!r} has shape {tuple(w.shape)}, expected {tuple(shape)}"
            )
        if not np.isfinite(w).all():
            raise CheckpointError(f"{source} is corrupt: weight {name!r} holds NaN or infinite values")
        values[name] = w.astype(np.float32)
    extra = set(data.weights) - {_key(name) for name in expected}
    if extra:
        raise CheckpointError(f"{source} does not match config.json: unexpected weights {sorted(extra)[:3]}")
    return values
