"""The shape the code keeps (tests and benchmarks aside): no module over 500 lines, no class over 300, no
function over 80; no import cycle between the project's modules, imports inside functions included; the
library never imports the bot or discord."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODULES = sorted(p for top in ("generators", "bot") for p in (REPO / top).rglob("*.py"))
LIMITS = {"module": 500, "class": 300, "function": 80}


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _sizes():
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        yield "module", _name(path), len(text.splitlines())
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                yield "class", f"{_name(path)}.{node.name}", node.end_lineno - node.lineno + 1
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield "function", f"{_name(path)}.{node.name}", node.end_lineno - node.lineno + 1


def test_no_module_class_or_function_is_too_long():
    too_long = [f"{kind} {name}: {size} lines (at most {LIMITS[kind]})" for kind, name, size in _sizes()
                if size > LIMITS[kind]]
    assert not too_long, "\n".join(too_long)


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports, anywhere in it."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    known = {_name(p) for p in MODULES}
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def test_no_import_cycles():
    graph = {_name(p): _imports(p) for p in MODULES}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start and not any(nxt.startswith(p + ".") for p in path[1:]):
                    cycles.append(" -> ".join(path + [nxt]))
                elif nxt not in path and len(path) < 8:
                    stack.append((nxt, path + [nxt]))
    # a package importing its own submodules (bot -> bot.app) is not a cycle of modules
    cycles = [c for c in cycles if not all(a.startswith(b) or b.startswith(a)
                                           for a, b in zip(c.split(" -> "), c.split(" -> ")[1:]))]
    assert not cycles, "\n".join(sorted(set(cycles))[:20])


@pytest.mark.parametrize("path", [p for p in MODULES if _name(p).startswith("generators")], ids=_name)
def test_the_library_never_imports_the_bot_or_discord(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] in ("bot", "discord") for n in names), _name(path)


def test_only_the_engine_steps_a_model():
    """One engine: outside generators/engine.py (and the steppers' own module), nothing advances an LSTM state
    (``step``, ``step_row``, ``feed``, ``feed_state`` of a stepper) or makes a single-stream stepper."""
    allowed = {"generators.engine", "generators.stepper"}
    found = []
    for path in MODULES:
        if _name(path) in allowed:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                owner = func.value if isinstance(func, ast.Attribute) else None
                stepper = isinstance(owner, ast.Name) and "stepper" in owner.id.lower()
                if name in ("feed_state", "LSTMStepper") or (stepper and name in ("step", "step_row", "feed")):
                    found.append(f"{_name(path)}:{node.lineno} {name}")
    assert not found, "\n".join(found)


def test_one_home_for_the_model_list_and_a_process_check():
    """The models are listed once (generators/registry.py); one function tells whether a process runs."""
    lists, alive = [], []
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and _name(path) != "generators.registry":
                values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if {"text", "lyrics", "music"} <= set(values) or values == ["text", "lyrics"]:
                    lists.append(f"{_name(path)}:{node.lineno}")
            if isinstance(node, ast.FunctionDef) and "alive" in node.name:
                alive.append(f"{_name(path)}.{node.name}")
    assert not lists, "model lists outside the registry: " + ", ".join(lists)
    assert alive == ["generators.checkpoint.process_alive"], alive


def test_no_music_arithmetic_in_the_bot():
    """The command layer computes no tempo arithmetic, form length or continuation budget: generators/music/request.py
    does (drawing a piano roll in bot/render.py is the one place the bot reads time)."""
    import re

    pattern = re.compile(r"\b240\b|/ *(?:request\.|o\.)?tempo\b|\bSECTION_BARS\b|\bparse_form\(|steps_per_quarter|"
                         r"\bspq\b")
    found = [f"{_name(p)}:{i}" for p in MODULES if _name(p).startswith("bot.commands")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, "\n".join(found)


def test_one_relay_for_a_child_trainer():
    """The environment, events and failure line of a child trainer are built in generators/training.py only."""
    found = [f"{_name(p)}" for p in MODULES if _name(p) not in ("generators.training", "generators.cli")
             and "GHOSTWRITER_PARENT_PID\"" in p.read_text(encoding="utf-8")]
    assert not found, found
