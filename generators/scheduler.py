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
fast as without a loop and with the same tokens; beside others, its logits are
the same up to float32 rounding (see :class:`~generators.stepper.BatchedStepper`),
or to the bit with ``exact=True``. A request whose stream raises fails alone; a
failure of the step itself fails the requests in it, and the loop goes on.

:meth:`BatchScheduler.close` drains: requests already submitted finish, new
ones run alone in the caller's thread (a model swap closes the old model's
loop while the new one takes the traffic).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future

import numpy as np

from .errors import GenerationError
from .sampling import TokenStream, run_stream, sample_rows
from .stepper import BatchedStepper, StepperWeights

log = logging.getLogger("generators.scheduler")


class _Request:
    __slots__ = ("prime", "fed", "stream", "future", "row", "state")

    def __init__(self, prime: np.ndarray, stream: TokenStream, state=None):
        self.prime, self.fed, self.stream, self.state = prime, 0, stream, state
        self.future: Future = Future()
        self.row = -1

    def next_input(self) -> int:
        if self.fed < len(self.prime):
            self.fed += 1
            return int(self.prime[self.fed - 1])
        return self.stream.tokens[-1]

    @property
    def priming(self) -> bool:
        return self.fed < len(self.prime)


def _check_prime(prime_ids) -> np.ndarray:
    prime = np.asarray(prime_ids, np.intp).reshape(-1)
    if not len(prime):
        raise GenerationError("internal: a generation needs at least one priming token")
    return prime


def run_alone(weights: StepperWeights, prime_ids, stream: TokenStream, state=None) -> list[int]:
    """One request without a loop (the arithmetic of a row stepped alone in the loop); see
    :meth:`BatchScheduler.submit` for ``state``."""
    prime = _check_prime(prime_ids)
    stepper = BatchedStepper(weights, capacity=1)
    if state is not None:
        stepper.load(0, state)
    rows = np.zeros(1, np.intp)

    def step(token: int) -> np.ndarray:
        return stepper.step(rows, np.array([token], np.intp))[0]

    logits = None
    for token in prime:
        logits = step(int(token))
    tokens = run_stream(step, logits, stream)
    stream.state = stepper.save(0)
    return tokens


def run_together(weights: StepperWeights, prime_ids, streams: list[TokenStream], state=None) -> list[list[int]]:
    """Several requests with one prime (and ``state``) stepped side by side without a loop: the arithmetic they get
    in the loop when admitted together (see :meth:`BatchScheduler.submit_many`)."""
    prime = _check_prime(prime_ids)
    if len(streams) == 1:
        return [run_alone(weights, prime, streams[0], state)]
    stepper = BatchedStepper(weights, capacity=len(streams))
    for row in range(len(streams)):
        if state is not None:
            stepper.load(row, state)
    requests = [_Request(prime, stream, state) for stream in streams]
    for row, request in enumerate(requests):
        request.row = row
    active = list(requests)
    while active:
        logits = stepper.step([r.row for r in active], [r.next_input() for r in active])
        if active[0].priming:  # (all prime together)
            continue
        rows = [r.stream.prepare(row_logits) for r, row_logits in zip(active, logits)]
        tokens = sample_rows(np.stack(rows), [r.stream.opts for r in active], [r.stream.rng for r in active])
        still = []
        for request, token in zip(active, tokens):
            if request.stream.accept(token):
                request.stream.state = stepper.save(request.row)
            else:
                still.append(request)
        active = still
    return [r.stream.tokens for r in requests]


class BatchScheduler:
    """The batching loop of one model (see the module docstring)."""

    def __init__(self, weights: StepperWeights, max_batch: int = 32, name: str = "model", exact: bool = False):
        if not isinstance(max_batch, int) or max_batch < 1:
            raise GenerationError(f"max_batch must be a positive integer, got {max_batch!r}")
        self.weights, self.max_batch, self.name, self.exact = weights, max_batch, name, exact
        self._cv = threading.Condition()
        self._waiting: deque[_Request] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Counters (read by the benchmark and tests): steps taken, rows stepped, requests finished.
        self.steps = self.rows_stepped = self.finished = 0

    # -- the callers' side --------------------------------------------------
    def submit(self, prime_ids, stream: TokenStream, state=None) -> Future:
        """Queue a request; the future's result is the stream's tokens. After :meth:`close`, runs it here.

        ``state``: an LSTM state to start from instead of zeros (a fork of another stream: see
        :attr:`~generators.stepper.LSTMStepper.state`). When done, ``stream.state`` holds the row's state before its
        last token (which the next request from there feeds first)."""
        request = _Request(_check_prime(prime_ids), stream, state)
        if self._enqueue([request]):
            return request.future
        try:  # closed: the model is being replaced; finish this one without a loop
            request.future.set_result(run_alone(self.weights, request.prime, stream, state))
        except Exception as exc:
            request.future.set_exception(exc)
        return request.future

    def submit_many(self, prime_ids, streams: list[TokenStream], state=None) -> list[Future]:
        """Queue several requests at once, so they join at one step boundary and are stepped side by side (as
        :func:`run_together` steps them)."""
        prime = _check_prime(prime_ids)
        requests = [_Request(prime, stream, state) for stream in streams]
        if self._enqueue(requests):
            return [r.future for r in requests]
        return [self.submit(prime, stream, state) for stream in streams]  # closed: each runs here

    def _enqueue(self, requests: list[_Request]) -> bool:
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

    def run(self, prime_ids, stream: TokenStream, state=None) -> list[int]:
        """Submit and wait (call from a worker thread, never from an event loop)."""
        return self.submit(prime_ids, stream, state).result()

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
        active: list[_Request] = []
        try:
            self._run_loop(active)
        except BaseException as exc:  # a bug in the loop itself: no request may wait forever
            log.exception("the batching loop of %s stopped", self.name)
            with self._cv:
                stranded, self._waiting = list(self._waiting) + active, deque()
                self._thread = None  # the next submission starts a fresh loop
            for request in stranded:
                if not request.future.done():
                    request.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))

    def _run_loop(self, active: list[_Request]) -> None:
        stepper = BatchedStepper(self.weights, capacity=self.max_batch, exact=self.exact)
        free = list(range(self.max_batch - 1, -1, -1))
        while True:
            with self._cv:
                while not self._waiting and not active:
                    if self._closed:
                        self._thread = None
                        return
                    self._cv.wait()
                while self._waiting and free:  # join at this step boundary
                    request = self._waiting.popleft()
                    if not request.future.set_running_or_notify_cancel():
                        continue  # cancelled while waiting
                    request.row = free.pop()
                    active.append(request)
                    stepper.reset(request.row)
                    if request.state is not None:
                        stepper.load(request.row, request.state)
            if not active:
                continue
            if len(active) == 1 and not self._waiting and self._solo(stepper, active[0]):
                free.append(active.pop().row)
                continue
            try:
                logits = stepper.step([r.row for r in active], [r.next_input() for r in active])
            except Exception as exc:  # the step itself failed: its requests fail, the loop goes on
                log.exception("batch step of %s failed for %d requests", self.name, len(active))
                for request in active:
                    request.future.set_exception(exc)
                    free.append(request.row)
                active.clear()
                continue
            still, drawing, rows = [], [], []
            for i, request in enumerate(active):  # the logits after a priming token are not drawn from
                if request.priming:
                    still.append(request)
                    continue
                try:
                    logits[i] = request.stream.prepare(logits[i])
                except Exception as exc:  # this request's own failure: it leaves alone
                    request.future.set_exception(exc)
                    free.append(request.row)
                    continue
                drawing.append(request)
                rows.append(i)
            if drawing:
                tokens = sample_rows(logits[rows], [r.stream.opts for r in drawing], [r.stream.rng for r in drawing])
            for request, token in zip(drawing, tokens if drawing else ()):
                try:
                    done = request.stream.accept(token)
                except Exception as exc:
                    request.future.set_exception(exc)
                    free.append(request.row)
                    continue
                if done:
                    self._finish(stepper, request)
                    free.append(request.row)
                else:
                    still.append(request)
            self.steps += 1
            self.rows_stepped += len(active)
            active[:] = still

    def _finish(self, stepper: BatchedStepper, request: _Request) -> None:
        request.stream.state = stepper.save(request.row)
        request.future.set_result(request.stream.tokens)
        self.finished += 1

    def _solo(self, stepper: BatchedStepper, request: _Request) -> bool:
        """Step a request that is alone without the batch's bookkeeping (the same arithmetic and draws as a lone
        row), until it is finished (True) or another request arrives (False: the batch goes on from here)."""
        try:
            while not self._waiting:  # (read without the lock: a newcomer waits at most one step)
                logits = stepper.step_row(request.row, request.next_input())
                self.steps += 1
                self.rows_stepped += 1
                if not request.priming and request.stream.choose(logits):
                    self._finish(stepper, request)
                    return True
        except Exception as exc:  # this request's own failure (or its step's): it alone fails
            request.future.set_exception(exc)
            return True
        return False
