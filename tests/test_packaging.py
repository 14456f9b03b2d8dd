"""The package however it is installed: the wheel holds every subpackage and checkpoint file, and a
non-editable install works from outside the checkout (shipped checkpoints found, the bot's console answers)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, timeout=300, cwd=out)
    return next(out.glob("ghostwriter-*.whl"))


def test_wheel_holds_every_subpackage_and_checkpoint_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [p.relative_to(REPO) for top in ("generators", "bot") for p in (REPO / top).rglob("__init__.py")]
    assert len(packages) >= 4
    for init in packages:
        assert init.as_posix() in names, f"{init.parent} is not in the wheel"
        for module in (REPO / init.parent).glob("*.py"):
            assert module.relative_to(REPO).as_posix() in names
    shipped = [p.relative_to(REPO / "checkpoints") for p in (REPO / "checkpoints").rglob("*") if p.is_file()]
    assert {p.parts[0] for p in shipped} == {"text", "lyrics", "music"}
    for path in shipped:
        assert f"ghostwriter-0.1.0.data/data/share/ghostwriter/checkpoints/{path.as_posix()}" in names, path
    entry_points = zipfile.ZipFile(wheel).read("ghostwriter-0.1.0.dist-info/entry_points.txt").decode()
    assert "ghostwriter = generators.cli:main" in entry_points and "ghostwriter-bot = bot.app:main" in entry_points


def _dependency_dirs() -> list[str]:
    """The folders the running interpreter imports its installed packages from (its own site-packages, a
    venv's base, the user site), whether it runs in a virtual environment or not. Not the checkout itself."""
    return [p for p in sys.path if p and Path(p).is_dir() and Path(p).name in ("site-packages", "dist-packages")]


def test_a_non_editable_install_works_from_anywhere(wheel, tmp_path):
    venv = tmp_path / "venv"
    # A clean environment that sees the running environment's packages (the dependencies, installed however
    # this test runs: in a venv or not) through a .pth file, after its own: the package comes only from the
    # wheel. Paths in a .pth are added without their own .pth files, so an editable install of the checkout
    # stays invisible.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    site = subprocess.run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "zz_running_environment.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   timeout=300)
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    (elsewhere / ".env").write_text(f"BOT_OUTPUT_DIR={elsewhere / 'attachments'}\n")  # read from the working dir
    env = {k: v for k, v in os.environ.items() if k not in ("CHECKPOINT_DIR", "DATA_DIR", "DISCORD_TOKEN",
                                                           "BOT_OUTPUT_DIR", "PYTHONPATH")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")

    def run(*argv, stdin=None):
        proc = subprocess.run([str(a) for a in argv], cwd=elsewhere, env=env, input=stdin, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    where = run(bin_dir / "python", "-c", "import generators, generators.paths as p; "
                                          "print(generators.__file__); print(p.checkpoint_root())")
    package_file, root = where.split()
    assert package_file.startswith(str(venv)) and root == str(venv / "share" / "ghostwriter" / "checkpoints")
    assert "keras" in run(bin_dir / "python", "-c", "import keras; print(keras.__name__)")
    out = run(bin_dir / "ghostwriter", "generate", "music", "--notes", "30", "--rng-seed", "1", "--out", "song.mid")
    assert "30 notes" in out and (elsewhere / "song.mid").stat().st_size > 0
    out = run(bin_dir / "ghostwriter-bot", stdin='/lyrics seed:"Yeah, oho" length:60\n/compose notes:20\n')
    assert "Yeah, oho" in out and (elsewhere / "attachments").is_dir()
    data_dir = run(bin_dir / "python", "-c", "from bot.settings import Settings; print(Settings.from_env().data_dir)")
    assert data_dir.strip() == str(tmp_path / "xdg" / "ghostwriter")  # the team's data: never inside the package
    assert (tmp_path / "xdg" / "ghostwriter" / "history.sqlite3").is_file()  # the generations were recorded there
