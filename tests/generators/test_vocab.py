import numpy as np
import pytest

from generators.errors import CheckpointError, GenerationError
from generators.vocab import CharVocab


def test_round_trip_and_index_table():
    text = "Yeah, oho!\nla la\n"
    vocab = CharVocab.from_text(text)
    assert vocab.chars == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int32
    assert vocab.decode(ids) == text
    assert vocab.index["\n"] == 0  # sorted by code point: newline first


def test_serialisation_round_trip():
    vocab = CharVocab.from_text("abc xyz\n")
    assert CharVocab.from_dict(vocab.to_dict()) == vocab
    assert "words" not in vocab.to_dict() and CharVocab.from_dict(vocab.to_dict()).words == frozenset()
    worded = CharVocab(vocab.chars, ["abc", "xyz"])  # a text model's corpus words travel with its vocabulary
    assert CharVocab.from_dict(worded.to_dict()).words == {"abc", "xyz"}


@pytest.mark.parametrize("bad", [["a", "a"], ["ab"], []])
def test_invalid_vocabularies_name_the_bad_value(bad):
    with pytest.raises(ValueError) as err:
        CharVocab(bad)
    if bad:
        assert repr(bad[0]) in str(err.value) or "'a'" in str(err.value)


def test_corrupt_vocab_file_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="vocab.json"):
        CharVocab.from_dict({"type": "char", "chars": ["a", "a"]})
    with pytest.raises(CheckpointError):
        CharVocab.from_dict({"nope": 1})


def test_strict_encode_rejects_unknown():
    with pytest.raises(GenerationError, match="'Z'"):
        CharVocab.from_text("abc").encode("aZ")


def test_lenient_encode_maps_to_nearest_and_reports():
    vocab = CharVocab.from_text("hello world, it's me\n")
    ids, replaced = vocab.encode_lenient("Héllo\u2019 W\u00f6rld\t#")
    assert replaced["H"] == "h"
    assert replaced["é"] == "e"
    assert replaced["\u2019"] == "'"
    assert replaced["W"] == "w"
    assert replaced["\u00f6"] == "o"
    assert replaced["\t"] == " "
    assert replaced["#"] == " "  # nothing close: the fallback
    assert vocab.decode(ids) == "hello' world  "
    assert all(0 <= i < len(vocab) for i in ids)


def test_a_seed_view_keeps_words_whole_and_unknown_runs_apart():
    v = CharVocab.from_text("abcdefghijklmnopqrstuvwxyz ,'-\n")
    oho = v.seed_view("yeah, oho")
    assert oho.whole_word and oho.joiner == "" and v.decode(oho.ids) == "yeah, oho"
    assert v.seed_view("don'").whole_word and not v.seed_view("sweet-").whole_word
    assert not v.seed_view("yeah, ").whole_word and not v.seed_view("").whole_word
    emoji = v.seed_view("hey \U0001F3B8\U0001F525")  # an unknown run: read as one blank, printed apart
    assert v.decode(emoji.ids) == "hey " and emoji.joiner == " " and not emoji.whole_word
    assert set(emoji.replaced) == {"\U0001F3B8", "\U0001F525"}
    only = v.seed_view("\u6211\u7231\u4f60")  # nothing the model can read: it starts as without a seed
    assert len(only.ids) == 0 and only.joiner == " "
    assert v.word_chars()[v.index["a"]] and v.word_chars()[v.index["-"]] and not v.word_chars()[v.index[" "]]
