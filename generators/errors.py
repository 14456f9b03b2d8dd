"""The library's error hierarchy.

Every error a user can cause (bad arguments, unreadable corpora, broken
checkpoints) is a :class:`GeneratorError`; the edges (CLI, bot) turn it into a
one-line message. Anything else escaping the library is a bug and is logged
with its traceback there.
"""


class GeneratorError(Exception):
    """Base class: a problem the user can fix, with a message meant for them."""


class ConfigError(GeneratorError):
    """A configuration value is missing, unknown or out of range."""


class CorpusError(GeneratorError):
    """A training or evaluation corpus cannot be used."""


class CheckpointError(GeneratorError):
    """A checkpoint folder is missing, corrupt or does not match its config."""


class GenerationError(GeneratorError):
    """A generation request is invalid (bad seed, length, sampling option)."""


class TrainingError(GeneratorError):
    """Training could not produce a usable model (e.g. the loss diverged to NaN)."""


class ClusterError(GeneratorError):
    """A compute cluster cannot take the work asked of it: too small for the replicas, or a deployment that did not
    come up in time (the message names what was asked, what the cluster has and the setting to change)."""
