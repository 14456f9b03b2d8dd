"""How words sound, for rhymes and syllables: the CMU Pronouncing Dictionary (``pronouncing``), spelling otherwise.

Two line ends rhyme when they are different words whose *rhyming parts* match: the sounds from the last stressed
vowel to the end (``love`` and ``above``: ``AH V``), compared without stress marks. A word the dictionary lacks
falls back to its spelling: its last vowel group and what follows (``lovin'`` -> ``in``), so it still rhymes with
words spelled alike. Syllables are the dictionary's vowel sounds, or the spelling's vowel groups (a silent final
``e`` not counted).
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*'?")
_VOWELS = re.compile(r"[aeiouy]+")


def words_of(line: str) -> list[str]:
    """A line's words, lowercased, without punctuation (``"Don't stop, baby!"`` -> ``["don't", "stop", "baby"]``)."""
    return _WORD.findall(line.lower().replace("’", "'"))


def last_word(line: str) -> str:
    words = words_of(line)
    return words[-1] if words else ""


@lru_cache(maxsize=65536)
def _phones(word: str) -> str | None:
    import pronouncing

    found = pronouncing.phones_for_word(word) or (pronouncing.phones_for_word(word.rstrip("'") + "g")
                                                   if word.endswith("in'") else [])
    return found[0] if found else None


def known(word: str) -> bool:
    """Whether the dictionary knows the word."""
    return _phones(word) is not None


@lru_cache(maxsize=65536)
def rhyme_key(word: str) -> str:
    """What a word must share with another to rhyme (see the module docstring); "" for no word."""
    if not word:
        return ""
    phones = _phones(word)
    if phones is not None:
        import pronouncing

        return re.sub(r"\d", "", pronouncing.rhyming_part(phones))
    return "~" + _spelled_key(word)


def _spelled_key(word: str) -> str:
    letters = re.sub(r"[^a-z]", "", word)
    if letters.endswith("in") and word.endswith("in'"):
        letters += "g"
    groups = list(_VOWELS.finditer(letters))
    if not groups:
        return letters
    start = groups[-1].start()
    if letters.endswith("e") and len(groups) > 1 and groups[-1].end() == len(letters):  # a silent final e
        start = groups[-2].start()
    return letters[start:]


def rhymes(a: str, b: str) -> bool:
    """Different words that rhyme (``rhymes("love", "above")``; a word never rhymes with itself)."""
    a, b = a.lower(), b.lower()
    if not a or not b or a == b:
        return False
    key_a, key_b = rhyme_key(a), rhyme_key(b)
    if key_a.startswith("~") != key_b.startswith("~"):  # one known, one spelled: compare spellings
        return _spelled_key(a) == _spelled_key(b)
    return key_a == key_b


@lru_cache(maxsize=65536)
def syllables(word: str) -> int:
    """Syllables of a word: the dictionary's vowel sounds, or the spelling's vowel groups (at least 1)."""
    phones = _phones(word)
    if phones is not None:
        return max(1, sum(ch.isdigit() for ch in phones))
    letters = re.sub(r"[^a-z]", "", word)
    count = len(_VOWELS.findall(letters))
    if letters.endswith("e") and not letters.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1
    return max(1, count)


def line_syllables(line: str) -> int:
    return sum(syllables(w) for w in words_of(line))


@lru_cache(maxsize=1)
def _rhyme_index() -> dict[str, list[str]]:
    """Rhyming part -> the dictionary's plain words that have it (built once, about a second)."""
    import pronouncing

    pronouncing.init_cmu()
    index: dict[str, list[str]] = {}
    for word, phones in pronouncing.pronunciations:
        if _WORD.fullmatch(word) and 2 <= len(word) <= 12 or word in ("i", "a"):
            key = re.sub(r"\d", "", pronouncing.rhyming_part(phones))
            bucket = index.setdefault(key, [])
            if not bucket or bucket[-1] != word:
                bucket.append(word)
    return index


def rhyming_words(word: str) -> list[str]:
    """Words that rhyme with ``word`` (the dictionary's, for a known word; none for an unknown one), not itself."""
    key = rhyme_key(word.lower())
    if not key or key.startswith("~"):
        return []
    return [w for w in _rhyme_index().get(key, []) if w != word.lower()]
