"""Where the shipped checkpoints and the team's data live, however the package is installed.

* From a source checkout (``pip install -e .`` or ``python -m`` in the repository), the shipped
  checkpoints are the repository's ``checkpoints/``.
* From a wheel or ``pip install .``, they are installed as data files under
  ``<prefix>/share/ghostwriter/checkpoints`` (``<prefix>`` being the environment's, or the user
  base for ``pip install --user``), never inside ``site-packages``.
* ``$CHECKPOINT_DIR`` overrides both.

Writable data (the team corpus, retrained versions) goes to ``$DATA_DIR``, by default the
platform's per-user data folder (:func:`user_data_dir`), never inside the installed package.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

APP = "ghostwriter"
SHARE = Path("share") / APP / "checkpoints"
CHECKOUT_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def shipped_checkpoints() -> Path:
    """The folder holding the shipped ``text``, ``lyrics`` and ``music`` checkpoints."""
    if CHECKOUT_CHECKPOINTS.is_dir():
        return CHECKOUT_CHECKPOINTS
    for prefix in (sys.prefix, site.getuserbase(), sys.base_prefix):
        candidate = Path(prefix) / SHARE
        if candidate.is_dir():
            return candidate
    return Path(sys.prefix) / SHARE  # missing: loading names this path in its error


def checkpoint_root() -> Path:
    """Where checkpoints are read from: ``$CHECKPOINT_DIR``, else :func:`shipped_checkpoints`."""
    configured = os.environ.get("CHECKPOINT_DIR", "").strip()
    return Path(configured).expanduser() if configured else shipped_checkpoints()


def user_data_dir() -> Path:
    """The platform's per-user data folder for Ghostwriter (XDG on Linux)."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / APP
