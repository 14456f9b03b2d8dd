"""A bounded generation queue: a thread pool, a global depth limit, per-user limits and rate buckets.

Generation is CPU work in a library that knows nothing of asyncio; it runs in a
``ThreadPoolExecutor`` through ``run_in_executor`` so the event loop (and the
Discord heartbeat) never waits on it. Past ``queue_depth`` jobs, or past a
user's own limits (:mod:`bot.limits`: jobs at once and a token bucket, kept in
this process or shared by every process over one ``DATA_DIR``), a request is
refused at once with :class:`Busy` instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from .limits import Busy, LocalLimits

T = TypeVar("T")
__all__ = ["Busy", "JobQueue"]


class JobQueue:
    def __init__(self, workers: int, queue_depth: int, user_max_jobs: int, user_burst: int = 5,
                 user_rate: float = 0.5, clock: Callable[[], float] = time.monotonic, limits=None):
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="generate")
        self.workers, self.queue_depth = workers, queue_depth
        # Per-user limits: this process's own, or a bot.limits.SharedLimits (opened) shared by several processes.
        self.limits = limits if limits is not None else LocalLimits(user_max_jobs, user_burst, user_rate, clock)
        self.active = 0  # queued + running
        self._running = 0  # running in a pool thread now
        self._idle = threading.Condition()
        self._tickets: dict[int, list] = defaultdict(list)  # user -> what each admitted job of theirs holds

    def admit(self, user_id: int) -> None:
        """Reserve a place for one job of ``user_id`` or raise :class:`Busy`."""
        if self.active >= self.queue_depth:
            raise Busy(f"The bot is busy ({self.active} jobs queued). Please try again in a minute.")
        self._tickets[user_id].append(self.limits.admit(user_id))
        self.active += 1

    def release(self, user_id: int) -> None:
        self.active -= 1
        tickets = self._tickets.get(user_id)
        ticket = tickets.pop() if tickets else None
        if tickets is not None and not tickets:
            del self._tickets[user_id]
        self.limits.release(user_id, ticket)

    async def run(self, user_id: int, fn: Callable[..., T], *args) -> T:
        """Admit, run ``fn(*args)`` in the pool, release. Raises :class:`Busy` when refused."""
        self.admit(user_id)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, self._counted, fn, *args)
        finally:
            self.release(user_id)

    def _counted(self, fn: Callable[..., T], *args) -> T:
        with self._idle:
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        if hasattr(self.limits, "close"):
            self.limits.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs in the pool (at most ``timeout`` seconds); True when none does."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)
