import json
import subprocess
import sys

import pytest

from generators.cli import main

TINY_SET = ["--set", "units=16", "--set", "layers=1", "--set", "embedding=8", "--set", "seq_len=16", "--set", "batch_size=8"]


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_help_documents_every_subcommand():
    proc = subprocess.run([sys.executable, "-m", "generators", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for word in ("train", "generate", "evaluate"):
        assert word in proc.stdout
    for sub, flag in (("train", "--minutes"), ("generate", "--top-p"), ("evaluate", "--corpus")):
        proc = subprocess.run([sys.executable, "-m", "generators", sub, "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and flag in proc.stdout


def _assert_one_line_error(code, err, fragment):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert fragment in lines[0]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "not found"),
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"caf\xe9 latin-1 text " * 20, "not UTF-8"),
        (b"too short", "shorter than one training window"),
    ],
)
def test_train_rejects_unusable_corpora(capsys, tmp_path, content, fragment):
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    code, _, err = run_cli(capsys, "train", "text", "--corpus", str(corpus), "--epochs", "1", "--out", str(tmp_path / "o"))
    _assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "text", "--corpus", "x", "--epochs", "0"], "at least 1"),
        (["train", "text", "--corpus", "x", "--minutes", "-1"], "greater than 0"),
        (["train", "text", "--corpus", "x", "--epochs", "1", "--minutes", "1"], "not allowed"),
        (["train", "poetry", "--corpus", "x"], "invalid choice"),
        (["generate", "lyrics", "--temp", "hot"], "not a number"),
        (["generate", "lyrics", "--length", "0"], "at least 1"),
        (["generate", "lyrics", "--rng-seed", "-4"], "at least 0"),
        (["evaluate", "text"], "needs --corpus"),
        (["train", "lyrics"], "needs --corpus"),
        (["generate", "text", "--notes", "5"], "--notes does not apply"),
        (["generate", "lyrics", "--texture", "full"], "--texture does not apply"),
        (["generate", "music", "--seed", "x"], "--seed does not apply"),
        (["train", "text", "--corpus", "x", "--workers", "2"], "--workers does not apply"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(capsys, argv, fragment):
    code, _, err = run_cli(capsys, *argv)
    _assert_one_line_error(code, err, fragment)


def test_bad_config_override(capsys, corpus_file, tmp_path):
    code, _, err = run_cli(capsys, "train", "text", "--corpus", str(corpus_file), "--set", "units=-3", "--out", str(tmp_path / "o"))
    _assert_one_line_error(code, err, "units")


def test_generate_errors(capsys, trained, tmp_path):
    _, ckpt = trained
    code, _, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(tmp_path / "missing"))
    _assert_one_line_error(code, err, "no checkpoint")
    code, _, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(ckpt), "--temp", "9")
    _assert_one_line_error(code, err, "temperature")
    code, _, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(ckpt), "--top-p", "0")
    _assert_one_line_error(code, err, "top-p")


def test_generate_and_evaluate(capsys, trained, corpus_file):
    _, ckpt = trained
    code, out, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(ckpt), "--seed", "Yeah, oho",
                             "--temp", "0.5", "--length", "80", "--rng-seed", "9")
    assert code == 0 and out.startswith("Yeah, oho")
    assert "rng seed 9" in err
    code, out, _ = run_cli(capsys, "evaluate", "lyrics", "--checkpoint", str(ckpt), "--corpus", str(corpus_file))
    assert code == 0 and "nats/char" in out and "bits/char" in out
    code, out, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(ckpt), "--seed", "Yeah, oho",
                             "--lines", "4", "--rng-seed", "9")
    assert code == 0 and out.endswith("\n") and not out.endswith("\n\n") and "\n[4 lines" in "\n" + err


def test_train_cli_json_progress_and_partial_cleanup(capsys, corpus_file, tmp_path):
    out_dir = tmp_path / "ck"
    code, out, err = run_cli(capsys, "train", "text", "--corpus", str(corpus_file), "--epochs", "2",
                             "--out", str(out_dir), "--progress", "json", *TINY_SET)
    assert code == 0, err
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {"loss", "val_loss", "eta_s"} <= set(epochs[0])
    assert (out_dir / "weights.npz").exists()
    assert not (tmp_path / "ck.partial").exists()


def test_train_never_replaces_what_is_not_a_checkpoint(capsys, corpus_file, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    for target, fragment in ((precious, "not a checkpoint"), (a_file, "is a file")):
        code, _, err = run_cli(capsys, "train", "text", "--corpus", str(corpus_file), "--epochs", "1",
                               "--out", str(target), *TINY_SET)
        _assert_one_line_error(code, err, fragment)
    assert (precious / "thesis.tex").read_text() == "years of work" and a_file.read_text() == "keep me"

    ckpt = tmp_path / "ck"
    argv = ["train", "text", "--corpus", str(corpus_file), "--epochs", "1", "--out", str(ckpt), "--progress", "none",
            *TINY_SET]
    assert run_cli(capsys, *argv)[0] == 0
    code, _, err = run_cli(capsys, *argv)  # a checkpoint: only with --force
    _assert_one_line_error(code, err, "--force")
    code, _, err = run_cli(capsys, *argv, "--force")
    assert code == 0, err


def test_checkpoint_writes_sweep_what_killed_writers_left_and_are_readable(trained, tmp_path):
    import os
    import stat

    gen, _ = trained
    target = tmp_path / "ck"
    stale = [tmp_path / ".ck.tmp-999999999-abc", tmp_path / ".ck.old-999999999"]
    for folder in stale:
        folder.mkdir()
        (folder / "weights.npz").write_bytes(b"half")
    old_umask = os.umask(0o022)
    try:
        gen.save(target)
    finally:
        os.umask(old_umask)
    assert not any(p.exists() for p in stale)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_hostile_inputs_get_one_line_errors(capsys, trained, tmp_path):
    import json as jsonlib

    import numpy as np

    _, ckpt = trained
    one_char = tmp_path / "a.txt"
    one_char.write_text("a" * 5000)
    code, _, err = run_cli(capsys, "train", "text", "--corpus", str(one_char), "--epochs", "1", "--out",
                           str(tmp_path / "o"), *TINY_SET)
    _assert_one_line_error(code, err, "only one distinct character")
    code, _, err = run_cli(capsys, "train", "text", "--corpus", "/dev/zero", "--epochs", "1", "--out",
                           str(tmp_path / "o"))
    _assert_one_line_error(code, err, "not a regular file")

    def broken_copy(name, edit):
        import shutil

        target = tmp_path / name
        shutil.copytree(ckpt, target)
        edit(target)
        return target

    def huge(target):
        header = jsonlib.loads((target / "config.json").read_text())
        header["config"]["units"] = 100_000
        (target / "config.json").write_text(jsonlib.dumps(header))

    def nan_weights(target):
        with np.load(target / "weights.npz") as npz:
            weights = {k: npz[k] for k in npz.files}
        first = sorted(weights)[0]
        weights[first] = np.full_like(weights[first], np.nan)
        np.savez(target / "weights.npz", **weights)

    for name, edit, fragment in (
        ("huge", huge, "units must be at most 8192"),
        ("nan", nan_weights, "NaN or infinite"),
        ("noise", lambda t: (t / "weights.npz").write_bytes(np.random.default_rng(0).bytes(4096)),
         "not a NumPy weights archive"),
    ):
        code, _, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(broken_copy(name, edit)))
        _assert_one_line_error(code, err, fragment)
        assert "allow_pickle" not in err


def test_a_vanishing_temperature_is_greedy_not_nan(capsys, trained):
    _, ckpt = trained
    outputs = []
    for temp in ("0", "1e-320"):
        code, out, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", str(ckpt), "--seed", "Yeah",
                                 "--temp", temp, "--length", "60", "--rng-seed", "3")
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1] and outputs[1].strip("\n") != "Yeah"


def test_generate_lyrics_writes_a_song_and_evaluate_prints_song_statistics(capsys, tmp_path):
    from generators.paths import shipped_checkpoints

    ckpt = str(shipped_checkpoints() / "lyrics")
    code, out, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", ckpt, "--seed", "Yeah, oho", "--lines", "9",
                             "--rhyme", "AABB", "--form", "verse chorus", "--rng-seed", "2")
    assert code == 0, err
    lines = out.strip("\n").split("\n")
    assert lines[:2] == ["[Verse]", "Yeah, oho" + lines[1][len("Yeah, oho"):]] and "[Chorus]" in lines
    assert len([x for x in lines if x and not x.startswith("[")]) == 9 and "rhyme AABB" in err
    for argv, fragment in [(["--rhyme", "XYZ1"], "rhyme scheme"), (["--form", "VXQ9"], "song form letters"),
                           (["--syllables", "99"], "syllables must be between"),
                           (["--lines", "80"], "lines must be between")]:
        code, _, err = run_cli(capsys, "generate", "lyrics", "--checkpoint", ckpt, *argv)
        _assert_one_line_error(code, err, fragment)
    code, _, err = run_cli(capsys, "generate", "text", "--rhyme", "AABB")
    _assert_one_line_error(code, err, "--rhyme does not apply")
    held_out = tmp_path / "songs.txt"
    held_out.write_text("\n".join(f"line {i} of the night" for i in range(12)) + "\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "evaluate", "lyrics", "--checkpoint", ckpt, "--corpus", str(held_out),
                             "--songs", "1", "--lines", "6", "--rhyme", "AABB")
    assert code == 0, err
    assert "rhyme_share" in out and "repeated_share" in out and "scheme_share" in out
