import pytest

from generators.errors import GenerationError


def test_output_begins_with_seed_and_stays_in_vocabulary(trained):
    gen, _ = trained
    r = gen.generate("Yeah, oho", length=200, temperature=0.7, rng_seed=5)
    assert r.text.startswith("Yeah, oho")
    assert r.generated_chars == 200 and len(r.text) == len("Yeah, oho") + 200
    assert set(r.text[len(r.seed):]) <= set(gen.vocab.chars)
    assert r.rng_seed == 5 and r.stop_reason == "length"


def test_rng_seed_reproduces_and_differs(trained):
    gen, _ = trained
    a = gen.generate("love", length=150, temperature=1.0, rng_seed=1)
    b = gen.generate("love", length=150, temperature=1.0, rng_seed=1)
    c = gen.generate("love", length=150, temperature=1.0, rng_seed=2)
    assert a.text == b.text
    assert a.text != c.text
    d = gen.generate("love", length=20)
    assert isinstance(d.rng_seed, int)  # a drawn seed is reported


def test_unknown_seed_characters_are_replaced_not_fatal(trained):
    gen, _ = trained
    seed = "Ÿéåh ☃ 東京"
    r = gen.generate(seed, length=50, rng_seed=3)
    assert r.text.startswith(seed)
    assert set(r.replaced) >= {"☃", "東", "京"}
    assert all(v in gen.vocab for v in r.replaced.values())


@pytest.mark.parametrize("rng_seed", range(12))
def test_a_seeds_last_word_stays_whole(trained, rng_seed):
    """A songwriter's seed is words: "oho" is not continued as "ohoo" (free text and songs alike)."""
    gen, _ = trained
    text = gen.generate("Yeah, oho", length=20, temperature=1.2, rng_seed=rng_seed).text
    assert text.startswith("Yeah, oho") and not text[len("Yeah, oho")].isalpha(), text
    song = gen.song("Yeah, oho", lines=2, rhyme="none", temperature=1.2, rng_seed=rng_seed).lines[0]
    assert song == "Yeah, oho" or (song.startswith("Yeah, oho") and not song[len("Yeah, oho")].isalpha()), song


def test_a_seed_the_model_cannot_read_is_kept_apart_and_does_not_drift_into_blanks(trained):
    gen, _ = trained
    for seed in ("我爱你", "🎸🔥🎸", "שלום עולם"):
        r = gen.generate(seed, length=120, rng_seed=1)
        assert r.text.startswith(seed + " ") or r.text[len(seed)].isspace(), r.text
        assert "     " not in r.text and r.text[len(seed):].strip(), r.text
        song = gen.song(seed, lines=2, rhyme="none", rng_seed=1).lines[0]
        assert song.startswith(seed + " ") and len(song) > len(seed) + 1, song


def test_greedy_is_deterministic_without_seed(trained):
    gen, _ = trained
    assert gen.generate("the", length=60, temperature=0).text == gen.generate("the", length=60, temperature=0).text


def test_empty_seed(trained):
    gen, _ = trained
    r = gen.generate("", length=30, rng_seed=0)
    assert len(r.text) == 30


def test_stop_at_song_end_and_line_count(trained):
    gen, _ = trained
    r = gen.generate("Yeah", length=3000, temperature=0.5, rng_seed=11, until_song_end=True)
    assert r.stop_reason in ("song end", "length")
    if r.stop_reason == "song end":
        assert "\n\n" not in r.text
    lines = gen.generate("Yeah", length=3000, temperature=0.5, rng_seed=11, max_lines=3)
    assert lines.stop_reason == "lines"
    assert len(lines.text.split("\n")) == 3


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"length": 10**7}, {"temperature": -0.5}, {"top_k": 0},
                                    {"top_p": 2.0}, {"rng_seed": -3}, {"max_lines": 0}])
def test_bad_generation_arguments(trained, kwargs):
    gen, _ = trained
    with pytest.raises(GenerationError):
        gen.generate("x", **kwargs)


def test_huge_seed_is_rejected(trained):
    gen, _ = trained
    with pytest.raises(GenerationError, match="too long"):
        gen.generate("a" * 10_000)
