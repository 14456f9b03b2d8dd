import numpy as np
import pytest

from generators.config import CharConfig
from generators.errors import ConfigError
from generators.model import build_model, window_logits
from generators.stepper import LSTMStepper, StepperWeights


def _random_model(cfg, vocab=23, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(cfg, vocab)
    rng = np.random.default_rng(seed)  # non-trivial weights, biases included
    model.set_weights([w + rng.normal(0, 0.2, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_stepper_matches_the_keras_model_at_every_timestep():
    cfg = CharConfig(layers=2, units=24, embedding=8, dropout=0.3)
    model = _random_model(cfg)
    tokens = np.random.default_rng(1).integers(0, 23, size=40).astype(np.int32)
    reference = model(tokens[None], training=False).numpy()[0]
    stepper = LSTMStepper(StepperWeights(model))
    stepped = np.stack([stepper.step(int(t)) for t in tokens])
    np.testing.assert_allclose(stepped, reference, rtol=1e-4, atol=1e-4)
    stepper.reset()
    np.testing.assert_allclose(stepper.feed(tokens[:10]), reference[9], rtol=1e-4, atol=1e-4)


def test_feeding_layer_by_layer_gives_the_stepped_state():
    """feed_state (a known line of a song) carries the same state as stepping token by token, from zeros or from
    a state, and leaves the state it starts from untouched."""
    from generators.stepper import feed_state

    weights = StepperWeights(_random_model(CharConfig(layers=3, units=24, embedding=8)))
    tokens = np.random.default_rng(3).integers(0, 23, size=25)
    stepper = LSTMStepper(weights)
    stepper.feed(tokens[:10])
    start = stepper.state
    stepper.feed(tokens[10:])
    for fed, expected in ((feed_state(weights, None, tokens), stepper.state),
                          (feed_state(weights, start, tokens[10:]), stepper.state)):
        for got, want in zip(fed[0] + fed[1], expected[0] + expected[1]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    before = [a.copy() for a in start[0] + start[1]]
    same = feed_state(weights, start, [])
    assert all(np.array_equal(a, b) for a, b in zip(same[0] + same[1], before))
    assert all(np.array_equal(a, b) for a, b in zip(start[0] + start[1], before))


def test_lstm_layers_stay_cudnn_eligible():
    model = build_model(CharConfig(layers=3, units=16, embedding=8), 10)
    lstms = [layer for layer in model.layers if layer.name.startswith("lstm_")]
    assert len(lstms) == 3
    for layer in lstms:
        cell = layer.cell
        assert cell.recurrent_dropout == 0 and cell.activation.__name__ == "tanh"
        assert cell.recurrent_activation.__name__ == "sigmoid" and cell.use_bias and not layer.unroll


def test_window_objective_and_bidirectional_variant():
    cfg = CharConfig(objective="window", bidirectional=True, layers=2, units=8, embedding=4, seq_len=12)
    model = build_model(cfg, 9)
    out = window_logits(model, np.zeros((3, 12), np.int32))
    assert out.shape == (3, 9)
    with pytest.raises(TypeError):
        StepperWeights(model)


def test_bidirectional_needs_the_window_objective():
    with pytest.raises(ConfigError, match="bidirectional"):
        CharConfig(bidirectional=True)


@pytest.mark.parametrize("override", ["units=0", "dropout=1.5", "objective=magic", "nope=1", "units=abc", "units"])
def test_bad_config_values_are_named(override):
    with pytest.raises(ConfigError) as err:
        CharConfig().with_overrides([override])
    assert override.split("=")[0] in str(err.value) or "KEY=VALUE" in str(err.value)


def test_batched_stepper_rows_do_not_depend_on_their_neighbours():
    """A row's logits alone, or among others wherever it sits: equal up to float32 rounding (the fast path),
    to the bit with ``exact=True``; a row stepped alone is the single-stream stepper's arithmetic."""
    from generators.stepper import BatchedStepper

    cfg = CharConfig(layers=2, units=96, embedding=16)
    model = _random_model(cfg, vocab=37)
    weights = StepperWeights(model)
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 37, size=30)
    single = LSTMStepper(weights)
    reference = [single.step(int(t)) for t in tokens]
    keras_logits = model(tokens[None].astype(np.int32), training=False).numpy()[0]
    np.testing.assert_allclose(np.stack(reference), keras_logits, rtol=1e-4, atol=1e-4)
    alone = BatchedStepper(weights, capacity=3)
    assert all(np.array_equal(alone.step([2], [t])[0], ref) for t, ref in zip(tokens, reference))
    for exact in (False, True):
        for n in (2, 5, 16, 33):
            batch = BatchedStepper(weights, capacity=40, exact=exact)
            rows = rng.permutation(40)[:n]
            at = int(rng.integers(n))
            for i, t in enumerate(tokens):
                others = rng.integers(0, 37, size=n)
                others[at] = t
                row = batch.step(rows, others)[at]
                if exact:
                    assert np.array_equal(row, reference[i]), (n, i)
                else:
                    np.testing.assert_allclose(row, reference[i], rtol=1e-5, atol=1e-5, err_msg=f"{n} rows, step {i}")
