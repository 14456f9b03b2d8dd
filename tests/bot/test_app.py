"""Start-up and stopping of ``python -m bot``: bad settings stop it with one line; Ctrl-C and SIGTERM stop it
at an idle console prompt, with no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bot.app import main


@pytest.mark.parametrize("kind", ["file", "readonly"])
def test_a_bad_output_folder_stops_the_console_at_start_up(monkeypatch, capsys, tmp_path, kind):
    target = tmp_path / "out"
    if kind == "file":
        target.write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        target.mkdir()
        target.chmod(0o500)
    monkeypatch.setenv("BOT_OUTPUT_DIR", str(target))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert main(["--console"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "BOT_OUTPUT_DIR" in err[0]


def _idle_console(tmp_path):
    """The bot's console on an open stdin pipe, answered one command and now waiting at its prompt."""
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "BOT_OUTPUT_DIR": str(tmp_path / "out"),
           "CHECKPOINT_DIR": str(tmp_path / "no-models"), "PYTHONUNBUFFERED": "1"}
    env.pop("DISCORD_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--console"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path, text=True)
    proc.stdin.write("/help\n")
    proc.stdin.flush()
    first = proc.stdout.readline()  # the help text's first line: the console has answered and is idle
    assert first.strip(), proc.stderr.read()
    return proc


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_an_idle_console(tmp_path, sig, code):
    proc = _idle_console(tmp_path)
    time.sleep(0.5)  # the reader is back at the prompt
    proc.send_signal(sig)
    try:
        assert proc.wait(timeout=60) == code  # stdin is still open: the stop must not wait for it
    finally:
        proc.kill()
    assert "Traceback" not in proc.stderr.read()


def test_the_default_backend_imports_nothing_of_ray(tmp_path):
    """GENERATION_BACKEND unset: the bot builds its command layer (models loaded, retrain manager) without Ray."""
    import json
    import subprocess
    import sys

    child = ("import json, sys\nfrom pathlib import Path\nfrom bot.app import build_commands\n"
             "from bot.settings import Settings\n"
             f"commands = build_commands(Settings(data_dir=Path({str(tmp_path)!r})))\n"
             "print(json.dumps({'models': sorted(commands.generators), "
             "'ray': sorted(m for m in sys.modules if m.split('.')[0] == 'ray')}))\n"
             "commands.shutdown()\n")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["models"] == ["lyrics", "music", "text"] and report["ray"] == []
