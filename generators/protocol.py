"""What serving asks of a generator, whatever serves it: a model in this process
(:class:`~generators.sequence.SequenceGenerator` and its subclasses), a model on Ray Serve replicas
(``bot.ray_backend.RemoteGenerator``), or a test's stand-in. The command layer, the Ray server and the serving
loader type against :class:`Generator` instead of asking ``hasattr``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

#: The calls that generate; a remote generator forwards exactly these to its replicas.
TEXT_METHODS = ("generate", "song", "continue_song")
MUSIC_METHODS = ("generate", "continue_piece")
GENERATION_METHODS = tuple(dict.fromkeys(TEXT_METHODS + MUSIC_METHODS))


@runtime_checkable
class Generator(Protocol):
    """A served model. ``generate`` writes (text after a seed, or a piece of music); a text model also has
    ``song`` and ``continue_song``, a music model ``continue_piece`` (see :data:`TEXT_METHODS`, :data:`MUSIC_METHODS`)."""

    kind: str  # the model's name (see generators/registry.py)
    unit: str  # what one token is: "char", "event"
    metrics: dict  # the checkpoint's training record

    def generate(self, *args: Any, **kwargs: Any) -> Any: ...

    def ready(self, max_batch: int = 0, exact: bool = False) -> None:
        """Get ready to serve: a batching loop of ``max_batch`` rows (0: none), or a roll-out to replicas."""

    def retire(self) -> None:
        """Stop serving: requests already taken finish; later ones run alone."""
