"""What every command module and both transports share: who asked, what is answered, and user errors.

A command takes an :class:`Invocation` and typed options and returns a :class:`Reply`; a problem the user can
fix is a :class:`UserError` (or a library ``GeneratorError``, or ``Busy``), turned into the line they see by
:func:`user_message` and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Literal

from generators.registry import NAMES

MODELS: tuple[str, ...] = NAMES  # the models a command names (generators/registry.py)
Model = Literal[MODELS]  # (Discord shows them as choices)
MESSAGE_LIMIT = 2000  # Discord's limit for one message


class UserError(Exception):
    """Bad input from the user; the message is shown to them (ephemeral in Discord)."""


#: An absolute path inside a message (``/srv/data/primers/6dfd.mid``): users see only its last part.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:/[^\s/:'\"()]+){2,}")


def user_message(exc: BaseException) -> str:
    """The line a user sees for an error they can act on (:class:`UserError`, a library ``GeneratorError``,
    :class:`Busy`): the message with server paths cut to their file names."""
    return "⚠️ " + _ABSOLUTE_PATH.sub(lambda m: m.group(0).rsplit("/", 1)[-1], str(exc))


@dataclass
class Attachment:
    filename: str
    data: bytes
    description: str = ""


@dataclass
class Reply:
    """What a command answers. ``later``, when set, makes more attachments after the reply is sent (the
    transport adds them to the sent message, e.g. an audio preview that must never delay the MIDI)."""

    content: str = ""
    files: list[Attachment] = field(default_factory=list)
    ephemeral: bool = False
    later: Callable[[], Awaitable[list[Attachment]]] | None = None
    buttons: list["Button"] = field(default_factory=list)


@dataclass(frozen=True)
class Button:
    """A button under a reply: ``action`` on the stored generation ``target`` (see :meth:`Commands.act`)."""

    action: str
    target: str
    label: str


@dataclass(frozen=True)
class Invocation:
    """Who asked, for limits, admin checks and logs."""

    user_id: int
    user_name: str = ""
    is_admin: bool = False
    interaction_id: str = ""
    channel_id: int | None = None
