"""`generate music` and `evaluate music` through the CLI, on the tiny trained checkpoint."""

from generators.cli import STAT_ROWS
from generators.music.midi_io import midi_bytes_to_notes

from ..test_cli import run_cli


def test_generate_with_key_and_bars(music_trained, capsys, tmp_path):
    _, path = music_trained
    out = tmp_path / "song.mid"
    code, stdout, _ = run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--bars", "8", "--key", "G major",
                              "--rng-seed", "5", "--out", str(out))
    assert code == 0 and "8 bars" in stdout and "trained on" in stdout and "RNG seed 5" in stdout
    assert max(n.onset + n.duration for n in midi_bytes_to_notes(out.read_bytes())) <= 8 * 16
    code, stdout, _ = run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--seconds", "4", "--out", str(out))
    assert code == 0 and "(4.0 s)" in stdout


def test_continue_from_writes_the_whole_longer_piece(music_trained, capsys, tmp_path):
    _, path = music_trained
    first, second = tmp_path / "a.mid", tmp_path / "b.mid"
    assert run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--notes", "20", "--out", str(first))[0] == 0
    code, stdout, _ = run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--continue-from", str(first),
                              "--notes", "15", "--out", str(second))
    assert code == 0 and " notes" in stdout
    code, stdout, _ = run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--continue-from", str(first),
                              "--key", "F# minor", "--notes", "5", "--out", str(tmp_path / "c.mid"))
    assert code == 0 and "in F# minor" in stdout  # the key the piece is read in, and named by
    a, b = midi_bytes_to_notes(first.read_bytes()), midi_bytes_to_notes(second.read_bytes())
    # The piece as it was (a new note re-striking a key it still holds is left out), then up to 15 more notes.
    assert [n for n in b if n.onset <= a[-1].onset][:20] == a and 20 < len(b) <= 35
    for argv, fragment in ((["--continue-from", str(tmp_path / "none.mid")], "MIDI file not found"),
                           (["--continue-from", str(first), "--primer", "C4 E4"], "takes no --primer")):
        code, _, err = run_cli(capsys, "generate", "music", "--checkpoint", str(path), *argv)
        assert code == 2 and fragment in err and err.count("\n") == 1


def test_length_and_key_errors_are_one_line(music_trained, capsys):
    _, path = music_trained
    code, _, err = run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--notes", "5", "--bars", "2")
    assert code == 2 and "not allowed with" in err
    code, _, err = run_cli(capsys, "generate", "music", "--checkpoint", str(path), "--key", "X minor")
    assert code == 2 and err.strip() == "error: unknown key 'X minor' (expected a name like 'D minor', 'F# major' or 'Bb')"
    code, _, err = run_cli(capsys, "generate", "lyrics", "--key", "C")
    assert code == 2 and "--key does not apply" in err


def test_evaluate_prints_every_statistic_side_by_side(music_trained, midi_corpus, capsys):
    _, path = music_trained
    code, stdout, _ = run_cli(capsys, "evaluate", "music", "--checkpoint", str(path), "--corpus", str(midi_corpus),
                              "--pieces", "2", "--notes", "50", "--split", "val")
    assert code == 0 and "nats/note" in stdout and "nats/event" in stdout and "(val:" in stdout
    gen, _ = music_trained  # (scored token by token where it is a sequence-to-sequence model)
    by_event = [line for line in stdout.splitlines() if line.startswith("nats/note by event: ")]
    assert bool(by_event) == (gen.config.objective == "seq2seq" and not gen.config.carry_state)
    assert not by_event or " pitch " in by_event[0] and " duration " in by_event[0]
    rows = {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.split()}
    for stat in STAT_ROWS:
        assert len(rows[stat]) == 2, stat  # corpus and generated
