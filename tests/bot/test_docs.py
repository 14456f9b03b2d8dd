"""The README is a front door that cannot go stale: its tour of the commands is written from the option schema,
every example in it is a command the console accepts, its links lead somewhere, and it stays short."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands.options import OPTIONS
from bot.console import parse_line
from bot.docs import END, START, examples, tour

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_the_readmes_tour_is_the_one_the_option_schema_writes():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text
    shown = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert shown == tour().strip(), "the README's tour is stale: run `python -m bot.docs`"
    for command, options in OPTIONS.items():
        for name in options:
            assert f"| `{name}` |" in shown.split(f"**`/{command}`**", 1)[1]


def test_every_example_is_a_command_the_console_accepts_with_valid_options():
    for line in examples():
        name, _, options = parse_line(line)
        for key, value in options.items():
            if name in OPTIONS:
                assert key in OPTIONS[name], (line, key)
                OPTIONS[name][key].check(value)


def test_the_readme_is_a_front_door_and_its_links_lead_somewhere():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", text):
        assert (ROOT / target).is_file(), target
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).resolve().is_file(), (page.name, target)


def test_every_setting_is_documented_in_one_line_of_env_example():
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    variables = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    for variable in variables:
        comment = lines[lines.index(f"{variable}=") - 1]
        assert comment.startswith("# ") and len(comment) > 20, variable
    settings = (ROOT / "bot" / "settings.py").read_text(encoding="utf-8") + (ROOT / "bot" / "render.py").read_text(
        encoding="utf-8") + (ROOT / "generators" / "paths.py").read_text(encoding="utf-8")
    for variable in variables:
        assert f'"{variable}"' in settings or variable in ("GHOSTWRITER_CACHE",), variable
