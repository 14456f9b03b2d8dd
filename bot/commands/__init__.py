"""The command layer: what each slash command does, with no Discord in it.

Both transports (Discord and the local console) call :class:`Commands` with an
:class:`~bot.commands.core.Invocation` and typed options, and get a
:class:`~bot.commands.core.Reply` back. Split by what a user does:

- :mod:`bot.commands.core`: ``Invocation``, ``Reply``, ``UserError`` and ``user_message`` (what all share);
- :mod:`bot.commands.options`: the option schema, the single source of names, types, bounds and choices;
- :mod:`bot.commands.base`: the served generators, the job queue, history and buttons;
- :mod:`bot.commands.generating`: /lyrics, /text, /compose, continuing;
- :mod:`bot.commands.results`: the buttons, /history, /usage;
- :mod:`bot.commands.admin`: /retrain, /corpus, /status, /help.
"""

from __future__ import annotations

from .admin import HELP, AdminCommands
from .base import ACTION_LABELS, RESULT_ACTIONS
from .core import MESSAGE_LIMIT, MODELS, Attachment, Model, Button, Invocation, Reply, UserError, user_message
from .generating import GeneratingCommands
from .options import (MAX_PIECE_NOTES, MAX_PIECE_SECONDS, MAX_SEED_CHARS, MAX_TEMP, MIN_TEMP, OPTIONS,
                      RETRAIN_EPOCHS, RETRAIN_MINUTES, USAGE_DAYS, Option, instrument_suggestions, key_suggestions)
from .results import ResultsCommands

__all__ = ["ACTION_LABELS", "HELP", "MAX_PIECE_NOTES", "MAX_PIECE_SECONDS", "MAX_SEED_CHARS", "MAX_TEMP", "MESSAGE_LIMIT",
           "MIN_TEMP", "MODELS", "OPTIONS", "RESULT_ACTIONS", "RETRAIN_EPOCHS", "RETRAIN_MINUTES", "USAGE_DAYS", "Attachment", "Button", "Commands",
           "Invocation", "Model", "Option", "Reply", "UserError", "instrument_suggestions", "key_suggestions", "user_message"]


class Commands(GeneratingCommands, ResultsCommands, AdminCommands):
    """Every command of the bot, over a set of generators (real ones, or fakes in tests)."""
