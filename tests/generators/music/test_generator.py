import numpy as np
import pytest

from generators.errors import GenerationError
from generators.music.corpus import augment, split_pieces
from generators.music.generator import MusicGenerator
from generators.music.midi_io import resolve_instrument
from generators.music.encoder import parse_note_list
from generators.music.midi_io import midi_bytes_to_notes, notes_to_midi_bytes
from generators.music.stats import estimate_key, piece_stats

from .conftest import make_piece


def test_loss_falls_and_checkpoint_is_self_describing(music_trained):
    gen, path = music_trained
    history = gen.metrics["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert gen.metrics["corpus"]["files"] == 6
    loaded = MusicGenerator.load(path)
    assert loaded.vocab == gen.vocab and loaded.vocab.primers == gen.vocab.primers
    a = gen.generate(50, rng_seed=4)
    b = loaded.generate(50, rng_seed=4)
    assert a.notes == b.notes and a.midi == b.midi


@pytest.mark.parametrize("count", [1, 37, 500])
def test_generation_gives_parseable_midi_with_the_requested_notes(music_trained, count):
    gen, _ = music_trained
    r = gen.generate(count, temperature=1.0, rng_seed=1, tempo=90, instrument="violin")
    assert r.note_count == count == len(r.notes)
    assert midi_bytes_to_notes(r.midi) == r.notes  # the MIDI holds exactly these notes
    assert r.tempo == 90 and r.program == 40 and r.rng_seed == 1
    assert r.seconds_of_music > 0 and " " in r.key
    assert min(n.onset for n in r.notes) == 0


def test_generation_does_not_collapse_into_one_note(music_trained):
    gen, _ = music_trained
    stats = piece_stats(gen.generate(300, rng_seed=2).notes)
    assert stats["distinct_4gram_share"] > 0.3
    assert stats["longest_repeat"] < 20


@pytest.mark.parametrize("temperature", [0.1, 0.3])
def test_low_temperatures_repeat_one_onset_at_most_max_repeats_times(music_trained, temperature):
    from generators.music.constraints import MAX_REPEATS

    gen, _ = music_trained
    for seed in range(3):
        notes = gen.generate(200, rng_seed=seed, temperature=temperature).notes
        assert len(notes) == 200 and piece_stats(notes)["longest_repeat"] <= MAX_REPEATS


def test_a_piece_the_model_does_not_finish_is_an_error_not_a_short_piece(music_trained, monkeypatch):
    gen, _ = music_trained
    waits = [i for i, t in enumerate(gen.vocab.tokens) if t.startswith("W")]
    monkeypatch.setattr(type(gen), "decode", lambda self, prime, stream: [waits[0]] * stream.count)
    for kwargs in (dict(notes=50), dict(bars=4)):
        with pytest.raises(GenerationError, match="wrote 0 notes in .* events .* higher temperature"):
            gen.generate(rng_seed=1, **kwargs)


def test_a_model_that_would_rather_rest_forever_still_finishes_its_piece(music_trained):
    """Note logits pushed far down (a weak model's loop of waits at a low temperature): the stall guard makes the
    piece strike a note after MAX_SILENT_EVENTS silent events, so it ends with every note asked for."""
    from generators.music.constraints import MAX_SILENT_EVENTS

    _, path = music_trained
    gen = MusicGenerator.load(path)
    is_note = np.array([t.startswith("P") for t in gen.vocab.tokens])
    gen.stepper_weights.dense_b[is_note] -= 40.0
    piece = gen.generate(30, rng_seed=1, temperature=0.1)
    assert piece.note_count == 30 and piece.events <= 30 * (MAX_SILENT_EVENTS + 2)


def test_primers(music_trained, tmp_path):
    gen, _ = music_trained
    assert gen.generate(20, primer="C4 E4 G4 C5", rng_seed=0).primer.startswith("notes")
    midi = tmp_path / "primer.mid"
    midi.write_bytes(notes_to_midi_bytes(make_piece(9)))
    assert gen.generate(20, primer=str(midi), rng_seed=0).primer == "MIDI file primer.mid"
    # A pitch the vocabulary lacks maps to the nearest known event instead of crashing.
    r = gen.generate(20, primer="C0 C#9", rng_seed=0)
    assert r.replaced and r.note_count == 20


@pytest.mark.parametrize("kwargs, fragment", [
    ({"notes": 0}, "notes"), ({"notes": 10**6}, "notes"), ({"instrument": "kazoo-of-doom"}, "instrument"),
    ({"instrument": "300"}, "0-127"), ({"primer": "C4 H9"}, "bad note"), ({"primer": "missing.mid"}, "not found"),
    ({"tempo": 5}, "tempo"), ({"temperature": -1}, "temperature"),
])
def test_bad_generation_input(music_trained, kwargs, fragment):
    gen, _ = music_trained
    count = kwargs.pop("notes", 10)
    with pytest.raises(GenerationError, match=fragment):
        gen.generate(count, **kwargs)


def test_instruments_by_name_and_number():
    assert resolve_instrument("piano")[0] == 0
    assert resolve_instrument(41)[0] == 41
    assert resolve_instrument("19")[0] == 19


def test_split_and_augment(midi_corpus):
    from generators.music.corpus import Piece

    pieces = [Piece(f"p{i}", str(9 - i), make_piece(i, t)) for i, t in enumerate([60, 62, 67, 65])]
    train, val = split_pieces(pieces, 0.2)
    assert train and val and len(train) + len(val) == 4 and [p.name for p in val] == ["p3"]  # lowest hash
    # The held-out pieces depend on content, not on order or on files added later.
    more = [Piece("new", "z", make_piece(7, 60))] + pieces[::-1]
    assert [p.name for p in split_pieces(more, 0.2)[1]] == ["p3"]
    assert split_pieces(pieces, 0.49)[0]  # at least one piece always trains
    normalized = augment(train, "normalize")
    assert len(normalized) == len(train)
    assert all(estimate_key(n) in ((0, "major"), (9, "minor")) for n in normalized)  # C major or A minor
    assert len(augment(train, "none")) == len(train)
    assert len(augment(train, "all-keys")) == 12 * len(train)
    assert len(train) < len(augment(train, "corpus-keys")) <= 12 * len(train)


def test_evaluate_reports_loss_and_statistics(music_trained, midi_corpus):
    gen, _ = music_trained
    r = gen.evaluate(midi_corpus, pieces=2, notes=60)
    assert r["nats_per_event"] > 0 and r["generated_stats"]["pieces"] == 2
    for key in ("pitch_class_entropy", "scale_consistency", "polyphony", "distinct_4gram_share", "longest_repeat"):
        assert key in r["corpus_stats"] and key in r["generated_stats"]


def test_key_moves_the_same_piece(music_normalized):
    gen = music_normalized
    c = gen.generate(120, key="C major", rng_seed=3)
    d = gen.generate(120, key="D major", rng_seed=3)
    assert (c.key, d.key) == ("C major", "D major")
    assert [n.pitch + 2 for n in c.notes] == [n.pitch for n in d.notes]  # composed once, transposed
    assert gen.generate(60, key="b minor", rng_seed=3).key == "B minor"
    assert " " in gen.generate(60, rng_seed=4).key  # no key: a random one, named
    # A primer's key is kept when no key is asked for.
    assert gen.generate(60, primer="D4 F#4 A4 D5 A4 F#4 D4", rng_seed=1).key == "D major"


def test_key_on_a_model_with_absolute_pitches(music_trained):
    gen, _ = music_trained
    r = gen.generate(120, key="E major", rng_seed=3)
    assert r.key in ("E major", "C# minor")  # its estimated mode decides between the key and its relative


@pytest.mark.parametrize("model", ["music_trained", "music_normalized"])
def test_bars_and_seconds(model, request):
    gen = request.getfixturevalue(model)
    gen = gen[0] if isinstance(gen, tuple) else gen
    r = gen.generate(bars=4, tempo=90, rng_seed=2)
    assert r.bars == 4 and r.notes and max(n.onset + n.duration for n in r.notes) <= 64
    assert r.seconds_of_music == pytest.approx(4 * 4 * 60 / 90)
    s = gen.generate(seconds=5, tempo=120, rng_seed=2)
    assert s.seconds_of_music == pytest.approx(5.0) and max(n.onset + n.duration for n in s.notes) <= 40
    assert midi_bytes_to_notes(s.midi) == s.notes
    assert "bars" in r.summary() and "trained on" in r.summary()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"notes": 10, "bars": 2}, "one length"), ({"bars": 0}, "bars"), ({"seconds": 0.5}, "seconds"),
    ({"key": "H minor"}, "unknown key 'H minor'"), ({"bars": 10**6}, "bars"),
])
def test_bad_length_or_key(music_normalized, kwargs, fragment):
    with pytest.raises(GenerationError, match=fragment):
        music_normalized.generate(**kwargs)


def test_evaluate_scores_the_held_out_split_per_note(music_normalized, midi_corpus):
    r = music_normalized.evaluate(midi_corpus, pieces=2, notes=60, split="val")
    assert r["split"] == "val" and r["pieces"] == music_normalized.metrics["corpus"]["val_pieces"]
    assert r["nats_per_note"] == pytest.approx(r["nats_per_event"] * r["events"] / r["notes"])
    assert r["nats_per_note"] > r["nats_per_event"]  # more than one event per note
    by_kind = r["nats_per_note_by_kind"]  # the same nats, split by kind of event (float32 logits vs Keras's)
    assert {"P", "D"} <= set(by_kind) and all(v >= 0 for v in by_kind.values())
    assert sum(by_kind.values()) == pytest.approx(r["nats_per_note"], rel=1e-3)
    assert r["generated_stats"]["pieces"] == 2 and "local_scale_consistency" in r["generated_stats"]


def test_batched_music_equals_unbatched(music_trained):
    from concurrent.futures import ThreadPoolExecutor

    gen, path = music_trained
    requests = [dict(notes=30 + 5 * i, rng_seed=i, temperature=(0.7, 1.0)[i % 2],
                     primer=("C4 E4 G4", None)[i % 2], key=(None, "D minor", "F#")[i % 3]) for i in range(12)]
    batched_gen = MusicGenerator.load(path)
    batched_gen.enable_batching(max_batch=8, exact=True)  # fewer rows than requests: some wait for a row
    try:
        alone = [batched_gen.generate(**r) for r in requests]  # one at a time through the loop
        with ThreadPoolExecutor(12) as pool:
            batched = list(pool.map(lambda r: batched_gen.generate(**r), requests))
    finally:
        batched_gen.close_batching(wait=True)
    assert [b.notes for b in batched] == [a.notes for a in alone]
    assert [b.midi for b in batched] == [a.midi for a in alone]
    assert batched_gen.batcher.finished == 24


def test_continue_piece_returns_the_whole_longer_piece(music_trained):
    from generators.errors import GenerationError

    gen, _ = music_trained
    first = gen.generate(30, rng_seed=1, key="D minor")
    longer = gen.continue_piece(first.notes, 25, rng_seed=2, tempo=90)
    assert longer.note_count == len(longer.notes) >= 30 + 24  # a struck-again pitch may merge one
    assert [(n.onset, n.pitch) for n in longer.notes[:30]] == [(n.onset, n.pitch) for n in first.notes]
    assert min(n.onset for n in longer.notes[30:]) > max(n.onset for n in first.notes)
    assert longer.seconds_of_music > first.seconds_of_music and "last" in longer.primer
    join = min(n.onset for n in longer.notes[30:]) * 60.0 / 90 / 4
    assert longer.join_s <= join and longer.join_s > max(n.onset for n in first.notes) * 60.0 / 90 / 4
    assert midi_bytes_to_notes(longer.midi) == longer.notes
    with pytest.raises(GenerationError, match="no notes"):
        gen.continue_piece([], 10)
    with pytest.raises(GenerationError, match="no key"):
        gen.continue_piece(first.notes, 10, key="C")


# -- plans: register, texture and key held at every bar line -------------------

def _decoded_tokens(gen, monkeypatch):
    """Record the primer and output tokens of each generation."""
    seen = []
    real = type(gen).decode

    def spy(self, prime_ids, stream):
        out = real(self, prime_ids, stream)
        seen.append((self.vocab.decode(prime_ids), self.vocab.decode(out)))
        return out

    monkeypatch.setattr(type(gen), "decode", spy)
    return seen


@pytest.mark.parametrize("primer", [None, "C4 E4 G4 C5", "midi"])
def test_planned_model_holds_its_plan_at_every_bar_line(music_planned, monkeypatch, tmp_path, primer):
    from generators.music.encoder import parse_token

    gen = music_planned
    assert gen.vocab.has_plan and gen.codec.bar_steps == 16
    if primer == "midi":
        primer = tmp_path / "primer.mid"
        primer.write_bytes(notes_to_midi_bytes(make_piece(9)))
    seen = _decoded_tokens(gen, monkeypatch)
    r = gen.generate(150, rng_seed=5, primer=primer, temperature=1.0)
    assert r.note_count == 150
    prime, out = seen[-1]
    time = sum(parse_token(t)[1] for t in prime if t.startswith("W"))
    plans = []
    for i, t in enumerate(out):
        if t.startswith("W"):
            assert time % 16 + parse_token(t)[1] <= 16, f"{t} crosses a bar line at {time}"
            time += parse_token(t)[1]
            if time % 16 == 0 and i + 3 < len(out):
                plans.append(tuple(out[i + 1:i + 4]))
        elif t[0] in "RTK":
            assert out[i - 1][0] in "WRT" or i == 0
    assert len(plans) >= 3 and len(set(plans)) == 1  # the same plan at every bar line
    register, texture, key = plans[0]
    assert register.startswith("R") and texture.startswith("T")
    assert key == "K0"  # a key-normalised model composes in C major / A minor: every bar in the home key
    if primer is None:  # a corpus excerpt: the real piece's plan at the excerpt's bar line, held inside
        excerpt_plan = [t for t in prime if t[0] in "RT"][:2]  # the excerpts' usual range (texture: median up)
        for token, planned in zip(excerpt_plan, plans[0]):
            low, mid, high = gen.plan_range(token[0])
            assert planned == f"{token[0]}{min(max(int(token[1:]), mid if token[0] == 'T' else low), high)}"
    elif isinstance(primer, str):  # a melody: its register, and the corpus's typical texture
        assert texture == f"T{gen.plan_range('T')[1]}" and register == "R66"  # C4 E4 G4 C5: mean 64.75


def test_planned_model_batched_equals_alone_and_continues(music_planned):
    from concurrent.futures import ThreadPoolExecutor

    gen = music_planned
    requests = [dict(notes=40 + 7 * i, rng_seed=i, primer=("C4 E4 G4", None)[i % 2]) for i in range(6)]
    alone = [gen.generate(**r).notes for r in requests]
    gen.enable_batching(max_batch=4, exact=True)
    try:
        with ThreadPoolExecutor(6) as pool:
            batched = list(pool.map(lambda r: gen.generate(**r).notes, requests))
        longer = gen.continue_piece(alone[0], bars=4, rng_seed=3)
    finally:
        gen.close_batching(wait=True)
        gen.batcher = None
    assert batched == alone
    assert [(n.onset, n.pitch) for n in longer.notes[:len(alone[0])]] == [(n.onset, n.pitch) for n in alone[0]]


def test_plan_bars_config():
    from generators.errors import ConfigError
    from generators.music.config import MUSIC, MusicConfig

    assert MUSIC.plan_bars == 1
    assert MusicConfig.from_dict({"preset": "music"}).plan_bars == 0  # checkpoints from before plans
    with pytest.raises(ConfigError, match="plan_bars.*-1"):
        MusicConfig(plan_bars=-1)


def test_fine_tuning_keeps_the_plan_encoding(music_trained, midi_corpus):
    import dataclasses

    from generators.errors import ConfigError

    gen, _ = music_trained
    with pytest.raises(ConfigError, match="plan_bars"):
        MusicGenerator.train(midi_corpus, config=dataclasses.replace(gen.config, plan_bars=4), epochs=1,
                             progress="none", init_from=gen)


def test_texture_and_register_choose_the_plan(music_planned, music_trained, monkeypatch):
    gen = music_planned
    seen = _decoded_tokens(gen, monkeypatch)
    for texture, register, which in (("sparse", "low", 0), ("full", "high", 2), ("medium", "middle", 1)):
        gen.generate(60, rng_seed=1, texture=texture, register=register)
        plan = [t for t in seen[-1][1] if t[0] in "RT"][:2]
        assert plan == [f"R{gen.plan_range('R')[which]}", f"T{gen.plan_range('T')[which]}"]
    gen.generate(60, rng_seed=1, primer="C4 E4 G4 C5", texture="full")  # the melody's register, a full texture
    assert [t for t in seen[-1][1] if t[0] in "RT"][:2] == ["R66", f"T{gen.plan_range('T')[2]}"]
    with pytest.raises(GenerationError, match="texture must be auto, sparse, medium, full; got 'thick'"):
        gen.generate(10, texture="thick")
    with pytest.raises(GenerationError, match="no texture or register plans"):
        music_trained[0].generate(10, register="low")
    assert music_trained[0].generate(10, register="auto", rng_seed=1).note_count == 10


def test_key_plan_is_the_home_key_or_the_primers_own(music_planned):
    import dataclasses

    from generators.music.primers import Primer, PrimerBuilder

    gen = music_planned
    primed = Primer("notes", gen.codec.encode(parse_note_list("G4 B4 D5 F#5"))[:-1], "G4 B4 D5 F#5", None, None)
    assert gen.primers.plan_of(primed)[2] == "K0"  # composed in C major / A minor
    absolute = PrimerBuilder(gen.vocab, dataclasses.replace(gen.config, augment="corpus-keys"), gen.codec)
    assert absolute.plan_of(primed)[2] == "K7"  # other models: the primer's key


def test_a_piece_is_never_shorter_than_asked_for(music_trained):
    """Bars or seconds that would take more notes than the cap: an error naming the bar, not a cut piece."""
    gen, _ = music_trained
    with pytest.raises(GenerationError, match=r"reached 20 notes .* in bar \d+ of 50"):
        gen.generate(bars=50, rng_seed=1, max_notes=20)
    with pytest.raises(GenerationError, match="6,000 bars; a piece has at most 1,000"):
        gen.generate(seconds=3600, tempo=400)
    with pytest.raises(GenerationError, match="notes must be between 1 and 20"):
        gen.generate(30, max_notes=20)
    piece = gen.generate(bars=2, rng_seed=1)
    assert piece.bars == 2.0 and max(n.onset for n in piece.notes) < 2 * 16


def test_a_continuation_leaves_the_piece_as_it_was():
    """A C3 held under a melody keeps its length: a new note that would strike it again while held is left out."""
    from generators.music.encoder import Note
    from generators.music.generator import _joined

    piece = [Note(0, 48, 64)] + [Note(4 * i, 60 + i, 4) for i in range(8)]
    new = [Note(32, 48, 4), Note(32, 67, 4), Note(64, 48, 8)]
    whole = _joined(piece, new)
    assert set(piece) <= set(whole) and Note(32, 48, 4) not in whole
    assert Note(32, 67, 4) in whole and Note(64, 48, 8) in whole  # (after the hold, the key is free again)


def test_a_piece_of_notes_stops_at_max_seconds():
    from generators.music.encoder import Note
    from generators.music.generator import _cut_at

    notes = [Note(16 * i, 60, 32) for i in range(10)]  # at 60 BPM and 4 steps a quarter: 4 s apart, 8 s long
    kept, cut = _cut_at(notes, 20.0, 60.0, 4)
    assert cut == 20.0 and [n.onset for n in kept] == [0, 16, 32, 48, 64] and kept[-1].duration == 16
    assert _cut_at(notes, 600.0, 60.0, 4) == (notes, 0.0) and _cut_at(notes, None, 60.0, 4) == (notes, 0.0)


def test_section_bars_are_refused_without_a_form_or_against_bars():
    from generators.music.generator import _form_of

    rng = np.random.default_rng(0)
    assert _form_of("AABA", None, None, None, 4, rng, 16)[0].section_bars == 4
    assert _form_of("AABA", None, 16, None, 4, rng, 16)[2] == 16
    with pytest.raises(GenerationError, match="32 bars and 4-bar sections disagree: AABA in 4-bar sections is 16"):
        _form_of("AABA", None, 32, None, 4, rng, 16)
    for letters in ("auto", None):
        with pytest.raises(GenerationError, match="give a form too"):
            _form_of(letters, None, 32, None, 4, rng, 16)


def test_a_key_beside_chords_must_be_theirs():
    from generators.music.chords import check_fits_key, parse_progression
    from generators.music.stats import parse_key

    pop = parse_progression("C G Am F")
    assert check_fits_key(pop, parse_key("A minor"), "C G Am F") is pop
    assert check_fits_key(parse_progression("C A7 Dm G"), parse_key("C"), "C A7 Dm G")  # a secondary dominant
    assert check_fits_key(parse_progression("Am E Am E7"), parse_key("A minor"), "Am E Am E7")
    with pytest.raises(GenerationError, match="the chords C G Am F are in C major, not Eb major: leave the key out"):
        check_fits_key(pop, parse_key("Eb major"), "C G Am F")


def test_a_continuation_follows_the_loudness_the_piece_ends_at():
    from generators.music.encoder import Note
    from generators.music.generator import _at_level

    tail = [Note(i, 60, 1, 127) for i in range(8)]
    new = [Note(10, 62, 1, 30), Note(11, 64, 1, 50)]
    assert [n.velocity for n in _at_level(tail, new)] == [117, 127]  # (the mean moved up, the rise kept)
    assert _at_level([], new) == new and _at_level(tail, []) == []
