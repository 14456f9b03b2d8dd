"""Retraining in a child process, one at a time per model, swapped in only when it succeeds.

The child is ``python -m generators train MODEL --progress json ...``; each
JSON line it prints becomes a progress callback (epoch, loss, validation loss,
ETA). Versions live in ``DATA_DIR/checkpoints/MODEL/vYYYYmmdd-HHMMSS/``;
``current.json`` there names the one serving. When the child succeeds the new
checkpoint is loaded (in a worker thread) and, if its validation loss is lower
than the serving model's on the same held-out slice of the team corpus (the
trainer scores both), swapped in; running generations finish on the old model.
A version that is not better is kept but does not serve (``promote`` serves it
anyway). If training fails, is cancelled, or dies, the old model keeps serving.
The last :data:`KEEP` versions are kept for rollback.

The child runs in its own process group: :meth:`RetrainManager.shutdown` kills
it when the bot stops, and if the bot is killed outright the child notices
that its parent is gone (``GHOSTWRITER_PARENT_PID``, see
``generators.cli``) and exits. At start-up, half-written versions (no
``weights.npz``, or ``.partial``/temporary folders) are removed, except in a
model's folder whose lock (``.MODEL.retrain.lock``, an advisory file lock that a
running retrain holds and the kernel releases when its process dies) another
bot process on the same ``DATA_DIR`` holds: its run goes on untouched.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from generators.registry import MODELS
from generators.training import child_env, failure_reason, read_event

from .commands.core import UserError
from .corpus import TeamCorpus

log = logging.getLogger("bot.retrain")
KEEP = 3


@dataclass
class RetrainJob:
    model: str
    version: str
    started_by: str
    process: asyncio.subprocess.Process | None = None
    last: dict = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    done: dict = field(default_factory=dict)  # the trainer's final line: val_loss, baseline_val_loss, ...
    waiting: str = ""  # why training has not started yet (a cluster with no CPU free), until it starts

    def progress(self) -> str:
        """Where it stands, for /status and the "already retraining" message."""
        if self.last:
            loss = self.last.get("val_loss")
            return (f"epoch {self.last.get('epoch', 0)}"
                    + (f", val_loss {loss:.3f}" if isinstance(loss, (int, float)) else ""))
        return self.waiting or "starting"


@dataclass
class RetrainOutcome:
    """How a retraining ended: the line for the admin, and the new model where one was trained."""

    message: str
    generator: Any = None  # the new model, loaded (serving or not)
    promoted: bool = False
    figures: dict = field(default_factory=dict)  # the trainer's final line: val_loss, baseline_val_loss, epochs, ...

    def __str__(self) -> str:
        return self.message


class RetrainManager:
    def __init__(self, data_dir: Path, corpora: dict[str, Path], shipped_dir: Path,
                 load: Callable[[str, Path], Any], swap: Callable[[str, Any], None],
                 trainer: list[str] | None = None):
        self.root = data_dir / "checkpoints"
        self.corpora, self.shipped_dir = corpora, shipped_dir
        self.corpus = TeamCorpus(corpora)
        self.load, self.swap = load, swap
        self.trainer = trainer or [sys.executable, "-m", "generators", "train"]
        self.jobs: dict[str, RetrainJob] = {}
        self.removed = self.clean_up()

    def clean_up(self) -> list[str]:
        """Remove what a killed run left: version folders without weights, ``.partial`` and temp folders."""
        removed = []
        if not self.root.is_dir():
            return removed
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            lock = ModelLock(folder)
            if not lock.acquire():
                log.warning("another bot process is retraining %s; its folders are left alone", folder.name)
                continue
            try:
                for entry in folder.iterdir():
                    half = entry.is_dir() and (entry.name.startswith(".") or entry.name.endswith(".partial")
                                               or (entry.name.startswith("v")
                                                   and not (entry / "weights.npz").exists()))
                    if half:
                        shutil.rmtree(entry, ignore_errors=True)
                        removed.append(f"{folder.name}/{entry.name}")
            finally:
                lock.release()
        if removed:
            log.warning("removed half-written checkpoints left by an interrupted run: %s", ", ".join(removed))
        return removed

    def shutdown(self) -> None:
        """Stop every training child (the bot is stopping): no orphan keeps a core busy."""
        for job in list(self.jobs.values()):
            job.cancelled = True
            if job.process is not None and job.process.returncode is None:
                _kill_group(job.process.pid)

    # -- versions ----------------------------------------------------------
    def versions(self, model: str) -> list[str]:
        folder = self.root / model
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("v") and (p / "weights.npz").exists())

    def _min_chars(self, model: str) -> int:
        """The shortest text corpus the serving checkpoint's windows train on (a training and a validation window)."""
        try:
            seq_len = int(json.loads((self.current(model) / "config.json").read_text())["config"]["seq_len"])
        except (OSError, ValueError, KeyError, TypeError):
            seq_len = 100
        return 2 * (seq_len + 1)

    def current(self, model: str) -> Path:
        """The checkpoint that serves ``model``: the recorded version, else the shipped one."""
        try:
            version = json.loads((self.root / model / "current.json").read_text())["version"]
        except (OSError, ValueError, KeyError, TypeError):
            version = None
        if not isinstance(version, str):
            return self.shipped_dir / model
        path = self.root / model / version
        return path if (path / "weights.npz").exists() else self.shipped_dir / model

    def _set_current(self, model: str, version: str | None) -> None:
        folder = self.root / model
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".current.{os.getpid()}.json"
        tmp.write_text(json.dumps({"version": version}))
        os.replace(tmp, folder / "current.json")

    def _prune(self, model: str) -> None:
        current = self.current(model).name
        for old in self.versions(model)[:-KEEP]:
            if old != current:
                shutil.rmtree(self.root / model / old, ignore_errors=True)

    # -- retraining ----------------------------------------------------------
    def running(self, model: str) -> RetrainJob | None:
        return self.jobs.get(model)

    def check_free(self, model: str) -> None:
        """Refuse (:class:`UserError`) while ``model`` retrains in this process."""
        job = self.jobs.get(model)
        if job is not None:
            raise UserError(f"{model} is already retraining (started by {job.started_by}, {job.progress()}); "
                            f"`/retrain cancel {model}` stops it")

    async def retrain(self, model: str, *, user: str, epochs: int | None = None, minutes: float | None = None,
                      fine_tune: bool = True, on_progress: Callable[[dict], Awaitable[None]] | None = None,
                      before_start: Callable[[], None] | None = None) -> RetrainOutcome:
        """Train, then swap in if better. Returns the outcome; raises :class:`UserError` if it cannot start."""
        self.check_free(model)
        corpus = self.corpora.get(model)
        if corpus is None or not corpus.exists():
            raise UserError(f"no team material for {model} yet: attach {MODELS[model].corpus} to `/retrain {model}` "
                            f"(file, file2, file3) or add it with `/corpus add`")
        version = datetime.now(timezone.utc).strftime("v%Y%m%d-%H%M%S")
        out = self.root / model / version
        argv = [*self.trainer, model, "--corpus", str(corpus), "--out", str(out), "--progress", "json"]
        if epochs:
            argv += ["--epochs", str(epochs)]
        if minutes:
            argv += ["--minutes", str(minutes)]
        current = self.current(model)
        if fine_tune and (current / "weights.npz").exists():
            argv += ["--init-from", str(current)]
        lock = ModelLock(self.root / model)
        if not lock.acquire():
            raise UserError(f"{model} is retraining in another bot process on this DATA_DIR; try again when it ends")
        job = self.jobs[model] = RetrainJob(model, version, user)
        try:
            problem = await asyncio.get_running_loop().run_in_executor(None, self.corpus.problem, model,
                                                                        self._min_chars(model))
            if problem is not None:  # (checked now, not found by the trainer after "Retraining...")
                raise UserError(f"{model} cannot be retrained on the team corpus: {problem}")
            if before_start is not None:
                before_start()
            return await self._run(job, argv, out, on_progress)
        finally:
            self.jobs.pop(model, None)
            shutil.rmtree(out.with_name(out.name + ".partial"), ignore_errors=True)
            lock.release()

    async def _run(self, job: RetrainJob, argv: list[str], out: Path, on_progress) -> RetrainOutcome:
        log.info("retrain %s started: %s", job.model, " ".join(argv))
        job.process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            env=child_env())
        stderr_task = asyncio.ensure_future(job.process.stderr.read())
        async for raw in job.process.stdout:
            event = read_event(raw)
            if event is None:
                continue
            if event["event"] == "done":
                job.done = event
            if event["event"] == "waiting":
                job.waiting = str(event.get("message", ""))[:200]
            if event["event"] in ("started", "epoch"):
                job.waiting = ""
            if event["event"] == "epoch":
                job.last = event
                if on_progress is not None:
                    try:
                        await on_progress(event)
                    except Exception:  # a failed progress edit must not stop training
                        log.exception("progress callback failed")
        code = await job.process.wait()
        stderr = (await stderr_task).decode("utf-8", "replace").strip().splitlines()
        if job.cancelled:
            return RetrainOutcome(f"Retraining {job.model} was cancelled; the current model keeps serving.")
        if code != 0 or not (out / "weights.npz").exists():
            reason = failure_reason(stderr, code)
            log.warning("retrain %s failed (exit %s): %s", job.model, code, "\n".join(stderr[-20:]))
            return RetrainOutcome(f"Retraining {job.model} failed: {reason[:300]}. The current model keeps serving.")
        try:
            generator = await asyncio.get_running_loop().run_in_executor(None, self.load, job.model, out)
        except Exception as exc:
            log.exception("retrained %s checkpoint does not load", job.model)
            return RetrainOutcome(f"Retraining {job.model} produced a checkpoint that does not load ({exc}); "
                                  "the current model keeps serving.")
        after, before = job.done.get("val_loss"), job.done.get("baseline_val_loss")
        figures = _figures(after, before)
        if isinstance(after, (int, float)) and isinstance(before, (int, float)) and after >= before:
            self._prune(job.model)
            return RetrainOutcome(
                f"Retrained {job.model} ({job.version}){figures}: not better than the serving model on the same "
                f"held-out slice of the team corpus, so the current model keeps serving. "
                f"`/retrain promote {job.model}` serves the new version anyway.", generator, False, job.done)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.swap, job.model, generator)  # (a roll-out waits)
        except Exception as exc:  # (a roll-out that did not come up, say)
            log.exception("retrained %s could not be served", job.model)
            return RetrainOutcome(f"Retrained {job.model} ({job.version}){figures}, but it could not be served: "
                                  f"{str(exc)[:300]}. The current model keeps serving; `/retrain promote "
                                  f"{job.model}` tries again.", generator, False, job.done)
        self._set_current(job.model, job.version)
        self._prune(job.model)
        return RetrainOutcome(f"Retrained {job.model} ({job.version}){figures}: now serving. "
                              f"`/retrain rollback {job.model}` restores the previous version.", generator, True, job.done)

    async def _serve(self, model: str, path: Path, version: str | None) -> None:
        """Load ``path`` off the event loop, swap it in, and record ``version`` (None: shipped) as serving."""
        generator = await asyncio.get_running_loop().run_in_executor(None, self.load, model, path)
        await asyncio.get_running_loop().run_in_executor(None, self.swap, model, generator)
        self._set_current(model, version)

    async def promote(self, model: str) -> str:
        """Serve the newest version although it was not better than the one serving."""
        if model in self.jobs:
            raise UserError(f"{model} is retraining; wait for it or cancel it first")
        versions = self.versions(model)
        current = self.current(model).name
        if not versions or versions[-1] == current:
            raise UserError(f"no newer version of {model} to promote")
        version = versions[-1]
        await self._serve(model, self.root / model / version, version)
        return f"{model} now serves {version}. `/retrain rollback {model}` restores the previous version."

    def cancel(self, model: str) -> str:
        job = self.jobs.get(model)
        if job is None or job.process is None:
            raise UserError(f"{model} is not retraining")
        job.cancelled = True
        _kill_group(job.process.pid, signal.SIGTERM)
        return f"Cancelling the retraining of {model}."

    async def rollback(self, model: str) -> str:
        """Serve the version before the current one (or the shipped checkpoint)."""
        if model in self.jobs:
            raise UserError(f"{model} is retraining; cancel it first")
        versions = self.versions(model)
        current = self.current(model).name
        earlier = [v for v in versions if v < current] if current in versions else []
        target_version = earlier[-1] if earlier else None
        if current not in versions:
            raise UserError(f"{model} already serves the shipped checkpoint; there is nothing to roll back")
        path = self.root / model / target_version if target_version else self.shipped_dir / model
        await self._serve(model, path, target_version)
        return f"{model} now serves {target_version or 'the shipped checkpoint'}."


def _figures(after, before) -> str:
    """``", validation loss 2.31 (serving model: 2.40)"`` from the trainer's figures, where known."""
    if not isinstance(after, (int, float)):
        return ""
    text = f", validation loss {after:.3f}"
    return text + (f" (serving model on the same slice: {before:.3f})" if isinstance(before, (int, float)) else "")


class ModelLock:
    """An advisory, non-blocking lock on a model's version folder, held while a retrain of it runs. The kernel
    releases it when the holding process dies, so a killed bot never leaves it held."""

    def __init__(self, folder: Path):
        self.path = folder.with_name(f".{folder.name}.retrain.lock")  # beside the folder: not a version
        self._handle = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()  # closing the file releases the lock


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the child's whole process group (the trainer and anything it started)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

