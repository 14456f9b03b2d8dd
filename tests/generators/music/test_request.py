"""A piece asked for, checked once in the library: its length, a form's bars, the time cap, a continuation's budget."""

from __future__ import annotations

import re

import pytest

from generators.errors import GenerationError
from generators.music.encoder import Note
from generators.music.request import bars_seconds, check_length, continuation_budget, piece_seconds


def test_lengths_forms_and_the_time_cap():
    assert check_length(None, None, None, tempo=120, form=None, chords=None, max_seconds=600) == (None, None, None)
    assert check_length(None, None, None, tempo=120, form="AABA", chords="", max_seconds=600) == (None, 32, None)
    assert check_length(None, 16, None, tempo=120, form="AABA", chords="C G", max_seconds=600) == (None, 16, None)
    assert bars_seconds(200, 20) == 2400
    for kwargs, fragment in ((dict(notes=5, bars=2), "give one length: notes, bars or seconds (got notes and bars)"),
                             (dict(notes=5, form="AABA"), "a form sets the length in bars"),
                             (dict(bars=200, tempo=20), "200 bars at 20 BPM last 2,400 s; a piece here lasts at most"),
                             (dict(chords="C H7"), "unknown chord 'H7'"), (dict(form="ACAB"), "in the order")):
        args = {"notes": None, "bars": None, "seconds": None, "tempo": 120, "form": None, "chords": None,
                "max_seconds": 600, **kwargs}
        with pytest.raises(GenerationError, match=re.escape(fragment)):
            check_length(args.pop("notes"), args.pop("bars"), args.pop("seconds"), **args)


def test_a_continuation_gets_what_is_left_of_the_caps():
    piece = [Note(4 * i, 60, 4) for i in range(1900)]  # 7,600 sixteenths: 475 s at 240 BPM
    assert piece_seconds(piece, 240) == 475
    budget = continuation_budget(piece, tempo=240, notes=500, max_notes=2000, max_seconds=600)
    assert (budget.notes, budget.max_notes, budget.max_seconds) == (100, 100, 125)
    assert budget.note == "only 100 notes added: a piece here has at most 2,000"
    assert continuation_budget(piece, tempo=240, bars=8, max_notes=2000, max_seconds=600).notes is None
    with pytest.raises(GenerationError, match="continued by at most 125 s"):
        continuation_budget(piece, tempo=240, seconds=200, max_notes=2000, max_seconds=600)
    with pytest.raises(GenerationError, match="cannot be continued"):
        continuation_budget(piece * 2, tempo=240, max_notes=2000, max_seconds=600)
