"""How a command's :class:`~bot.commands.core.Reply` reaches Discord, in one place.

:func:`respond` defers the interaction (Discord wants an answer within 3 s), runs the command, and sends the
reply as a follow-up with its files and buttons; errors a user can act on (``UserError``, a library
``GeneratorError``, ``Busy``) go back ephemerally as :func:`~bot.commands.core.user_message` words them, and
anything else is logged with its traceback and answered with one apologetic line. Cogs and buttons both call it;
it sits between them and the command layer, so neither imports the other.
"""

from __future__ import annotations

import io
import logging
import time

import discord

from generators.errors import GeneratorError

from .commands.core import Reply, UserError, user_message
from .jobs import Busy
from .views import view_for

log = logging.getLogger("bot.discord")
USER_ERRORS = (UserError, GeneratorError, Busy)


def to_files(reply: Reply, limit: int) -> tuple[list[discord.File], list[str]]:
    """Discord files for the reply's attachments, leaving out any over the interaction's size limit."""
    files, dropped = [], []
    for a in reply.files:
        if len(a.data) > limit:
            dropped.append(a.filename)
        else:
            files.append(discord.File(io.BytesIO(a.data), filename=a.filename, description=a.description or None))
    return files, dropped


async def respond(interaction: discord.Interaction, work, *, ephemeral: bool = False) -> None:
    """Defer, run ``work()`` (a coroutine returning a Reply), send the follow-up with the reply's buttons;
    errors go back ephemerally. ``ephemeral``: the reply is known to be private (the placeholder is too)."""
    start = time.perf_counter()
    await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    try:
        reply = await work()
    except USER_ERRORS as exc:
        await send_error(interaction, user_message(exc))
        return
    except Exception:
        log.exception("interaction=%s command=%s failed", interaction.id, getattr(interaction.command, "name", "?"))
        await send_error(interaction, "⚠️ Something went wrong on our side; it has been logged.")
        return
    limit = interaction.filesize_limit  # the upload limit Discord states for this interaction
    files, dropped = to_files(reply, limit)
    content = reply.content + (f"\n-# left out (over the upload limit): {', '.join(dropped)}" if dropped else "")
    extra = {"view": view} if (view := view_for(reply)) is not None else {}
    if reply.ephemeral and not ephemeral:  # the public "thinking..." placeholder goes; the reply is private
        await interaction.delete_original_response()
    message = await interaction.followup.send(content, files=files, ephemeral=reply.ephemeral or ephemeral, wait=True,
                                              **extra)
    log.info("interaction=%s user=%s command=%s replied in %.3fs", interaction.id, interaction.user.id,
             getattr(interaction.command, "name", "?"), time.perf_counter() - start)
    if reply.later is not None:
        await add_later_files(interaction, message, reply)


async def add_later_files(interaction: discord.Interaction, message: discord.WebhookMessage, reply: Reply) -> None:
    """Add the attachments ``reply.later()`` makes to the sent message (an edit); failures only get logged."""
    try:
        extra = await reply.later()
        files, dropped = to_files(Reply(files=extra), interaction.filesize_limit)
        if files:
            await message.edit(attachments=[*message.attachments, *files])
        if dropped:
            log.info("interaction=%s: %s over the upload limit, not added", interaction.id, ", ".join(dropped))
    except Exception:  # the reply is out; a missing preview is not worth an error message
        log.exception("interaction=%s: adding the follow-up attachments failed", interaction.id)


async def send_error(interaction: discord.Interaction, message: str) -> None:
    try:
        await interaction.delete_original_response()  # remove the public "thinking..." placeholder
    except discord.HTTPException:
        pass
    await interaction.followup.send(message, ephemeral=True)


async def answer(interaction: discord.Interaction, reply_or_error) -> None:
    """Answer at once (no deferral) with a quick reply, or the user's error in its words, ephemerally."""
    if isinstance(reply_or_error, BaseException):
        await interaction.response.send_message(user_message(reply_or_error), ephemeral=True)
    else:
        await interaction.response.send_message(reply_or_error.content, ephemeral=reply_or_error.ephemeral)
