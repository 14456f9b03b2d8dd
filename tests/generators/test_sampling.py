import numpy as np
import pytest

from generators.errors import GenerationError
from generators.engine import generate_tokens
from generators.sampling import SamplingOptions, make_rng, probabilities, sample

LOGITS = np.array([0.1, 2.0, -1.0, 1.5, 0.7, 3.0, -0.2], dtype=np.float32)


def test_temperature_zero_is_argmax():
    rng, _ = make_rng(1)
    for _ in range(20):
        assert sample(LOGITS, SamplingOptions(temperature=0), rng) == int(np.argmax(LOGITS))


def test_top_k_never_picks_outside_the_k_best():
    rng, _ = make_rng(2)
    best3 = set(np.argsort(-LOGITS)[:3].tolist())
    picks = {sample(LOGITS, SamplingOptions(temperature=2.0, top_k=3), rng) for _ in range(2000)}
    assert picks <= best3
    assert len(picks) == 3  # and does use all of them at a high temperature


def test_top_p_keeps_the_smallest_sufficient_set():
    p = probabilities(LOGITS, SamplingOptions(temperature=1.0, top_p=0.5))
    full = probabilities(LOGITS, SamplingOptions(temperature=1.0))
    kept = np.flatnonzero(p)
    order = np.argsort(-full)
    assert set(kept) == set(order[: len(kept)])
    assert full[order[: len(kept)]].sum() >= 0.5
    assert full[order[: len(kept) - 1]].sum() < 0.5
    assert np.isclose(p.sum(), 1.0)


def test_rng_seed_reproduces_and_is_reported():
    opts = SamplingOptions(temperature=1.0)
    rng1, s1 = make_rng(42)
    rng2, s2 = make_rng(42)
    assert s1 == s2 == 42
    assert [sample(LOGITS, opts, rng1) for _ in range(50)] == [sample(LOGITS, opts, rng2) for _ in range(50)]
    _, drawn = make_rng(None)
    assert 0 <= drawn < 2**32


def test_low_temperature_sharpens():
    cold = probabilities(LOGITS, SamplingOptions(temperature=0.2))
    hot = probabilities(LOGITS, SamplingOptions(temperature=2.0))
    assert cold.max() > hot.max()


@pytest.mark.parametrize("kwargs", [{"temperature": -1}, {"temperature": 9}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}])
def test_bad_options_are_rejected(kwargs):
    with pytest.raises(GenerationError):
        SamplingOptions(**kwargs)


@pytest.mark.parametrize("seed", [-1, 2**32, "x"])
def test_bad_rng_seeds_are_rejected(seed):
    with pytest.raises(GenerationError):
        make_rng(seed)


def test_generate_tokens_feeds_back_and_stops():
    fed = []

    def step(token):
        fed.append(token)
        return LOGITS

    out = generate_tokens(step, LOGITS, 10, SamplingOptions(temperature=0), make_rng(0)[0])
    assert out == [5] * 10 and fed == [5] * 9
    out = generate_tokens(step, LOGITS, 10, SamplingOptions(temperature=0), make_rng(0)[0], stop=lambda t: True)
    assert out == [5]
