"""Ghostwriter's generators: character-level LSTMs for prose and lyrics.

The package never imports discord; ``bot/`` is a thin adapter over it.
Importing this package is cheap: TensorFlow is loaded only by the modules
that need it (model, training, generation).
"""

import os as _os

# Keep TensorFlow quiet and on the Keras 3 TensorFlow backend; users can still override.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    CorpusError,
    GenerationError,
    GeneratorError,
)

__all__ = [
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "GenerationError",
    "GeneratorError",
]
