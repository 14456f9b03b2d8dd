"""Continuous batching: one stepping loop per loaded model, shared by every request for it.

    scheduler = BatchScheduler(weights, max_batch=32)
    tokens = scheduler.run(prime_ids, TokenStream(400, opts, rng))   # from any thread; blocks until done

A request is a :class:`~generators.sampling.TokenStream` (its own sampling
options, RNG and stop rule) plus the token ids that prime it. The loop thread
keeps up to ``max_batch`` requests in the rows of one
:class:`~generators.stepper.BatchedStepper`; every step advances each of them
by one token. A request joins at the next step boundary after it arrives
(first feeding its prime, one token per step, then sampling), and leaves the
moment its stream is done, freeing its row for the next one; requests past
``max_batch`` wait in arrival order, so none starves. A request that is alone
in the loop is stepped on the single-stream path (matrix-vector products), as
fast as without a loop and with the same tokens; a caller that waits
(:meth:`BatchScheduler.run_many`) while the loop is idle steps its requests
in its own thread, handing them to the loop when another request comes, so a
lone caller of many short requests (a song's lines) pays no hand-off between
threads. Beside others, a request's logits are
the same up to float32 rounding (see :class:`~generators.stepper.BatchedStepper`),
or to the bit with ``exact=True``. A request whose stream raises fails alone; a
failure of the step itself fails the requests in it, and the loop goes on.

:meth:`BatchScheduler.close` drains: requests already submitted finish, new
ones run alone in the caller's thread (a model swap closes the old model's
loop while the new one takes the traffic).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future

from .engine import Row, advance, rows_for, seat, seat_row, step_alone
from .errors import GenerationError
from .sampling import TokenStream
from .stepper import BatchedStepper, StepperWeights

log = logging.getLogger("generators.scheduler")


def beside_threads() -> int:
    """Threads that may work beside a batching loop at once: as many as the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (not on every platform)
        return os.cpu_count() or 1


class BatchScheduler:
    """The batching loop of one model (see the module docstring)."""

    def __init__(self, weights: StepperWeights, max_batch: int = 32, name: str = "model", exact: bool = False):
        if not isinstance(max_batch, int) or max_batch < 1:
            raise GenerationError(f"max_batch must be a positive integer, got {max_batch!r}")
        self.weights, self.max_batch, self.name, self.exact = weights, max_batch, name, exact
        self._cv = threading.Condition()
        self._waiting: deque[Row] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._busy = False  # the loop has requests in its rows
        self._here_runs = False  # a caller steps its requests in its own thread (see run_many)
        self._beside = threading.BoundedSemaphore(beside_threads())
        # Counters (read by the benchmark and tests): steps taken, rows stepped, requests finished.
        self.steps = self.rows_stepped = self.finished = 0

    # -- the callers' side --------------------------------------------------
    def submit(self, prime_ids, stream: TokenStream, state=None) -> Future:
        """Queue a request; the future's result is the stream's tokens. After :meth:`close`, runs it here.

        ``state``: an LSTM state to start from instead of zeros (a fork of another stream: see
        :attr:`~generators.stepper.LSTMStepper.state`). When done, ``stream.state`` holds the row's state before its
        last token (which the next request from there feeds first)."""
        return self.submit_many(prime_ids, [stream], state)[0]

    def submit_many(self, prime_ids, streams: list[TokenStream], state=None) -> list[Future]:
        """Queue several requests at once, so they join at one step boundary and are stepped side by side (as
        :func:`~generators.engine.run_together` steps them)."""
        requests = rows_for(prime_ids, streams, state)
        if not self._enqueue(requests):  # closed: the model is being replaced; finish these without a loop
            self._here(requests, claimed=False)
        return [r.future for r in requests]

    def run(self, prime_ids, stream: TokenStream, state=None) -> list[int]:
        """Submit and wait (call from a worker thread, never from an event loop); see :meth:`run_many`."""
        return self.run_many(prime_ids, [stream], state)[0]

    def run_many(self, prime_ids, streams: list[TokenStream], state=None) -> list[list[int]]:
        """Submit several requests (as :meth:`submit_many`) and wait for their tokens.

        When the loop has nothing to do, they are stepped here, in the caller's thread, with the loop's arithmetic,
        so a lone caller hands nothing to the loop's thread and back (a song's lines are many short requests); the
        moment another request arrives, they are handed to the loop and carried on there from where they are."""
        requests = rows_for(prime_ids, streams, state)
        if self._claim_idle():
            self._here(requests, claimed=True)
        elif not self._enqueue(requests):  # closed
            self._here(requests, claimed=False)
        return [r.future.result() for r in requests]

    def beside(self):
        """A context for work with this model's weights done outside the loop (a song's known lines fed, a rhyme
        searched): at most :func:`beside_threads` such pieces at once. Left to the OS, a crowd of 32 songs ran its
        side work in as many threads as songs were at it, and the loop, one runnable thread among many, stepped
        at half its speed (32 songs at once on 2 cores: 3.1 s; one piece at a time leaves a core idle while the
        loop waits on songs: 3.1 s; two at a time: 2.6 s)."""
        return self._beside

    def _enqueue(self, requests: list[Row]) -> bool:
        """Queue requests for the loop (started if none runs); False once the scheduler is closed."""
        with self._cv:
            if self._closed:
                return False
            self._waiting.extend(requests)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"batch-{self.name}", daemon=True)
                self._thread.start()
            self._cv.notify()
            return True

    def _claim_idle(self) -> bool:
        """True (and the loop's work is this caller's until :meth:`_here` ends) when nothing is queued or stepped."""
        with self._cv:
            if self._closed or self._waiting or self._busy or self._here_runs:
                return False
            self._here_runs = True
            return True

    def _here(self, requests: list[Row], claimed: bool) -> None:
        """Step requests in this thread until they are done. ``claimed`` (an idle claim, the loop open): they are
        handed to the loop as soon as it has other work, each with its state and its place in its prime."""
        stepper = BatchedStepper(self.weights, capacity=len(requests), exact=self.exact)
        active = seat(stepper, requests)
        try:
            while active:
                if claimed and (self._waiting or self._busy):  # (read without the lock: one step late at most)
                    for request in active:
                        request.state = stepper.save(request.row)
                    with self._cv:
                        self._here_runs = claimed = False
                    if self._enqueue(active):
                        return
                active = self._step(stepper, active)
        finally:
            if claimed:
                with self._cv:
                    self._here_runs = False

    def _step(self, stepper: BatchedStepper, active: list[Row]) -> list[Row]:
        """:func:`~generators.engine.advance`, counted."""
        still = advance(stepper, active, self.name)
        self.steps += 1
        self.rows_stepped += len(active)
        self.finished += sum(1 for r in active if r.future.done() and not r.future.exception())
        return still

    def close(self, wait: bool = False, timeout: float | None = None) -> None:
        """Stop taking requests into the loop; those already submitted finish. ``wait``: until they have."""
        with self._cv:
            self._closed = True
            self._cv.notify()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the loop ------------------------------------------------------------
    def _loop(self) -> None:
        active: list[Row] = []
        try:
            self._run_loop(active)
        except BaseException as exc:  # a bug in the loop itself: no request may wait forever
            log.exception("the batching loop of %s stopped", self.name)
            with self._cv:
                stranded, self._waiting = list(self._waiting) + active, deque()
                self._thread, self._busy = None, False  # the next submission starts a fresh loop
            for request in stranded:
                if not request.future.done():
                    request.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))

    def _run_loop(self, active: list[Row]) -> None:
        stepper = BatchedStepper(self.weights, capacity=self.max_batch, exact=self.exact)
        free = list(range(self.max_batch - 1, -1, -1))
        while True:
            with self._cv:
                self._busy = bool(active)
                while not self._waiting and not active:
                    if self._closed:
                        self._thread = None
                        return
                    self._cv.wait()
                while self._waiting and free:  # join at this step boundary
                    request = self._waiting.popleft()
                    if not (request.future.running() or request.future.set_running_or_notify_cancel()):
                        continue  # cancelled while waiting
                    active.append(request)
                    row = free.pop()
                    stepper.reset(row)
                    seat_row(stepper, request, row)
                self._busy = bool(active)
            if not active:
                continue
            if len(active) == 1 and not self._waiting and self._solo(stepper, active[0]):
                free.append(active.pop().row)
                continue
            still = self._step(stepper, active)
            free.extend(r.row for r in active if r.future.done())
            active[:] = still

    def _solo(self, stepper: BatchedStepper, request: Row) -> bool:
        """Step a request that is alone on the single-stream path (:func:`~generators.engine.step_alone`) until it is
        finished (True) or another request arrives (False: the batch goes on from here)."""

        def count() -> None:
            self.steps += 1
            self.rows_stepped += 1

        done = step_alone(stepper, request, lambda: bool(self._waiting), count)  # (read without the lock)
        self.finished += done and request.future.done() and not request.future.exception()
        return done
