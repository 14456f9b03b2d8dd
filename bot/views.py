"""Buttons under results, persistent across restarts: a button's custom ID names its action and the stored result.

``gw:<action>:<generation id>``. The buttons are :class:`discord.ui.DynamicItem`\\ s
registered at start-up (``add_dynamic_items``), so a press is understood from
its custom ID alone, also on a message sent before the bot restarted. A press
is another way to invoke a command: it calls :meth:`bot.commands.Commands.act`
with the presser's identity, under the same limits and errors as the slash
commands.
"""

from __future__ import annotations

import re

import discord

from .commands.base import ACTION_LABELS
from .commands.core import Button, Reply

STYLES = {"continue": discord.ButtonStyle.primary, "listen": discord.ButtonStyle.success}


def custom_id(button: Button) -> str:
    return f"gw:{button.action}:{button.target}"


class ResultButton(discord.ui.DynamicItem[discord.ui.Button], template=r"gw:(?P<action>[a-z_]+):(?P<target>[0-9a-f]{12})"):
    def __init__(self, action: str, target: str, label: str | None = None):
        self.action, self.target = action, target
        super().__init__(discord.ui.Button(label=label or ACTION_LABELS.get(action, action),
                                           style=STYLES.get(action, discord.ButtonStyle.secondary),
                                           custom_id=custom_id(Button(action, target, ""))))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(match["action"], match["target"], item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        message = interaction.message
        if self.action == "listen" and message is not None and any(
                a.filename.endswith(".ogg") for a in message.attachments):
            await interaction.response.send_message("The audio preview is already attached to that message.",
                                                    ephemeral=True)
            return
        inv = bot.invocation(interaction)
        await bot.respond(interaction, lambda: bot.core.act(inv, self.action, self.target),
                          ephemeral=self.action == "open")


def view_for(reply: Reply) -> discord.ui.View | None:
    """The reply's buttons as a view (None when it has none); at most 25, five to a row."""
    if not reply.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for i, button in enumerate(reply.buttons[:25]):
        item = ResultButton(button.action, button.target, button.label)
        item.item.row = i // 5
        view.add_item(item)
    return view
