"""What a piece is primed with: the primers a user can give, as the model sees them, and the plan they set.

A :class:`Primer` is a small typed value (its kind, its tokens, the keys it composes in and moves to), so
nothing downstream reads a description meant for people. :class:`PrimerBuilder` makes one from what a caller
passes (``None``/``"random"``: a corpus excerpt stored in the checkpoint; a ``.mid`` path; a note list such as
``"C4 E4 G4"``; the notes of a piece being continued), and gives the plan (register, texture, key) the piece
holds at its bar lines. :func:`primer_excerpts` picks the excerpts a checkpoint stores when it is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GenerationError
from .config import MusicConfig
from .encoder import PLAN_KINDS, START, EventCodec, EventVocab, Note, parse_note_list, parse_token, plan_tokens
from .midi_io import read_midi_notes
from .stats import NORMAL_TONIC, estimate_key, parse_key, shift_between, transpose

PRIMER_EVENTS = 48  # events kept per stored primer excerpt
STORED_PRIMERS = 64


@dataclass(frozen=True)
class Primer:
    """What a piece is primed with, as the model sees it.

    ``kind``: ``corpus`` (an excerpt stored in the checkpoint), ``midi`` (a MIDI file's opening), ``notes``
    (a note list such as ``"C4 E4 G4"``), ``piece`` (the piece a continuation goes on from) or ``none`` (a
    model with no stored excerpts: the start token alone). ``description`` is for people (the summary) and
    never steers anything. ``composed``: the key the output is composed in (None: estimate it from the
    output); ``target``: the key it is moved to (None: left where it is).
    """

    kind: str
    tokens: list[str]
    description: str
    composed: tuple[int, str] | None
    target: tuple[int, str] | None


#: Plan choices -> which of plan_range's (10th, 50th, 90th percentile) values they take.
TEXTURES = {"sparse": 0, "medium": 1, "full": 2}
REGISTERS = {"low": 0, "middle": 1, "high": 2}


def plan_choice(name: str, value: str | None, choices: dict[str, int]) -> int | None:
    if value is None or str(value).strip().lower() in ("", "auto"):
        return None
    if str(value).strip().lower() not in choices:
        raise GenerationError(f"{name} must be auto, {', '.join(choices)}; got {value!r}")
    return choices[str(value).strip().lower()]


def key_option(key: str | None) -> tuple[int, str] | None:
    if key is None or str(key).strip().lower() in ("", "random"):
        return None
    try:
        return parse_key(str(key))
    except ValueError as exc:
        raise GenerationError(str(exc)) from None


class PrimerBuilder:
    """Primers and plans for one model: its vocabulary (with the stored excerpts), config and event codec."""

    def __init__(self, vocab: EventVocab, config: MusicConfig, codec: EventCodec):
        self.vocab, self.config, self.codec = vocab, config, codec
        self.normalized = config.augment == "normalize"

    def prime(self, primer, rng, wanted, primer_key=None) -> Primer:
        """The primer as the model sees it (see :class:`Primer`): the output is composed in ``composed``
        (None: estimated from the output) and moved to ``wanted``, else the primer's own key, else (a
        normalised model with a corpus excerpt) a random tonic."""
        if primer is None or primer == "random":
            if not self.vocab.primers:
                return Primer("none", [START], "none", None, wanted)
            choices = list(range(len(self.vocab.primers)))
            if wanted is not None:
                choices = [i for i in choices if self.vocab.primer_modes[i] == wanted[1]] or choices
            i = choices[int(rng.integers(len(choices)))]
            tokens, desc = list(self.vocab.primers[i]), f"corpus excerpt #{i}"
            if not self.normalized:
                return Primer("corpus", tokens, desc, None, wanted)
            mode = self.vocab.primer_modes[i]
            return Primer("corpus", tokens, desc, (NORMAL_TONIC[mode], mode), wanted or (int(rng.integers(12)), mode))
        primer_notes, kind, desc = self.notes_of(primer)
        tonic, mode = primer_key or estimate_key(primer_notes)
        shift = 0  # how far the primer was moved (0: absolute pitches, or it would leave the MIDI range)
        if self.normalized:
            moved = transpose(primer_notes, shift_between(tonic, NORMAL_TONIC[mode]))
            if moved is not None:
                primer_notes, shift = moved, shift_between(tonic, NORMAL_TONIC[mode])
        codec = self.codec
        tokens = codec.encode(primer_notes)[:-1]  # no END: the piece goes on
        composed = ((tonic + shift) % 12, mode) if self.normalized else None
        target = (wanted or (tonic, mode)) if self.normalized else wanted  # normalised: back to the primer's key
        if kind == "midi":
            return Primer(kind, tokens[: PRIMER_EVENTS * 2], desc, composed, target)
        # time moves past the last primer note (to the start of the first bar it may cross, with bars)
        now = EventCodec.time_of(tokens)
        head = Primer(kind, tokens, desc, composed, target)
        tokens += codec.advance(now, now + min(primer_notes[-1].duration, self.config.max_wait),
                                lambda _: self.plan_of(head))
        return Primer(kind, tokens, desc, composed, target)

    def plan_of(self, primed: Primer) -> list[str]:
        """The plan tokens (register, texture, key) the whole piece holds; [] for a model without plans.

        A corpus excerpt starts at a bar line with the plan of the real piece's next bar. Held for a
        whole piece, an extreme bar would sink or clog it, so its register is kept between the stored
        excerpts' 10th and 90th percentile and its texture between their median and 90th percentile:
        one thin bar (an upbeat, a lone melody) held for 500 notes leaves a piece nobody asked to be
        sparse a single line (``texture="sparse"`` asks for that). Other primers give their own plan:
        the register and texture of their last ``plan_bars`` bars; a note list is a melody, so its
        texture is the corpus's typical one instead. The key is the piece's home key: K0 for a model
        trained on pieces moved to C major / A minor (where the primer was moved too), else the
        primer's own.
        """
        if not self.config.plan_bars or not self.vocab.has_plan:
            return []
        if primed.kind in ("corpus", "none"):
            found: dict[str, int] = {}
            for kind, value in map(parse_token, primed.tokens):
                if kind in PLAN_KINDS:
                    found.setdefault(kind, value)
            plan = {"K": found.get("K", 0)}
            for kind in ("R", "T"):
                low, mid, high = self.plan_range(kind)
                plan[kind] = min(max(found.get(kind, mid), mid if kind == "T" else low), high)
        else:
            notes = EventCodec.decode(primed.tokens)
            last = max(n.onset for n in notes)
            window = [n for n in notes if n.onset > last - self.config.plan_bars * self.codec.bar_steps]
            plan = dict(map(parse_token, plan_tokens(
                float(np.mean([n.pitch for n in window])), len(window), len({n.onset for n in window}),
                np.bincount([n.pitch % 12 for n in window], minlength=12))))
            if primed.kind == "notes":
                plan["T"] = self.plan_range("T")[1]
        if self.normalized:
            plan["K"] = 0
        return [f"{kind}{plan[kind]}" for kind in PLAN_KINDS if self.vocab.values[kind]]  # (older models: no K)

    def chosen_plan(self, plan: list[str], texture: str | None, register: str | None) -> list[str]:
        """The primer's plan with the texture and register asked for (validated, with the bad value named)."""
        asked = {"T": plan_choice("texture", texture, TEXTURES), "R": plan_choice("register", register, REGISTERS)}
        if not any(v is not None for v in asked.values()):
            return plan
        if not plan:
            raise GenerationError("this music model has no texture or register plans (it was trained before they "
                                  "existed; retrain it to get them)")
        kinds = [parse_token(t)[0] for t in plan]
        return [f"{k}{self.plan_range(k)[asked[k]]}" if asked.get(k) is not None else t for k, t in zip(kinds, plan)]

    def plan_range(self, kind: str) -> tuple[int, int, int]:
        """``(low, median, high)``: the 10th, 50th and 90th percentile of the stored corpus excerpts' plan
        values of ``kind`` (``R`` register, ``T`` texture, ``K`` key); 60, 20 or 0 throughout if there are none."""
        values = sorted(parse_token(t)[1] for p in self.vocab.primers for t in p[:4] if t.startswith(kind))
        if not values:
            return {"R": (60, 60, 60), "T": (20, 20, 20)}.get(kind, (0, 0, 0))
        low, mid, high = (values[min(len(values) - 1, int(q * len(values)))] for q in (0.1, 0.5, 0.9))
        return low, mid, high

    def notes_of(self, primer) -> tuple[list[Note], str, str]:
        """``(notes, kind, description)`` of a primer that is not a corpus excerpt (see :class:`Primer`)."""
        if isinstance(primer, list):
            if not primer or not all(isinstance(n, Note) for n in primer):
                raise GenerationError("a primer given as notes must be a non-empty list of Note")
            return sorted(primer), "piece", "the piece so far"
        text = str(primer)
        path = Path(text)
        if path.suffix.lower() in (".mid", ".midi"):
            if not path.is_file():
                raise GenerationError(f"primer MIDI file not found: {path}")
            try:
                notes = read_midi_notes(path, self.config.steps_per_quarter)
            except Exception as exc:
                raise GenerationError(f"cannot read primer MIDI {path.name}: {str(exc)[:120] or type(exc).__name__}") from None
            if not notes:
                raise GenerationError(f"primer MIDI {path.name} has no notes")
            return notes, "midi", f"MIDI file {path.name}"
        return parse_note_list(text), "notes", f"notes {text}"

    def read_piece(self, path: str | Path) -> list[Note]:
        """The notes of a MIDI file on this model's grid (a clear error for a missing, bad or empty file)."""
        if Path(path).suffix.lower() not in (".mid", ".midi"):
            raise GenerationError(f"not a MIDI file (.mid, .midi): {path}")
        if not Path(path).is_file():
            raise GenerationError(f"MIDI file not found: {path}")
        return self.notes_of(Path(path))[0]


def primer_excerpts(pieces_tokens: list[list[str]], modes: list[str], rng,
                     at_bar_lines: bool = False) -> tuple[list[list[str]], list[str]]:
    """Excerpts of random training pieces (as the model sees them), each with its piece's key mode;
    ``at_bar_lines``: each starts at a bar line's plan, which then holds for the whole generated piece."""
    excerpts, excerpt_modes = [], []
    for _ in range(STORED_PRIMERS):
        which = int(rng.integers(len(pieces_tokens)))
        tokens = pieces_tokens[which]
        excerpt_modes.append(modes[which])
        body = tokens[1:-1]
        if len(body) <= PRIMER_EVENTS:
            excerpts.append([START] + body)
            continue
        # start at a bar line's plan, or else at an onset (a D token after a W), so the excerpt's first
        # notes have their duration
        kinds = [parse_token(t)[0] for t in body]
        if at_bar_lines:
            starts = [i for i in range(1, len(body) - PRIMER_EVENTS) if kinds[i] == "R"]
        else:
            starts = [i for i in range(1, len(body) - PRIMER_EVENTS) if kinds[i] == "D" and kinds[i - 1] == "W"]
        i = int(rng.choice(starts)) if starts else 0
        excerpts.append(_with_velocity(body, i, body[i: i + PRIMER_EVENTS]))
    return excerpts, excerpt_modes


def _with_velocity(body: list[str], start: int, excerpt: list[str]) -> list[str]:
    """An excerpt from ``body[start:]`` that states the velocity in force where it starts (the last ``V`` before it),
    before its first note, unless it sets its own first."""
    before = [t for t in body[:start] if t[0] == "V"]
    for j, token in enumerate(excerpt):
        if token[0] == "V":
            return excerpt
        if token[0] == "P":
            return excerpt[:j] + before[-1:] + excerpt[j:]
    return excerpt
