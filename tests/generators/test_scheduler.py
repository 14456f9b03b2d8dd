"""Continuous batching: the same tokens alone or in a batch, failures stay with their request, nobody starves.

Token-for-token comparisons run the loop with ``exact=True`` (every row stepped with the arithmetic it has
alone), which makes them hold by construction on any CPU; the fast path's rows agree with those up to float32
rounding (``tests/generators/test_model.py``), so its texts agree but for rare draws on a token boundary.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from generators.errors import GenerationError
from generators.paths import shipped_checkpoints
from generators.sampling import SamplingOptions, TokenStream, make_rng
from generators.engine import run_alone
from generators.scheduler import BatchScheduler
from generators.text import CharGenerator


def _requests(n: int):
    """Different seeds, lengths and sampling options, as a busy channel sends them."""
    for i in range(n):
        opts = SamplingOptions(temperature=(0.3, 0.7, 1.2)[i % 3], top_k=(None, 5)[i % 2],
                               top_p=(None, 0.9, None)[i % 3])
        yield f"Yeah {i}"[: 1 + i % 7], 40 + 7 * i, opts, 1000 + i


def _generate_all(gen, n, threads):
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(gen.generate, seed, length=length, temperature=o.temperature, top_k=o.top_k,
                               top_p=o.top_p, rng_seed=s) for seed, length, o, s in _requests(n)]
        return [f.result().text for f in futures]


def test_batched_text_equals_unbatched(trained):
    """Each request alone in the loop, then all 32 at once: the same texts, to the character."""
    gen, path = trained
    batched_gen = CharGenerator.load(path)
    scheduler = batched_gen.enable_batching(max_batch=32, exact=True)
    try:
        alone = _generate_all(batched_gen, 32, threads=1)
        assert scheduler.rows_stepped == scheduler.steps  # one row at a time
        rows, steps = scheduler.rows_stepped, scheduler.steps
        batched = _generate_all(batched_gen, 32, threads=32)
    finally:
        batched_gen.close_batching(wait=True)
    assert batched == alone
    assert scheduler.finished == 64
    assert (scheduler.rows_stepped - rows) / (scheduler.steps - steps) > 4  # they really ran side by side
    # Without a loop: the same arithmetic as a request alone in one, so the same texts.
    plain = [gen.generate(seed, length=length, temperature=o.temperature, top_k=o.top_k, top_p=o.top_p,
                          rng_seed=s).text for seed, length, o, s in _requests(32)]
    assert plain == alone


def test_shipped_lyrics_model_in_a_batch_of_32_on_the_fast_path():
    """The default (fast) loop: a lone request is the single-stream path, and 32 at once give the same texts
    but for a draw that lands within float32 rounding of a token boundary (rare: at most a few of 32)."""
    path = shipped_checkpoints() / "lyrics"
    if not (path / "weights.npz").is_file():
        pytest.skip("no shipped lyrics checkpoint")
    gen = CharGenerator.load(path)
    plain = [gen.generate(seed, length=60, temperature=o.temperature, rng_seed=s).text
             for seed, _, o, s in _requests(32)]
    scheduler = gen.enable_batching(max_batch=32)
    try:
        alone = [gen.generate(seed, length=60, temperature=o.temperature, rng_seed=s).text
                 for seed, _, o, s in _requests(32)]
        with ThreadPoolExecutor(32) as pool:
            batched = list(pool.map(lambda r: gen.generate(r[0], length=60, temperature=r[2].temperature,
                                                           rng_seed=r[3]).text, list(_requests(32))))
    finally:
        gen.close_batching(wait=True)
    assert alone == plain
    assert scheduler.rows_stepped > scheduler.steps  # some ran side by side
    assert all(b.startswith(seed) for b, (seed, *_rest) in zip(batched, _requests(32)))
    assert sum(a == b for a, b in zip(alone, batched)) >= 28


def _stream(count, seed, stop=None):
    return TokenStream(count, SamplingOptions(0.8), make_rng(seed)[0], stop=stop)


def test_a_failing_request_fails_alone(trained):
    gen, _ = trained
    weights = gen.stepper_weights
    scheduler = BatchScheduler(weights, max_batch=8, exact=True)

    def explode(token):
        if len(bad.tokens) == 5:
            raise GenerationError("bad primer found late")
        return False

    bad = _stream(30, 1, stop=explode)
    good = [scheduler.submit([1, 2, 3], _stream(30, s)) for s in range(5)]
    failing = scheduler.submit([1, 2, 3], bad)
    with pytest.raises(GenerationError, match="found late"):
        failing.result(timeout=30)
    results = [f.result(timeout=30) for f in good]
    assert results == [run_alone(weights, [1, 2, 3], _stream(30, s)) for s in range(5)]
    scheduler.close(wait=True)


def test_requests_arriving_during_a_batch_join_and_none_starves(trained):
    gen, _ = trained
    weights = gen.stepper_weights
    scheduler = BatchScheduler(weights, max_batch=3, exact=True)
    gate = threading.Event()

    def slow_stop(token):  # the first request holds its row until released
        return gate.is_set()

    first = scheduler.submit([1], TokenStream(10_000, SamplingOptions(0.8), make_rng(0)[0], stop=slow_stop))
    later = []
    for s in range(12):  # arrive one by one while the first keeps stepping
        later.append(scheduler.submit([2, 3], _stream(15 + s, s)))
    results = [f.result(timeout=60) for f in later]  # all done while the first still runs
    assert not first.done()
    gate.set()
    assert len(first.result(timeout=30)) < 10_000
    assert results == [run_alone(weights, [2, 3], _stream(15 + s, s)) for s in range(12)]
    scheduler.close(wait=True)


def test_close_drains_and_later_requests_run_alone(trained):
    gen, _ = trained
    weights = gen.stepper_weights
    scheduler = BatchScheduler(weights, max_batch=4, exact=True)
    submitted = [scheduler.submit([1, 2], _stream(200, s)) for s in range(6)]
    scheduler.close()
    late = scheduler.submit([1, 2], _stream(50, 99))
    assert late.done()  # ran in this thread
    assert [f.result(timeout=60) for f in submitted] == [run_alone(weights, [1, 2], _stream(200, s)) for s in range(6)]
    assert late.result() == run_alone(weights, [1, 2], _stream(50, 99))


def test_bad_arguments():
    with pytest.raises(GenerationError, match="max_batch"):
        BatchScheduler(None, max_batch=0)
    with pytest.raises(GenerationError, match="priming token"):
        run_alone(None, np.array([], np.int32), None)


def test_a_bug_in_the_loop_fails_its_requests_and_the_next_loop_serves(trained, monkeypatch):
    import generators.scheduler as scheduler_module
    from generators.stepper import BatchedStepper

    gen, _ = trained
    broken = {"left": 1}

    class Flaky(BatchedStepper):
        def reset(self, row):
            if broken["left"]:
                broken["left"] -= 1
                raise RuntimeError("a bug in the loop")
            super().reset(row)

    monkeypatch.setattr(scheduler_module, "BatchedStepper", Flaky)
    scheduler = BatchScheduler(gen.stepper_weights, max_batch=4, exact=True)
    first = scheduler.submit([1, 2], _stream(20, 1))
    with pytest.raises(RuntimeError, match="a bug in the loop"):
        first.result(timeout=30)  # failed, not left waiting forever
    assert scheduler.submit([1, 2], _stream(20, 1)).result(timeout=30) == run_alone(gen.stepper_weights, [1, 2],
                                                                                    _stream(20, 1))
    scheduler.close(wait=True)


def test_streams_forked_from_a_saved_state_run_side_by_side_in_the_loop_or_without_it(trained):
    """decode_many: a stream from a saved state gives what feeding the whole prefix gives, the same tokens in the
    batching loop as without it, and its final state carries on where it stopped; several run side by side.
    (One stream at a time where tokens are compared: a lone row has the same arithmetic everywhere.)"""
    from generators.stepper import LSTMStepper

    gen, path = trained
    ids = gen.vocab.encode("Yeah yeah\n")
    stepper = LSTMStepper(gen.stepper_weights)
    stepper.feed(ids[:-1])
    state = stepper.state

    def stream(seed):
        return TokenStream(30, SamplingOptions(0.8), make_rng(seed)[0])

    (here,) = gen.decode_many([ids[-1]], [stream(1)], state)
    assert run_alone(gen.stepper_weights, ids, stream(1)) == here  # the fork = the prefix
    three = [stream(s) for s in (1, 2, 3)]
    side_by_side = gen.decode_many([ids[-1]], three, state)
    assert all(len(t) == 30 and s.state is not None for t, s in zip(side_by_side, three))
    looped = CharGenerator.load(path)
    looped.enable_batching(max_batch=8)
    try:
        forked = stream(1)
        assert looped.decode_many([ids[-1]], [forked], state) == [here]
        whole = run_alone(gen.stepper_weights, np.concatenate([ids, here]), stream(9))
        assert run_alone(gen.stepper_weights, [here[-1]], stream(9), forked.state) == whole
        assert len(looped.decode_many([ids[-1]], [stream(s) for s in (1, 2, 3)], state)) == 3
    finally:
        looped.close_batching(wait=True)


def test_a_waiting_caller_steps_in_its_own_thread_when_idle_and_hands_over_when_others_come(trained):
    """run_many: alone, the requests never reach the loop's thread; when another request arrives mid-way they are
    carried on in the loop from where they were (prime half fed, tokens half drawn), with the same tokens."""
    from generators.decoding import Processor

    gen, _ = trained
    weights = gen.stepper_weights
    scheduler = BatchScheduler(weights, max_batch=8, exact=True)
    assert scheduler.run_many([1, 2, 3], [_stream(25, s) for s in (1, 2)]) == \
        [run_alone(weights, [1, 2, 3], _stream(25, s)) for s in (1, 2)]
    assert scheduler._thread is None  # (no loop was needed)

    newcomer = []

    class Knock(Processor):  # after 5 tokens of its own, another request arrives
        seen = 0

        def observe(self, token):
            if not newcomer and self.seen == 4:
                newcomer.append(scheduler.submit([4], _stream(30, 7)))
            self.seen += 1

    def knocking(seed):
        return TokenStream(60, SamplingOptions(0.8), make_rng(seed)[0], [Knock()])

    carried = scheduler.run_many([1, 2, 3], [knocking(s) for s in (3, 4)])
    assert newcomer and scheduler._thread is not None  # handed over: the loop ran
    assert carried == [run_alone(weights, [1, 2, 3], _stream(60, s)) for s in (3, 4)]
    assert newcomer[0].result(timeout=30) == run_alone(weights, [4], _stream(30, 7))
    assert scheduler.finished == 5
    scheduler.close(wait=True)


def test_a_stream_saves_the_state_where_each_marked_token_was_drawn(trained):
    """``marks``: when a marked token (a blank) is drawn, the state then is saved (before it is fed): the state that
    feeding everything before it gives, alone, several side by side, and in the loop (lone and in a batch)."""
    from generators.stepper import feed_state

    gen, path = trained
    ids = gen.vocab.encode("Yeah yeah\n")
    blank = gen.vocab.index[" "]

    def stream(seed):
        return TokenStream(40, SamplingOptions(1.0), make_rng(seed)[0], marks=frozenset({blank}))

    def check(streams):
        for s in streams:
            assert [k for k, _ in s.snapshots] == [k for k, t in enumerate(s.tokens) if t == blank]
            for k, (hs, cs) in s.snapshots:
                want_h, want_c = feed_state(gen.stepper_weights, None, list(ids) + s.tokens[:k])
                for got, want in zip(hs + cs, want_h + want_c):
                    np.testing.assert_allclose(got, want, atol=1e-4)
        assert any(s.snapshots for s in streams)

    alone = [stream(s) for s in range(6)]
    gen.decode_many(ids, alone)
    check(alone)
    looped = CharGenerator.load(path)
    looped.enable_batching(max_batch=8)
    try:
        lone = stream(1)
        looped.decode_many(ids, [lone])
        check([lone])
        crowd = [stream(s) for s in range(8)]
        looped.decode_many(ids, crowd)
        check(crowd)
    finally:
        looped.close_batching(wait=True)


def test_work_beside_the_loop_is_limited_to_the_cores(trained, monkeypatch):
    """beside(): as many pieces of side work at once as the process has cores; without a loop, no limit."""
    import generators.scheduler as scheduler

    gen, path = trained
    assert scheduler.beside_threads() >= 1
    with gen.beside():  # no loop: a context that limits nothing
        pass
    monkeypatch.setattr(scheduler, "beside_threads", lambda: 2)
    looped = CharGenerator.load(path)
    looped.enable_batching(max_batch=4)
    try:
        inside, most, lock = [0], [0], threading.Lock()

        def work():
            with looped.beside():
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                threading.Event().wait(0.05)
                with lock:
                    inside[0] -= 1

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: work(), range(6)))
        assert most[0] == 2
    finally:
        looped.close_batching(wait=True)
