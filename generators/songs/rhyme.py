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
def _pronunciations(word: str) -> tuple[str, ...]:
    """The dictionary's pronunciations of a word (``lovin'`` read as ``loving``); empty for an unknown word."""
    import pronouncing

    return tuple(pronouncing.phones_for_word(word) or (pronouncing.phones_for_word(word.rstrip("'") + "g")
                                                       if word.endswith("in'") else []))


def _phones(word: str) -> str | None:
    found = _pronunciations(word)
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


@lru_cache(maxsize=65536)
def rhyme_keys(word: str) -> frozenset[str]:
    """The rhyme keys of every pronunciation the dictionary gives (``yours``: as in ``cures`` and as in ``doors``),
    or the one :func:`rhyme_key` spells."""
    import pronouncing

    found = _pronunciations(word) if word else ()
    if not found:
        return frozenset({rhyme_key(word)} if word else ())
    found = [p for p in found if re.search(r"[12]", p)] or found  # not a reduced form (``yours`` as ``Y ER0 Z``)
    return frozenset(re.sub(r"\d", "", pronouncing.rhyming_part(phones)) for phones in found)


def rhymes(a: str, b: str) -> bool:
    """Different words that rhyme in some pronunciation of each (``rhymes("love", "above")``; a word never rhymes
    with itself)."""
    a, b = a.lower(), b.lower()
    if not a or not b or a == b:
        return False
    if rhyme_key(a).startswith("~") != rhyme_key(b).startswith("~"):  # one known, one spelled: compare spellings
        return _spelled_key(a) == _spelled_key(b)
    return bool(rhyme_keys(a) & rhyme_keys(b))


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


#: Words a steered rhyme never brings in (the dictionary has them; a line the model writes may still use them).
AVOID = frozenset("""
arse ass asses bitch bitches butt cock crap cum cunt dick fag fart farts fuck fucked fucks homo jap kike nigga nigger
piss pissed poop porn puke queer rape raped shit shits slut spic tit tits turd twat vomit whore
""".split())


#: Words a sung line does not end on (articles, prepositions, conjunctions, possessives): a candidate line ending on
#: one ranks below the others, and a steered rhyme is never one.
WEAK_ENDINGS = frozenset("""
a an the of to and or but nor so if as at by for from in into on onto upon with than that my your our their his its
i'm you're we're they're he's she's it's i'll you'll we'll they'll i'd you'd we'd they'd i've you've we've they've
""".split())  # (the contractions end a clause before its verb or complement: "... while I'm")


def warm_rhymes() -> None:
    """Read the pronunciation dictionary and build the rhyme index now (about a second), not at the first song."""
    _rhyme_index()


def rhyming_words(word: str, allowed: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Words that rhyme with ``word`` (the dictionary's, for a known word; none for an unknown one), not itself, not
    one of :data:`AVOID`, and, where ``allowed`` is given, among those (a model's corpus words: the dictionary also
    lists thousands of names and rare words)."""
    word = word.lower()
    if not word or rhyme_key(word).startswith("~"):
        return []
    index = _rhyme_index()
    pool = sorted({w for key in rhyme_keys(word) for w in index.get(key, ())})
    return [w for w in pool if w != word and w not in AVOID and w not in WEAK_ENDINGS and (not allowed or w in allowed)]


def corpus_words(text: str, min_count: int = 2) -> list[str]:
    """The words of a corpus seen at least ``min_count`` times (lowercase, sorted): what its model knows how to use."""
    counts: dict[str, int] = {}
    for w in words_of(text):
        counts[w] = counts.get(w, 0) + 1
    return sorted(w for w, n in counts.items() if n >= min_count)
