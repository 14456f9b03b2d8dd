"""Songs: schemes and forms parsed and refused, rhymes and syllables, and songs written by the shipped lyrics model."""

from __future__ import annotations

import numpy as np
import pytest

from generators.errors import GenerationError
from generators.songs.form import build_plan, next_section, parse_scheme, parse_song_form, plan_song, read_song
from generators.songs.rhyme import last_word, line_syllables, rhyme_key, rhymes, rhyming_words, syllables, words_of
from generators.songs.writer import song_text


@pytest.fixture(scope="module")
def lyrics():
    from generators.paths import shipped_checkpoints
    from generators.text import CharGenerator

    return CharGenerator.load(shipped_checkpoints() / "lyrics")


@pytest.mark.parametrize("text, scheme", [("AABB", "AABB"), ("abab", "ABAB"), ("ABCB", "ABCB"), ("AAAA", "AAAA"),
                                          ("none", ""), (None, None), ("auto", None)])
def test_schemes_are_parsed(text, scheme):
    assert parse_scheme(text) == scheme


@pytest.mark.parametrize("text, fragment", [("XYZ1", "letters like"), ("ABBA1", "letters like"),
                                            ("BA", "in the order"), ("A" * 9, "letters like")])
def test_malformed_schemes_are_refused_in_one_line(text, fragment):
    with pytest.raises(GenerationError, match=fragment) as err:
        parse_scheme(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, form", [("verse chorus verse chorus bridge chorus", "VCVCBC"), ("VCVCBC", "VCVCBC"),
                                        ("vcvc", "VCVC"), ("Intro, Verse, Pre-Chorus, Chorus", "IVPC"),
                                        ("none", ""), ("auto", None), (None, None)])
def test_song_forms_are_parsed(text, form):
    assert parse_song_form(text) == form


@pytest.mark.parametrize("text, fragment", [("", "empty"), ("  ", "empty"), ("V" * 50, "at most 24"),
                                            ("verse solo", "unknown section"), ("VXQ9", "letters are V")])
def test_malformed_song_forms_are_refused_in_one_line(text, fragment):
    with pytest.raises(GenerationError, match=fragment) as err:
        parse_song_form(text)
    assert "\n" not in str(err.value)


def test_a_plan_has_the_lines_asked_for_and_its_chorus_returns():
    rng = np.random.default_rng(0)
    for lines in (1, 5, 12, 16, 17, 30, 64):
        plan = plan_song(lines, None, None, rng)
        assert len(plan.lines) == lines and plan.scheme in ("AABB", "ABAB", "ABCB")
        assert bool(plan.form) == (lines >= 12)  # a common form from 12 lines on
    plan = plan_song(16, "VCVCBC", "AABB", rng)
    chorus = [i for i, line in enumerate(plan.lines) if line.kind == "C"]
    first = [i for i in chorus if plan.lines[i].repeat_of is None]
    assert first and all(plan.lines[i].repeat_of in first for i in chorus if i not in first)
    assert plan.labels() == ["[Verse 1]", "[Chorus]", "[Verse 2]", "[Chorus]", "[Bridge]", "[Chorus]"]
    with pytest.raises(GenerationError, match="lines must be between"):
        plan_song(0, None, None, rng)
    with pytest.raises(GenerationError, match="too few"):
        plan_song(3, "VCVCBC", "", rng)


def test_song_text_reads_back_and_continues_with_the_next_section():
    plan = plan_song(12, "VCV", "AABB", np.random.default_rng(0))
    lines = [f"line {i}" for i in range(12)]
    assert read_song(song_text(lines, plan, True)) == (lines, "VCV", [4, 4, 4])
    assert read_song(song_text(lines, plan, False)) == (lines, "", [12])
    more = next_section("VCV", [4, 4, 4], "VCV", "AABB")  # (never the same section twice in a row)
    assert more.form == "VCVC" and [line.repeat_of for line in more.lines[12:]] == [4, 5, 6, 7]
    assert next_section("VC", [4, 4], "VC", "AABB").form == "VCV"


def test_rhymes_and_syllables_from_the_dictionary_and_from_spelling():
    assert rhymes("love", "above") and rhymes("night", "tonight") and rhymes("fire", "desire")
    assert not rhymes("love", "love") and not rhymes("love", "move") and not rhymes("", "love")
    assert rhyme_key("zorblax").startswith("~") and rhymes("zorblax", "glorblax")  # unknown: spelling
    assert syllables("singing") == 2 and syllables("fire") in (1, 2) and syllables("zorblaxe") == 2
    assert line_syllables("Yeah, I love you baby") == 6 and words_of("Don't stop, baby!") == ["don't", "stop", "baby"]
    assert last_word("So we dance...") == "dance" and last_word("🎶🎶") == ""
    assert "above" in rhyming_words("love") and "love" not in rhyming_words("love") and not rhyming_words("zorblax")


def test_syllable_and_line_bounds_are_refused_in_one_line(lyrics):
    for kwargs, fragment in [({"syllables": 0}, "syllables must be between 2 and 24"),
                             ({"syllables": 99}, "syllables must be between 2 and 24"),
                             ({"lines": 0}, "lines must be between 1 and 64"), ({"rhyme": "XYZ1"}, "letters"),
                             ({"form": ""}, "empty"), ({"form": "V" * 50}, "at most 24")]:
        with pytest.raises(GenerationError, match=fragment) as err:
            lyrics.song("Hey", **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(GenerationError, match="already has 3 lines"):
        lyrics.song("a\nb\nc", lines=2)


def test_a_song_has_exactly_its_lines_and_its_chorus_returns_word_for_word(lyrics):
    song = lyrics.song("Yeah, oho", lines=16, form="VCVC", rng_seed=3)
    assert len(song.lines) == 16 and song.lines[0].startswith("Yeah, oho")
    assert song.lines[4:8] == song.lines[12:16] and all(line.strip() for line in song.lines)
    assert song.text.startswith("[Verse 1]\nYeah, oho") and song.text.count("[Chorus]") == 2
    assert len([line for line in song.text.split("\n") if line and not line.startswith("[")]) == 16
    assert "form verse chorus verse chorus" in song.summary()
    bare = lyrics.song("Yeah, oho", lines=16, form="VCVC", rng_seed=3, labels=False)
    assert bare.text == "\n".join(song.lines)  # the same song, without labels
    more = lyrics.continue_song(song.text, rng_seed=4)
    assert more.text.startswith(song.text) and more.plan.form == "VCVCV" and len(more.lines) == 20


def test_a_steered_rhyme_never_brings_in_a_crude_word_and_keeps_to_the_model_words():
    pool = rhyming_words("heart")
    assert "start" in pool and "apart" in pool and "fart" not in pool and "heart" not in pool
    assert "bart" in pool and rhyming_words("heart", {"start", "apple"}) == ["start"]  # the model's words


def test_the_shipped_lyrics_model_knows_its_corpus_words(lyrics):
    assert len(lyrics.vocab.words) > 1000 and {"love", "heart", "apart"} <= lyrics.vocab.words


def test_the_scheme_share_counts_the_pairs_each_section_asks_for():
    from generators.songs.stats import planned_share, scheme_share

    plan = build_plan("VCVC", [3, 2, 3, 2], "AABB")  # a verse of 3 lines: A A B; the chorus returns as a copy
    lines = ["I walk alone", "a stone", "the sky",  "my love", "above",
             "we ran away", "the day", "a word", "my love", "above"]
    assert planned_share(lines, plan) == pytest.approx(3 / 3)  # alone/stone, love/above, away/day
    assert scheme_share(lines, "AABB") == pytest.approx(1 / 4)  # a grid of fours from the first line misses them
    assert planned_share(["a", "b", "c"], build_plan("", [3], "")) == 0.0  # no scheme: no pairs


def test_aabb_couplets_rhyme(lyrics):
    pairs = []
    for seed in range(3):
        song = lyrics.song("", lines=8, rhyme="AABB", form="none", rng_seed=seed)
        pairs += [rhymes(last_word(song.lines[i]), last_word(song.lines[i + 1])) for i in range(0, 8, 2)]
    assert sum(pairs) >= 0.8 * len(pairs), pairs


def test_lines_keep_to_their_syllables(lyrics):
    song = lyrics.song("", lines=8, syllables=8, rhyme="none", form="none", rng_seed=5)
    counts = [line_syllables(line) for line in song.lines]
    assert sum(7 <= c <= 9 for c in counts) >= 6, counts


@pytest.mark.parametrize("seed", ["Je t'aime, mon cœur", "🎶🎶🎶", "Ich liebe dich\n"])
def test_any_seed_still_gives_a_song(lyrics, seed):
    song = lyrics.song(seed, lines=6, rng_seed=1)
    assert len(song.lines) == 6 and all(line.strip() for line in song.lines[1:])


def test_another_line_is_drawn_only_when_the_first_is_not_acceptable(lyrics, monkeypatch):
    """One line is drawn for each new line; more (2, then 4: DRAWS) only while none so far is acceptable (a
    repeat, "oh oh oh oh", a weak ending, the wrong syllables, far from the line's length in words), so most lines
    cost one row, none is left bad for want of trying."""
    import generators.songs.writer as writer

    drawn = []
    real = writer.SongWriter._candidates

    def counting(self, *args):
        got = real(self, *args)
        drawn.append(got)
        return got

    monkeypatch.setattr(writer.SongWriter, "_candidates", counting)
    song = lyrics.song("Yeah, oho", lines=12, rng_seed=3, form="none")
    assert len(song.lines) == 12
    assert len(drawn) >= 12 and all(len(got) <= max(writer.DRAWS) for got in drawn)  # (the seed's line is ended too)
    assert len(drawn) < 2 * 12  # most lines needed one draw

    drawn.clear()
    monkeypatch.setattr(writer, "MORE_WORDS_OFF", -1)  # nothing is acceptable: every line draws every round
    lyrics.song("Yeah, oho", lines=6, rng_seed=3, form="none")
    assert len(drawn) == len(writer.DRAWS) * 6


def test_without_a_syllable_target_lines_end_within_their_word_bounds(lyrics):
    """The shaper's word bounds: no line end before ``low`` words, no word after the ``high``-th (a line may close
    with punctuation), whatever the model would rather do."""
    from generators.sampling import SamplingOptions, TokenStream
    from generators.songs.rhyme import words_of
    from generators.songs.writer import LineShaper

    vocab, newline = lyrics.vocab, lyrics.vocab.index["\n"]
    prime = vocab.encode_lenient("Yeah, oho\n")[0]
    for seed in range(6):
        for low, high in ((1, 2), (5, 6), (9, 11)):
            stream = TokenStream(200, SamplingOptions(temperature=1.0), np.random.default_rng(seed),
                                 [LineShaper(vocab, None, "", (low, low, high))])
            tokens = lyrics.decode_many(prime, [stream])[0]
            assert tokens[-1] == newline
            count = len(words_of("".join(vocab.chars[t] for t in tokens[:-1])))
            assert low <= count <= high, (low, high, count)


@pytest.mark.parametrize("target", [2, 4, 6])
def test_few_syllables_keep_words_whole(lyrics, target):
    """No word broken or run on at the syllable limit: not "I wanna,,,", "don't,'se's" or "I've'd"."""
    import re

    for rng_seed in range(3):
        song = lyrics.song("", lines=8, rhyme="none", form="none", syllables=target, rng_seed=rng_seed)
        for line in song.lines:
            assert not re.search(r"[^\w\s]{2,}|'\w*'|\w'\w+'", line), line
            assert not line.endswith("'") or line[:-1].lower().endswith("in"), line
