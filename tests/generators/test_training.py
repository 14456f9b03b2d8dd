import json
import shutil

import numpy as np
import pytest

from generators.errors import CheckpointError
from generators.text import CharGenerator
from generators.training import loss_on


def test_loss_falls_and_metrics_are_recorded(trained):
    gen, path = trained
    history = gen.metrics["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["loss"] < history[0]["loss"]
    m = gen.metrics
    for key in ("val_loss_nats_per_char", "val_bits_per_char", "steps", "wall_time_s", "date", "corpus"):
        assert key in m
    assert len(m["corpus"]["sha256"]) == 64
    assert m["corpus"]["bytes"] > 0
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metrics.json", "vocab.json", "weights.npz"]
    assert not path.with_name(path.name + ".partial").exists()  # the best-so-far copy is cleaned up


def test_save_load_gives_identical_generation(trained, tmp_path):
    gen, path = trained
    loaded = CharGenerator.load(path)
    assert loaded.vocab == gen.vocab and loaded.config == gen.config
    a = gen.generate("Yeah", length=120, temperature=0.8, rng_seed=123)
    b = loaded.generate("Yeah", length=120, temperature=0.8, rng_seed=123)
    assert a.text == b.text
    # Saving again and re-loading is stable too.
    again = CharGenerator.load(loaded.save(tmp_path / "again"))
    assert again.generate("Yeah", length=120, temperature=0.8, rng_seed=123).text == a.text


def test_weights_are_stored_as_float16(trained):
    _, path = trained
    with np.load(path / "weights.npz") as npz:
        assert {npz[k].dtype for k in npz.files} == {np.dtype(np.float16)}


@pytest.fixture
def ckpt_copy(trained, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(trained[1], dst)
    return dst


def test_corrupt_files_are_named(ckpt_copy):
    (ckpt_copy / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="weights.npz"):
        CharGenerator.load(ckpt_copy)


def test_corrupt_json_is_named(ckpt_copy):
    (ckpt_copy / "vocab.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(CheckpointError, match="vocab.json"):
        CharGenerator.load(ckpt_copy)


def test_missing_file_is_named(ckpt_copy):
    (ckpt_copy / "metrics.json").unlink()
    with pytest.raises(CheckpointError, match="metrics.json"):
        CharGenerator.load(ckpt_copy)


def test_config_weights_mismatch_is_named(ckpt_copy):
    header = json.loads((ckpt_copy / "config.json").read_text())
    header["config"]["units"] += 1
    (ckpt_copy / "config.json").write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match="weights.npz.*shape"):
        CharGenerator.load(ckpt_copy)


def test_wrong_kind_and_missing_folder(ckpt_copy, tmp_path):
    header = json.loads((ckpt_copy / "config.json").read_text())
    header["kind"] = "music"
    (ckpt_copy / "config.json").write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match="'music'"):
        CharGenerator.load(ckpt_copy)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        CharGenerator.load(tmp_path / "nowhere")


def test_rewrite_replaces_atomically_and_leaves_no_temp(trained, tmp_path):
    gen, _ = trained
    target = tmp_path / "ck"
    gen.save(target)
    gen.save(target)  # replacing an existing checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
    assert CharGenerator.load(target).vocab == gen.vocab


def test_fine_tuning_keeps_vocabulary_and_maps_new_characters(trained, tmp_path):
    gen, _ = trained
    corpus = tmp_path / "team.txt"
    corpus.write_text(("Yeah oh baby — ¡tonight! ñ\n" * 40), encoding="utf-8")
    tuned = CharGenerator.train("lyrics", corpus, config=gen.config, epochs=1, out=tmp_path / "tuned",
                                progress="none", init_from=gen)
    assert tuned.vocab == gen.vocab
    assert gen.vocab.words and {"yeah", "baby", "tonight"} <= tuned.vocab.words  # the new corpus's words join
    assert gen.vocab.words <= CharGenerator.load(tmp_path / "tuned").vocab.words
    assert {"—", "¡", "ñ"} <= set(tuned.metrics["corpus"]["replaced_chars"])
    assert CharGenerator.load(tmp_path / "tuned").vocab == gen.vocab
    # The model it started from, scored on the same held-out slice, is recorded for comparison.
    before = tuned.metrics["init_from"]["val_loss_nats_per_char"]
    assert isinstance(before, float) and before > 0


def test_fine_tuning_refuses_a_different_architecture(trained, tmp_path, corpus_file):
    import dataclasses

    from generators.errors import ConfigError

    gen, _ = trained
    with pytest.raises(ConfigError, match="units"):
        CharGenerator.train("lyrics", corpus_file, config=dataclasses.replace(gen.config, units=8), epochs=1,
                            progress="none", init_from=gen)


def test_stream_batches_continue_each_stream():
    from generators.data import stream_dataset

    ids = np.arange(1000, dtype=np.int32)
    for train in (False, True):
        ds, steps = stream_dataset(ids, seq_len=10, streams=4, train=train, seed=3)
        batches = [(x.numpy(), y.numpy()) for x, y in ds.take(steps)]
        assert len(batches) == steps and steps == (999 - (9 if train else 0)) // 4 // 10
        for (x, y), (x2, _) in zip(batches, batches[1:]):
            assert x.shape == (4, 10)
            assert (y == x + 1).all()  # targets are the next tokens
            assert (x2[:, 0] == x[:, -1] + 1).all()  # the next batch continues every stream
        starts = batches[0][0][:, 0]
        assert len(set(np.diff(starts))) == 1  # equal streams, side by side
        if not train:
            assert starts[0] == 0


def test_carry_state_training_scores_and_serves_the_ordinary_model(corpus_file, tmp_path):
    import dataclasses

    from .conftest import TINY

    cfg = dataclasses.replace(TINY, carry_state=True, batch_size=4, seq_len=16)
    gen = CharGenerator.train("lyrics", corpus_file, config=cfg, epochs=2, out=tmp_path / "cs", progress="none")
    assert gen.model.layers[2].stateful is False  # generation uses the usual model and the stepper
    loaded = CharGenerator.load(tmp_path / "cs")
    assert loaded.config.carry_state
    out = loaded.generate("Yeah", length=50, temperature=0.8, rng_seed=1)
    assert out.text.startswith("Yeah") and len(out.text) == 54
    # Scoring a checkpoint the way it was trained gives the loss recorded at training.
    from generators.data import split_ids

    ids = loaded.vocab.encode(corpus_file.read_text(encoding="utf-8"))
    _, val = split_ids(np.asarray(ids), cfg.val_fraction, cfg.seq_len)
    streams = gen.metrics.get("streams")
    assert abs(loss_on(loaded, val, streams=streams) - gen.val_loss) < 1e-3


def test_epoch_steps_make_epochs_of_so_many_batches(corpus_file, tmp_path):
    import dataclasses

    from generators.config import CharConfig
    from generators.errors import ConfigError

    from .conftest import TINY

    gen = CharGenerator.train("lyrics", corpus_file, config=dataclasses.replace(TINY, epoch_steps=2), epochs=3,
                              out=tmp_path / "es", progress="none")
    assert gen.metrics["steps"] == 6 and gen.metrics["epochs"] == 3
    with pytest.raises(ConfigError, match="epoch_steps"):
        CharConfig(epoch_steps=-1)


def test_carry_state_needs_seq2seq():
    from generators.config import CharConfig
    from generators.errors import ConfigError

    with pytest.raises(ConfigError, match="carry_state"):
        CharConfig(objective="window", carry_state=True)


@pytest.mark.parametrize("override, fragment", [("learning_rate=inf", "learning_rate"),
                                                ("learning_rate=nan", "learning_rate"),
                                                ("clipnorm=inf", "clipnorm")])
def test_non_finite_training_settings_are_refused(override, fragment):
    from generators.config import CharConfig
    from generators.errors import ConfigError

    with pytest.raises(ConfigError, match=fragment):
        CharConfig().with_overrides([override])


def test_a_grid_that_does_not_fit_the_midi_files_is_refused():
    from generators.errors import ConfigError
    from generators.music.config import MUSIC

    with pytest.raises(ConfigError, match="steps_per_quarter must divide 480"):
        MUSIC.with_overrides(["steps_per_quarter=7"])
    assert MUSIC.with_overrides(["steps_per_quarter=6"]).steps_per_quarter == 6


def test_a_diverging_run_fails_and_writes_nothing(corpus_file, tmp_path, monkeypatch):
    """A model whose loss is NaN from the start: a TrainingError, no checkpoint, no partial folder."""
    import generators.model as model_module
    from generators.config import CharConfig
    from generators.errors import TrainingError

    original = model_module.build_model

    def nan_model(*args, **kwargs):
        model = original(*args, **kwargs)
        model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
        return model

    monkeypatch.setattr(model_module, "build_model", nan_model)
    cfg = CharConfig(layers=1, units=8, embedding=4, seq_len=20, batch_size=8)
    with pytest.raises(TrainingError, match="diverged"):
        CharGenerator.train("text", corpus_file, config=cfg, epochs=2, out=tmp_path / "ckpt", progress="none")
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "ckpt.partial").exists()
