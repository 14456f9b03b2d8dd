"""A song's shape: its sections (verse, chorus, bridge, ...), their lines, and the rhyme scheme of each.

``form``: section names in order, spelled out (``"verse chorus verse chorus bridge chorus"``) or as letters
(``"VCVCBC"``): V verse, C chorus, B bridge, P pre-chorus, I intro, O outro. The chorus (and a pre-chorus,
an intro or an outro) is written once and comes back word for word; every verse and the bridge are new.
``rhyme``: a scheme of letters over each run of lines (``AABB``, ``ABAB``, ``ABCB``, ``AAAA``; ``none``): lines
with one letter end in rhyming words, repeated every len(scheme) lines of a section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import GenerationError
from ..letters import check_first_come

SECTION_NAMES = {"V": "Verse", "C": "Chorus", "B": "Bridge", "P": "Pre-Chorus", "I": "Intro", "O": "Outro"}
_BY_WORD = {name.lower().replace("-", ""): letter for letter, name in SECTION_NAMES.items()}
_BY_WORD.update({"prechorus": "P", "pre": "P", "hook": "C", "refrain": "C"})
#: Sections that are written once and then repeated word for word.
RETURNING = frozenset("CPIO")
MAX_SECTIONS = 24
MAX_LINES = 64
MAX_SONG_LINES = 4 * MAX_LINES  # a song continued section by section stops here
SCHEMES = ("AABB", "ABAB", "ABCB", "AAAA")
#: Forms drawn for a song without one (12 lines or more): one whose usual length is 3/4 to 3/2 of the song's.
COMMON_FORMS = ("VCVC", "VCVCBC", "VVCVC", "VCVCC", "VCVCVCBC", "IVCVCBCO")
DEFAULT_LINES = {"V": 4, "C": 4, "B": 2, "P": 2, "I": 2, "O": 2}


def parse_scheme(text: str | None) -> str | None:
    """``"AABB"`` -> ``"AABB"``; ``"none"`` -> ``""`` (no rhymes); ``None``/``"auto"`` -> None (drawn per song)."""
    if text is None or str(text).strip().lower() in ("", "auto"):
        return None
    scheme = str(text).strip().upper()
    if scheme == "NONE":
        return ""
    if not re.fullmatch(r"[A-Z]{2,8}", scheme):
        raise GenerationError(f"rhyme scheme must be letters like AABB, ABAB, ABCB or AAAA (or none), got {text!r}")
    return check_first_come(scheme, "rhyme letters", "ABCB")


def parse_song_form(text: str | None) -> str | None:
    """``"verse chorus verse chorus"`` or ``"VCVC"`` -> ``"VCVC"``; ``"none"`` -> ``""``; ``None``/``"auto"`` -> None."""
    if text is None or str(text).strip().lower() == "auto":
        return None
    raw = str(text).strip()
    if not raw:
        raise GenerationError("song form is empty: give sections like 'verse chorus verse chorus' or VCVC (or none)")
    if raw.lower() in ("none", "through"):
        return ""
    words = [w.replace("-", "") for w in re.split(r"[\s,/|]+", raw.lower()) if w.strip("-")]
    if len(words) > 1 or words[0] in _BY_WORD:
        unknown = [w for w in words if w not in _BY_WORD]
        if unknown:
            raise GenerationError(f"unknown section {unknown[0]!r} in the song form (use verse, chorus, bridge, "
                                  "pre-chorus, intro, outro, or letters like VCVCBC)")
        letters = "".join(_BY_WORD[w] for w in words)
    else:
        letters = raw.upper()
        if not re.fullmatch(r"[VCBPIO]+", letters):
            raise GenerationError(f"song form letters are V (verse), C (chorus), B (bridge), P (pre-chorus), "
                                  f"I (intro) and O (outro), got {raw!r}")
    if len(letters) > MAX_SECTIONS:
        raise GenerationError(f"a song form has at most {MAX_SECTIONS} sections, got {len(letters)}")
    return letters


@dataclass(frozen=True)
class Line:
    section: int  # index of its section in the form
    kind: str  # the section's letter (V, C, ...)
    rhyme: str  # its letter in the section's scheme ("" for none)
    repeat_of: int | None  # a returning section's line: the index of the line it repeats


@dataclass(frozen=True)
class SongPlan:
    form: str  # section letters ("" for none: one run of lines)
    lines: tuple[Line, ...]
    scheme: str

    def labels(self) -> list[str]:
        """Each section's label as in song sheets (``[Verse 1]``, ``[Chorus]``)."""
        counts: dict[str, int] = {}
        out = []
        for letter in self.form:
            counts[letter] = counts.get(letter, 0) + 1
            numbered = letter == "V" and self.form.count("V") > 1
            out.append(f"[{SECTION_NAMES[letter]}{f' {counts[letter]}' if numbered else ''}]")
        return out

    def rhyme_partners(self, i: int) -> list[int]:
        """The earlier lines of line ``i``'s section with its scheme letter, latest first (none without a scheme)."""
        line = self.lines[i]
        if not line.rhyme:
            return []
        return [j for j in range(i - 1, -1, -1)
                if self.lines[j].section == line.section and self.lines[j].rhyme == line.rhyme]

    def describe(self) -> str:
        parts = []
        if self.form:
            parts.append("form " + " ".join(SECTION_NAMES[c].lower() for c in self.form))
        parts.append(f"rhyme {self.scheme}" if self.scheme else "no rhyme scheme")
        return ", ".join(parts)


def plan_song(lines: int, form: str | None, scheme: str | None, rng) -> SongPlan:
    """The plan of a song of ``lines`` lines: ``form`` (None: a common one drawn for 12 lines or more, else
    none), ``scheme`` (None: drawn from :data:`SCHEMES` but AAAA). Lines are shared among the sections in
    proportion to :data:`DEFAULT_LINES`; every section has at least one line."""
    if not isinstance(lines, int) or isinstance(lines, bool) or not 1 <= lines <= MAX_LINES:
        raise GenerationError(f"lines must be between 1 and {MAX_LINES}, got {lines!r}")
    if scheme is None:
        scheme = SCHEMES[int(rng.integers(3))]
    if form is None:
        usual = {f: sum(DEFAULT_LINES[c] for c in f) for f in COMMON_FORMS}
        fitting = [f for f in COMMON_FORMS if 0.75 <= lines / usual[f] <= 1.5] or [max(usual, key=usual.get)]
        form = fitting[int(rng.integers(len(fitting)))] if lines >= 12 else ""
    if len(form) > lines:
        raise GenerationError(f"{lines} lines are too few for the {len(form)} sections of the form {form}")
    return build_plan(form, _section_sizes(form, lines), scheme)


def build_plan(form: str, sizes: list[int], scheme: str) -> SongPlan:
    """The plan of sections ``form`` (letters; "" for one run of lines) of ``sizes`` lines each."""
    out: list[Line] = []
    first_line: dict[str, int] = {}
    for section, (letter, size) in enumerate(zip(form or "V", sizes)):
        returning = letter in RETURNING and letter in first_line
        if not returning:
            first_line.setdefault(letter, len(out))
        for i in range(size):
            rhyme = scheme[i % len(scheme)] if scheme else ""
            source = first_line[letter] + i if returning and i < sizes[form.index(letter)] else None
            out.append(Line(section, letter, rhyme, source))
    return SongPlan(form, tuple(out), scheme)


def _section_sizes(form: str, lines: int) -> list[int]:
    """Lines per section: :data:`DEFAULT_LINES` scaled to ``lines`` (a returning section as long as its first)."""
    if not form:
        return [lines]
    weights = [DEFAULT_LINES[c] for c in form]
    sizes = [max(1, round(w * lines / sum(weights))) for w in weights]
    for i, c in enumerate(form):  # a chorus returns whole: as long as its first time
        if c in RETURNING and form.index(c) < i:
            sizes[i] = sizes[form.index(c)]
    i = 0
    while sum(sizes) != lines:  # settle the rounding on verses and the bridge (new material), last first
        j = len(form) - 1 - i % len(form)
        if form[j] not in RETURNING or form.index(form[j]) == j:
            step = 1 if sum(sizes) < lines else -1
            if sizes[j] + step >= 1:
                sizes[j] += step
                if form[j] in RETURNING:
                    for k, c in enumerate(form):
                        if c == form[j]:
                            sizes[k] = sizes[j]
        i += 1
        if i > 10 * lines:
            break
    if sum(sizes) != lines:  # returning sections make the count unreachable: cut the last section
        sizes[-1] += lines - sum(sizes)
        if sizes[-1] < 1:
            raise GenerationError(f"{lines} lines do not fit the form {form}")
    return sizes


_LABEL = re.compile(r"^\[([A-Za-z -]+?)(?: \d+)?\]$")


def read_song(text: str) -> tuple[list[str], str, list[int]]:
    """A song's text as :func:`~generators.songs.writer.song_text` writes it -> its lines (without labels and
    blank lines), its section letters and the lines of each section. Text without labels is one section ("")."""
    lines: list[str] = []
    form, sizes = "", []
    for raw in text.split("\n"):
        line = raw.strip()
        label = _LABEL.match(line)
        letter = _BY_WORD.get(label.group(1).lower().replace("-", "").replace(" ", "")) if label else None
        if letter:
            form += letter
            sizes.append(0)
        elif line:
            lines.append(raw.rstrip())
            if sizes:
                sizes[-1] += 1
    if not form or 0 in sizes or sum(sizes) != len(lines):
        return lines, "", [len(lines)]
    return lines, form, sizes


def next_section(form: str, sizes: list[int], wanted: str, scheme: str) -> SongPlan:
    """The plan of a song in sections ``form`` (of ``sizes`` lines) with one more section: the next letter of
    ``wanted`` (the song's form, repeated as long as it is continued; not the last section's letter again), as
    long as that letter's first section; a song without sections gets a verse."""
    letters = wanted or "V"
    letter = letters[len(form) % len(letters)]
    if form and letter == form[-1] and len(set(letters)) > 1:  # never the same section twice in a row
        letter = next(c for c in letters[len(form) % len(letters):] + letters if c != form[-1])
    size = sizes[form.index(letter)] if letter in form else DEFAULT_LINES[letter]
    return build_plan(form + letter, sizes + [size], scheme)
