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
