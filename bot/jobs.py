"""A bounded generation queue: a thread pool, a global depth limit, per-user limits and rate buckets.

Generation is CPU work in a library that knows nothing of asyncio; it runs in a
``ThreadPoolExecutor`` through ``run_in_executor`` so the event loop (and the
Discord heartbeat) never waits on it. Past ``queue_depth`` jobs, or past a
user's own limits, a request is refused at once with :class:`Busy` instead of
waiting forever.

Each user has a token bucket: ``user_burst`` commands may come in a row, then
one more every ``1 / user_rate`` seconds (a full bucket refills in
``user_burst / user_rate`` s). ``user_burst=0`` turns the bucket off.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """The request was refused for load; the message is for the user."""


class JobQueue:
    def __init__(self, workers: int, queue_depth: int, user_max_jobs: int, user_burst: int = 5,
                 user_rate: float = 0.5, clock: Callable[[], float] = time.monotonic):
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="generate")
        self.workers, self.queue_depth = workers, queue_depth
        self.user_max_jobs, self.user_burst, self.user_rate = user_max_jobs, user_burst, user_rate
        self.clock = clock
        self.active = 0  # queued + running
        self._running = 0  # running in a pool thread now
        self._idle = threading.Condition()
        self.per_user: dict[int, int] = {}
        self.buckets: dict[int, tuple[float, float]] = {}  # user -> (tokens, when counted)

    def admit(self, user_id: int) -> None:
        """Reserve a place for one job of ``user_id`` or raise :class:`Busy`."""
        now = self.clock()
        if self.active >= self.queue_depth:
            raise Busy(f"The bot is busy ({self.active} jobs queued). Please try again in a minute.")
        if self.per_user.get(user_id, 0) >= self.user_max_jobs:
            raise Busy(f"You already have {self.user_max_jobs} jobs running; wait for them to finish.")
        tokens = self._tokens(user_id, now)
        if self.user_burst and tokens < 1:
            wait = (1 - tokens) / self.user_rate
            raise Busy(f"Slow down: that is more than {self.user_burst} commands in a row; try again in {wait:.1f} s.")
        self.active += 1
        self.per_user[user_id] = self.per_user.get(user_id, 0) + 1
        if self.user_burst:
            self.buckets[user_id] = (tokens - 1, now)

    def _tokens(self, user_id: int, now: float) -> float:
        """The user's bucket, refilled at ``user_rate`` per second up to ``user_burst``."""
        tokens, then = self.buckets.get(user_id, (float(self.user_burst), now))
        return min(float(self.user_burst), tokens + (now - then) * self.user_rate)

    def release(self, user_id: int) -> None:
        self.active -= 1
        left = self.per_user.get(user_id, 1) - 1
        if left:
            self.per_user[user_id] = left
        else:
            self.per_user.pop(user_id, None)

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

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs in the pool (at most ``timeout`` seconds); True when none does."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)
