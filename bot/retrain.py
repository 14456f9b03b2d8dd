"""Retraining in a child process, one at a time per model, swapped in only when it succeeds.

The child is ``python -m generators train MODEL --progress json ...``; each
JSON line it prints becomes a progress callback (epoch, loss, validation loss,
ETA). Versions live in ``DATA_DIR/checkpoints/MODEL/vYYYYmmdd-HHMMSS/``;
``current.json`` there names the one serving. When the child succeeds the new
checkpoint is loaded (in a worker thread) and swapped in; running generations
finish on the old model. If it fails, is cancelled, or dies, the old model
keeps serving. The last :data:`KEEP` versions are kept for rollback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from .commands import UserError

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


class RetrainManager:
    def __init__(self, data_dir: Path, corpora: dict[str, Path], shipped_dir: Path,
                 load: Callable[[str, Path], Any], swap: Callable[[str, Any], None],
                 trainer: list[str] | None = None):
        from .corpus import TeamCorpus

        self.root = data_dir / "checkpoints"
        self.corpora, self.shipped_dir = corpora, shipped_dir
        self.corpus = TeamCorpus(corpora)
        self.load, self.swap = load, swap
        self.trainer = trainer or [sys.executable, "-m", "generators", "train"]
        self.jobs: dict[str, RetrainJob] = {}

    # -- versions ----------------------------------------------------------
    def versions(self, model: str) -> list[str]:
        folder = self.root / model
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("v") and (p / "weights.npz").exists())

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

    async def retrain(self, model: str, *, user: str, epochs: int | None = None, minutes: float | None = None,
                      fine_tune: bool = True, on_progress: Callable[[dict], Awaitable[None]] | None = None,
                      before_start: Callable[[], None] | None = None) -> str:
        """Train, then swap in. Returns a line for the user; raises :class:`UserError` if it cannot start."""
        if model in self.jobs:
            job = self.jobs[model]
            raise UserError(f"{model} is already retraining (started by {job.started_by}, "
                            f"epoch {job.last.get('epoch', 0)}); `/retrain cancel {model}` stops it")
        corpus = self.corpora.get(model)
        if corpus is None or not corpus.exists():
            raise UserError(f"no team corpus for {model} yet: add material with `/corpus add` first")
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
        job = self.jobs[model] = RetrainJob(model, version, user)
        if before_start is not None:
            before_start()
        try:
            return await self._run(job, argv, out, on_progress)
        finally:
            self.jobs.pop(model, None)
            shutil.rmtree(out.with_name(out.name + ".partial"), ignore_errors=True)

    async def _run(self, job: RetrainJob, argv: list[str], out: Path, on_progress) -> str:
        log.info("retrain %s started: %s", job.model, " ".join(argv))
        job.process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stderr_task = asyncio.ensure_future(job.process.stderr.read())
        async for raw in job.process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "epoch":
                job.last = event
                if on_progress is not None:
                    try:
                        await on_progress(event)
                    except Exception:  # a failed progress edit must not stop training
                        log.exception("progress callback failed")
        code = await job.process.wait()
        stderr = (await stderr_task).decode("utf-8", "replace").strip().splitlines()
        if job.cancelled:
            return f"Retraining {job.model} was cancelled; the current model keeps serving."
        if code != 0 or not (out / "weights.npz").exists():
            reason = next((line for line in reversed(stderr) if line.strip()), f"exit status {code}")
            log.warning("retrain %s failed (exit %s): %s", job.model, code, "\n".join(stderr[-20:]))
            return f"Retraining {job.model} failed: {reason[:300]}. The current model keeps serving."
        try:
            generator = await asyncio.get_running_loop().run_in_executor(None, self.load, job.model, out)
        except Exception as exc:
            log.exception("retrained %s checkpoint does not load", job.model)
            return f"Retraining {job.model} produced a checkpoint that does not load ({exc}); the current model keeps serving."
        self.swap(job.model, generator)
        self._set_current(job.model, job.version)
        self._prune(job.model)
        loss = job.last.get("val_loss")
        return (f"Retrained {job.model} ({job.version}" + (f", validation loss {loss:.3f}" if loss is not None else "")
                + "): now serving. `/retrain rollback` restores the previous version.")

    def cancel(self, model: str) -> str:
        job = self.jobs.get(model)
        if job is None or job.process is None:
            raise UserError(f"{model} is not retraining")
        job.cancelled = True
        job.process.terminate()
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
        generator = await asyncio.get_running_loop().run_in_executor(None, self.load, model, path)
        self.swap(model, generator)
        self._set_current(model, target_version)
        return f"{model} now serves {target_version or 'the shipped checkpoint'}."
