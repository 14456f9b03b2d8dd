"""The README's tour of the commands, derived from the option schema (:data:`bot.commands.options.OPTIONS`), so it
cannot go stale: ``tests/bot/test_docs.py`` fails when the README's copy differs from :func:`tour`, and

    python -m bot.docs

writes it into README.md between the ``tour`` markers. Every example here is parsed by the console's parser and
checked against the schema in that test.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .commands.options import KIND_NAMES, OPTIONS, number_text

START, END = "<!-- tour:start (python -m bot.docs writes this part) -->", "<!-- tour:end -->"

#: What each generating command does, and one example of it.
GENERATING = {
    "lyrics": ("a song that begins with your seed: sections whose chorus returns word for word, rhymed lines",
               '/lyrics seed:"Yeah, oho" temp:0.5 lines:16 rhyme:ABAB form:"verse chorus verse chorus"'),
    "text": ("prose in the style of the `text` model (Nietzsche)", '/text seed:"the truth is" temp:0.6 length:600'),
    "compose": ("piano music: a MIDI file, its piano roll and a summary, then a 30-second audio preview (attach a "
                "MIDI sketch as `primer_file` to start from it)",
                '/compose bars:16 key:"D minor" tempo:100 form:AABA chords:"Dm Bb F C"'),
}
#: The other commands, each with an example.
OTHERS = (
    ("*Continue* · *Again* · *Calmer* · *Wilder* · *Listen*", "buttons under every result (console: `/continue`, "
     "`/again`, `/vary down`, `/vary up`, `/listen`)", "/continue"),
    ("`/history`", "your last 10 results, each to open again (only you see it)", "/history"),
    ("*Continue lyrics*", "message menu (right-click a message → Apps): lyrics that go on from its text", ""),
    ("`/status` · `/help`", "the models, their versions and the queue · usage with examples", "/status"),
    ("`/retrain MODEL`", "admins: retrain `text`, `lyrics` or `music` on the team corpus in the background "
     "(`epochs`, `minutes`, up to 3 attached files); `cancel`, `rollback`, `promote`", "/retrain lyrics minutes:10"),
    ("`/corpus add MODEL` · `/corpus list`", "admins: add `.txt`, `.mid` or a `.zip` of MIDI to a team corpus",
     "/corpus list"),
    ("`/usage`", "admins: generations per command and per user over the last `days`", "/usage days:7"),
)


def takes(option) -> str:
    """What an option accepts, as the checks apply it."""
    if option.choices is not None:
        return " \\| ".join(f"`{c}`" for c in option.choices)
    if option.min is not None:
        return f"{KIND_NAMES[option.kind]}, {number_text(option.min)}–{number_text(option.max)}"
    if option.max_length is not None:
        return f"text, ≤ {option.max_length:,} characters"
    return KIND_NAMES.get(option.kind, "text")


def default(option) -> str:
    if option.default is None:
        return "—"
    return f"`{option.default}`" if option.default != "" else "none"


def tour() -> str:
    """The README's tour: each generating command's options (name, what it takes, default, help) with an example,
    then the other commands."""
    out = []
    for command, (what, example) in GENERATING.items():
        out += [f"**`/{command}`**: {what}. For example `{example}`", "",
                "| option | takes | default | what it does |", "|---|---|---|---|"]
        out += [f"| `{o.name}` | {takes(o)} | {default(o)} | {o.description} |" for o in OPTIONS[command].values()]
        out.append("")
    out += ["| command | what it does | example |", "|---|---|---|"]
    out += [f"| {name} | {what} | {f'`{example}`' if example else ''} |" for name, what, example in OTHERS]
    return "\n".join(out)


def examples() -> list[str]:
    """Every example command line the tour shows (for the test that parses them)."""
    return [example for _, example in GENERATING.values()] + [e for _, _, e in OTHERS if e]


def write(readme: Path) -> bool:
    """Put :func:`tour` between the markers of ``readme``; whether it changed."""
    text = readme.read_text(encoding="utf-8")
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{readme}: the tour markers are missing")
    new = f"{head}{START}\n{tour()}\n{END}{tail}"
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    print(f"{path}: {'updated' if write(path) else 'already up to date'}")
