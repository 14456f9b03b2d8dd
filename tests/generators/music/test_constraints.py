"""The music decoder's rules, each alone on a hand-made vocabulary (see generators/music/constraints.py)."""

from __future__ import annotations

import numpy as np

from generators.decoding import Block, StopWhen, run_processors
from generators.music.constraints import (MAX_REPEATS, MAX_SILENT_EVENTS, BarClock, OnePitchPerOnset,
                                          PieceLength, RepeatGuard, StallGuard)
from generators.music.encoder import EventVocab

VOCAB = EventVocab(["START", "END", "P60", "P64", "D2", "D4", "W2", "W4", "W16", "R60", "T20", "K0"])
ID = VOCAB.index


def free() -> np.ndarray:
    return np.zeros(len(VOCAB), np.float32)


def test_the_vocabulary_answers_what_a_token_is():
    assert [VOCAB.kind(i) for i in range(len(VOCAB))] == ["START", "END", "P", "P", "D", "D", "W", "W", "W",
                                                          "R", "T", "K"]
    assert VOCAB.mask("P").tolist() == [False, False, True, True] + [False] * 8
    assert VOCAB.amounts("W")[[ID["W2"], ID["W16"], ID["P60"]]].tolist() == [2, 16, 0]


def test_block_copies_and_stop_when_ends():
    logits = free()
    out = run_processors([Block(VOCAB.mask("START", "END"))], logits)
    assert np.isinf(out[:2]).all() and np.isfinite(logits).all()  # the stepper's array is never changed
    stop = StopWhen(lambda t: t == ID["END"])
    stop.observe(ID["P60"])
    assert not stop.done
    stop.observe(ID["END"])
    assert stop.done


def test_repeat_guard_forbids_ending_the_onset_after_a_run():
    guard = RepeatGuard(VOCAB)
    chord = ["D2", "P60", "P64"]
    for _ in range(MAX_REPEATS):
        assert np.isfinite(guard.process(free())).all()  # a run shorter than the cap is free
        for t in chord + ["W2"]:
            guard.observe(ID[t])
    guard.observe(ID["W4"])  # a wait with no notes (a bar line) neither breaks nor extends the run
    for t in ["D4", "P60", "P64"]:  # the same pitches with another duration: the same onset, once cut
        guard.observe(ID[t])
    masked = guard.process(free())
    assert np.isinf(masked[[ID["W2"], ID["W4"]]]).all() and np.isfinite(masked[[ID["P60"], ID["D4"]]]).all()
    guard.observe(ID["D4"])
    guard.observe(ID["P60"])  # another pitch... (P60 twice: the onset now differs from the run's)
    assert np.isfinite(guard.process(free())).all()
    only_waits = np.full(len(VOCAB), -np.inf, np.float32)
    only_waits[ID["W2"]] = 0.0
    guard.notes = list(guard.last)  # the repeated notes again, and nothing but a wait to draw
    assert guard.process(only_waits.copy())[ID["W2"]] == 0.0  # never leaves nothing to draw


def test_one_pitch_per_onset():
    rule = OnePitchPerOnset(VOCAB)
    rule.observe(ID["P60"])
    assert np.isinf(rule.process(free())[ID["P60"]]) and np.isfinite(rule.process(free())[ID["P64"]])
    rule.observe(ID["W2"])  # the next onset: free again
    assert np.isfinite(rule.process(free())).all()


def test_stall_guard_asks_for_a_note_after_silent_events_and_ignores_plans():
    guard = StallGuard(VOCAB)
    for _ in range(MAX_SILENT_EVENTS - 1):
        guard.observe(ID["W2"])
    guard.observe(ID["R60"])  # a forced plan token is not the model stalling
    assert np.isfinite(guard.process(free())).all()
    guard.observe(ID["W2"])
    out = guard.process(free())
    assert np.isfinite(out[[ID["P60"], ID["D2"]]]).all() and np.isinf(out[[ID["W2"], ID["END"]]]).all()
    guard.observe(ID["D4"])  # after a duration: a note
    out = guard.process(free())
    assert np.isfinite(out[ID["P60"]]) and np.isinf(out[ID["D2"]])
    guard.observe(ID["P64"])
    assert np.isfinite(guard.process(free())).all()


def test_bar_clock_stops_waits_at_bar_lines_and_forces_the_plan():
    plan = [ID["R60"], ID["T20"], ID["K0"]]
    clock = BarClock(VOCAB, 16, plan, time=12, opening=[])
    out = clock.process(free())
    assert np.isinf(out[ID["W16"]]) and np.isfinite(out[[ID["W2"], ID["W4"]]]).all()  # 4 steps to the bar line
    clock.observe(ID["W4"])
    for token in plan:  # at the bar line: the plan, in order, whatever the logits say
        out = clock.process(free())
        assert np.isfinite(out).sum() == 1 and np.isfinite(out[token])
        clock.observe(token)
    assert np.isfinite(clock.process(free())[ID["W16"]])  # a whole bar ahead


def test_piece_length_by_notes_by_steps_and_the_cap():
    by_notes = PieceLength(VOCAB, notes=2, steps=None, max_notes=100)
    for t in ("D2", "P60", "W2", "P64"):
        by_notes.observe(ID[t])
    assert by_notes.done and by_notes.finished
    by_steps = PieceLength(VOCAB, notes=None, steps=4, max_notes=100)
    for t in ("W2", "D2", "P60", "W2"):  # time counts from the first note
        by_steps.observe(ID[t])
    assert not by_steps.done and by_steps.time == 2
    by_steps.observe(ID["W2"])
    assert by_steps.finished and not by_steps.capped
    capped = PieceLength(VOCAB, notes=None, steps=64, max_notes=2)
    for t in ("D2", "P60", "P64"):
        capped.observe(ID[t])
    assert capped.done and capped.capped and not capped.finished


def test_bar_clock_ends_each_plan_with_the_bar_s_chord():
    vocab = EventVocab(["START", "END", "P60", "D4", "W4", "W16", "R60", "T20", "K0", "V60", "H0", "H7", "H21"])
    ids = vocab.index
    is_chord = vocab.mask("H")
    plan = [ids["R60"], ids["T20"], ids["K0"]]
    given = {0: ids["H7"], 16: None}  # bar 1's chord given, bar 2's the model's own
    clock = BarClock(vocab, 16, plan, time=0, opening=BarClock.opening_of(vocab, [ids["START"], ids["W16"]], 16, plan),
                     harmony=given.get)
    for token in plan:
        assert np.isfinite(clock.process(np.zeros(len(vocab)))).sum() == 1
        clock.observe(token)
    out = clock.process(np.zeros(len(vocab)))
    assert np.isfinite(out).sum() == 1 and np.isfinite(out[ids["H7"]])  # the chord asked for
    clock.observe(ids["H7"])
    inside = clock.process(np.zeros(len(vocab)))
    assert np.isinf(inside[is_chord]).all() and np.isfinite(inside[ids["V60"]])  # no chord inside a bar
    clock.time = 0
    clock.observe(ids["W16"])
    for token in plan:
        clock.observe(token)
    out = clock.process(np.zeros(len(vocab)))
    assert np.isfinite(out[is_chord]).all() and np.isinf(out[~is_chord]).all()  # bar 2: the model picks one
    # a primer that ended with the plan already written: only the chord is still to come
    assert BarClock.opening_of(vocab, [ids["W16"], *plan], 16, plan) == [BarClock.CHORD]
    assert BarClock.opening_of(vocab, [ids["W4"]], 16, plan) == []
    assert BarClock.opening_of(VOCAB, [ID["W16"]], 16, plan) == plan  # a model without chords
