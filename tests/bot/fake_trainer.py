"""A stand-in for `python -m generators train`: progress lines, then a checkpoint (or a failure, or a hang)."""

import textwrap

#: After the fake trainer's mode word ("fail", "hang", ...): a corpus long enough to be trained on.
FILLER = "\n" + "la la la, sing along\n" * 20

FAKE_TRAINER = textwrap.dedent('''
    import json, pathlib, sys, time
    args = sys.argv[1:]
    out = pathlib.Path(args[args.index("--out") + 1])
    corpus = pathlib.Path(args[args.index("--corpus") + 1])
    mode = ((corpus / "mode" if corpus.is_dir() else corpus).read_text().split() or [""])[0]
    if mode == "wait":  # (a Ray cluster with no CPU free: python -m generators.ray_serve train says so)
        print(json.dumps({"event": "waiting", "message": "waiting for 1 CPU on the Ray cluster (0 of 2 free)"}), flush=True)
        time.sleep(60)
    for epoch in (1, 2):
        print(json.dumps({"event": "epoch", "epoch": epoch, "loss": 2.0 / epoch, "val_loss": 2.5 / epoch, "eta_s": 1}), flush=True)
    if mode == "fail":
        print("error: corpus is not UTF-8 text", file=sys.stderr)
        sys.exit(2)
    if mode == "hang":
        time.sleep(60)
    if mode == "slow":
        time.sleep(4)
    out.mkdir(parents=True)
    (out / "weights.npz").write_bytes(b"fake")
    worse = mode == "worse"
    print(json.dumps({"event": "done", "val_loss": 1.5 if worse else 1.2, "baseline_val_loss": 1.3}), flush=True)
''')


def fake_music_corpus(folder, mode: str = "ok"):
    """A music corpus folder the fake trainer reads its mode from (``folder/mode``), with one real MIDI file so the
    retrain manager's check before training passes."""
    from generators.music.encoder import Note
    from generators.music.midi_io import notes_to_midi_bytes

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mode").write_text(mode)
    (folder / "a.mid").write_bytes(notes_to_midi_bytes([Note(0, 60, 4), Note(4, 64, 4)]))
    return folder
