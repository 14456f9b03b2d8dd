"""A local stand-in for Discord's gateway and REST API, on 127.0.0.1, for end-to-end tests and the benchmark.

It speaks just enough of the real protocol for discord.py: the gateway
handshake (HELLO, IDENTIFY, READY, GUILD_CREATE), heartbeats and their ACKs,
INTERACTION_CREATE dispatches, sharding (``GET /gateway/bot`` recommends
``recommended_shards``; each connection identifies with its ``[shard id,
count]``, is sent the guilds whose ``(guild_id >> 22) % count`` is its id, and
an interaction goes to the connection of its guild's shard), and the REST routes a bot uses to log in, sync
commands, answer interactions, send or edit follow-ups (JSON and multipart),
send and edit channel messages, and open a DM. Like Discord, an interaction's
webhook stops working after a lifetime (``webhook_lifetime_s``; Discord's is
15 minutes) with 401 "Invalid Webhook Token" (code 50027), and channels in
``forbidden_channels`` answer 403 "Missing Access". Every request is recorded
for the test to inspect.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aiohttp import WSMsgType, web

APP_ID = "100000000000000001"
BOT_ID = "100000000000000002"
GUILD_ID = "100000000000000003"  # on shard 0 of 2
GUILD_2_ID = "100000000004194310"  # on shard 1 of 2
CHANNEL_ID = "100000000000000004"
DM_CHANNEL_ID = "100000000000000005"
CHANNEL_2_ID = "100000000000000007"  # the channel of GUILD_2_ID
ADMIN_PERMISSIONS = str(1 << 3)
HEARTBEAT_MS = 1000
BOT_USER = {"id": BOT_ID, "username": "ghostwriter", "discriminator": "0", "global_name": None, "avatar": None, "bot": True}


def channel_of(guild_id: str) -> str:
    return CHANNEL_2_ID if guild_id == GUILD_2_ID else CHANNEL_ID


def _json(data, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json (no charset).
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Exchange:
    """What happened to one interaction: the time it was sent, its acknowledgement and its messages."""

    sent_at: float
    acked_at: float | None = None
    callback_type: int | None = None
    messages: list[dict] = field(default_factory=list)  # follow-ups and type-4 replies, with their files
    deleted_original: bool = False
    edits: list[dict] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    choices: list[dict] | None = None  # an autocomplete answer (callback type 8)

    def first_reply_at(self) -> float | None:
        return self.messages[0]["at"] if self.messages else None


class FakeDiscord:
    def __init__(self):
        self.ids = itertools.count(200000000000000000)
        self.exchanges: dict[str, Exchange] = {}  # by interaction token
        self.synced: list[dict] = []
        self.heartbeats: list[float] = []
        self.requests: list[tuple[str, str]] = []
        self.ws: web.WebSocketResponse | None = None  # the connection of shard 0 (or the only one)
        self.shards: dict[int, web.WebSocketResponse] = {}  # shard id -> its connection, once identified
        self.identified: list[tuple[int, int]] = []  # (shard id, shard count) of every IDENTIFY, in order
        self.recommended_shards = 1  # what GET /gateway/bot answers, with max_concurrency
        self.max_concurrency = 1
        self.guild_ids = [GUILD_ID, GUILD_2_ID]
        self.ready = asyncio.Event()  # every shard of the count the connections identified with is ready
        self.seq = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self.webhook_lifetime_s: float | None = None
        self.forbidden_channels: set[str] = set()
        self.channel_messages: list[dict] = []  # sent with POST /channels/{id}/messages, edits applied
        self.expired_webhook_calls = 0
        self.message_posted = asyncio.Event()
        self.files: dict[str, bytes] = {}  # attachments users "uploaded", served at /files/{id}

    # -- server ------------------------------------------------------------------
    async def start(self) -> int:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest)
        app.router.add_get("/files/{id}", self.file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for ws in {id(w): w for w in [self.ws, *self.shards.values()] if w is not None}.values():
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def patch_discord(self, monkeypatch) -> None:
        """Point discord.py at this server."""
        import discord.gateway
        import discord.http
        import yarl

        monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{self.port}/api/v10")
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                            yarl.URL(f"ws://127.0.0.1:{self.port}/gateway"))

    # -- gateway -----------------------------------------------------------------
    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                self.heartbeats.append(time.monotonic())
                await ws.send_json({"op": 11})
            elif op == 2:
                shard, count = payload["d"].get("shard") or (0, 1)
                self.identified.append((shard, count))
                self.shards[shard] = ws
                if shard == 0:
                    self.ws = ws
                mine = [g for g in self.guild_ids if self.shard_of(g, count) == shard]
                await self.dispatch("READY", {
                    "v": 10, "user": BOT_USER, "guilds": [{"id": g, "unavailable": True} for g in mine],
                    "session_id": f"session-{shard}", "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                    "application": {"id": APP_ID, "flags": 0}, "private_channels": [], "relationships": [],
                    "shard": [shard, count],
                }, ws=ws)
                for guild in mine:
                    await self.dispatch("GUILD_CREATE", self.guild(guild), ws=ws)
                if all(i in self.shards for i in range(count)):
                    self.ready.set()
        return ws

    @staticmethod
    def shard_of(guild_id: str, count: int) -> int:
        """The shard a guild's events go to (Discord's rule)."""
        return (int(guild_id) >> 22) % count

    async def dispatch(self, event: str, data: dict, ws: web.WebSocketResponse | None = None) -> None:
        """Send an event on ``ws`` (default: the connection of the shard of the event's guild)."""
        if ws is None:
            count = self.identified[-1][1] if self.identified else 1
            ws = self.shards.get(self.shard_of(data.get("guild_id") or GUILD_ID, count), self.ws)
        self.seq += 1
        await ws.send_json({"op": 0, "t": event, "s": self.seq, "d": data})

    @staticmethod
    def guild(guild_id: str = GUILD_ID) -> dict:
        role = {"id": guild_id, "name": "@everyone", "permissions": "0", "position": 0, "color": 0, "hoist": False,
                "managed": False, "mentionable": False, "flags": 0}
        channel = {"id": channel_of(guild_id), "type": 0, "name": "general", "position": 0,
                   "permission_overwrites": [], "guild_id": guild_id, "nsfw": False}
        name = "Studio" if guild_id == GUILD_ID else "Second studio"
        return {"id": guild_id, "name": name, "owner_id": "1", "roles": [role], "channels": [channel],
                "members": [], "member_count": 3, "emojis": [], "stickers": [], "features": [], "large": False,
                "unavailable": False, "threads": [], "voice_states": [], "presences": [], "stage_instances": [],
                "guild_scheduled_events": [], "premium_tier": 0, "verification_level": 0, "mfa_level": 0,
                "explicit_content_filter": 0, "default_message_notifications": 0, "preferred_locale": "en-US",
                "system_channel_flags": 0, "nsfw_level": 0, "premium_progress_bar_enabled": False}

    def attachment(self, name: str, filename: str, data: bytes) -> tuple[dict, dict]:
        """An attachment option and its resolved entry, for ``interact(..., attachments=[...])``."""
        aid = str(next(self.ids))
        self.files[aid] = data
        url = f"http://127.0.0.1:{self.port}/files/{aid}"
        return ({"name": name, "type": 11, "value": aid},
                {"id": aid, "filename": filename, "size": len(data), "url": url, "proxy_url": url})

    async def file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["id"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def interact(self, name: str, options: list[dict] | None = None, *, user_id: int = 500,
                       admin: bool = False, subcommand: str | None = None,
                       attachments: list[tuple[dict, dict]] = (), guild_id: str = GUILD_ID) -> str:
        """Send a slash command as a user would (in ``guild_id``); returns the interaction token."""
        opts = (options or []) + [option for option, _ in attachments]
        if subcommand is not None:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        return await self._interaction(2, {"id": str(next(self.ids)), "name": name, "type": 1, "options": opts,
                                           "guild_id": guild_id,
                                           "resolved": {"attachments": {e["id"]: e for _, e in attachments}}},
                                       user_id=user_id, admin=admin, guild_id=guild_id)

    async def press(self, message: dict, custom_id: str, *, user_id: int = 500, guild_id: str = GUILD_ID) -> str:
        """Press a button (a component interaction, type 3) on a message the bot sent (shown in ``guild_id``);
        returns the token."""
        payload = {k: v for k, v in message.items() if k not in ("files", "at", "ephemeral")}
        return await self._interaction(3, {"custom_id": custom_id, "component_type": 2}, user_id=user_id,
                                       message=payload, guild_id=guild_id)

    async def context_menu(self, name: str, target: dict, *, user_id: int = 500) -> str:
        """Run a message context-menu command (type 2, command type 3) on ``target`` (a message payload)."""
        target = {k: v for k, v in target.items() if k not in ("files", "at", "ephemeral", "edits")}
        return await self._interaction(2, {"id": str(next(self.ids)), "name": name, "type": 3,
                                           "target_id": target["id"], "guild_id": GUILD_ID,
                                           "resolved": {"messages": {target["id"]: target}}}, user_id=user_id)

    async def autocomplete(self, name: str, options: list[dict], *, user_id: int = 500) -> list[dict]:
        """Ask for autocomplete choices (type 4); ``options`` has the one being typed marked ``focused``."""
        token = await self._interaction(4, {"id": str(next(self.ids)), "name": name, "type": 1, "options": options,
                                            "guild_id": GUILD_ID}, user_id=user_id)
        ex = self.exchanges[token]
        await asyncio.wait_for(ex.done.wait(), 10)
        return ex.choices

    def user_message(self, content: str, user_id: int = 777) -> dict:
        """A message a user posted in the channel (for context menus)."""
        user = {"id": str(user_id), "username": f"user{user_id}", "discriminator": "0", "global_name": None,
                "avatar": None}
        return {"id": str(next(self.ids)), "channel_id": CHANNEL_ID, "type": 0, "content": content, "author": user,
                "attachments": [], "embeds": [], "mentions": [], "mention_roles": [], "mention_everyone": False,
                "pinned": False, "tts": False, "timestamp": _now(), "edited_timestamp": None, "flags": 0,
                "components": []}

    async def _interaction(self, kind: int, data: dict, *, user_id: int, admin: bool = False,
                           message: dict | None = None, guild_id: str = GUILD_ID) -> str:
        iid, token = str(next(self.ids)), f"token-{next(self.ids)}"
        user = {"id": str(user_id), "username": f"user{user_id}", "discriminator": "0", "global_name": None, "avatar": None}
        self.exchanges[token] = Exchange(sent_at=time.monotonic())
        extra = {"message": message} if message is not None else {}
        await self.dispatch("INTERACTION_CREATE", {
            **extra, "id": iid, "application_id": APP_ID, "type": kind, "token": token, "version": 1,
            "guild_id": guild_id, "channel_id": channel_of(guild_id),
            "channel": {"id": channel_of(guild_id), "type": 0, "guild_id": guild_id, "name": "general", "position": 0,
                        "permission_overwrites": [], "nsfw": False},
            "member": {"user": user, "roles": [], "permissions": ADMIN_PERMISSIONS if admin else "0",
                       "joined_at": _now(), "deaf": False, "mute": False, "flags": 0, "pending": False, "nick": None},
            "data": data,
            "app_permissions": "2147483647", "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {"0": guild_id}, "context": 0, "attachment_size_limit": 10 * 1024 * 1024,
        })
        return token

    async def reply(self, token: str, timeout: float = 60.0) -> dict:
        """The first message the bot sent for this interaction."""
        ex = self.exchanges[token]
        await asyncio.wait_for(ex.done.wait(), timeout)
        return ex.messages[0]

    # -- REST ----------------------------------------------------------------------
    async def rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        self.requests.append((request.method, path))
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(BOT_USER)
        if path == "/gateway/bot":
            return _json({"url": f"ws://127.0.0.1:{self.port}/gateway", "shards": self.recommended_shards,
                          "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0,
                                                  "max_concurrency": self.max_concurrency}})
        if path == "/oauth2/applications/@me":
            return _json({"id": APP_ID, "name": "Ghostwriter", "icon": None, "description": "",
                                      "bot_public": True, "bot_require_code_grant": False, "owner": BOT_USER,
                                      "verify_key": "0" * 64, "flags": 0, "team": None})
        if request.method == "PUT" and parts[-1] == "commands":
            body = await request.json()
            self.synced = [{"description": "", **c, "id": str(next(self.ids)), "application_id": APP_ID, "version": "1"}
                           for c in body]  # context menus come without a description; Discord answers ""
            return _json(self.synced)
        if parts[0] == "interactions" and parts[-1] == "callback":
            return await self._callback(request, parts[2])
        if parts[0] == "webhooks":
            return await self._webhook(request, parts)
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            return await self._channel_message(request, parts)
        if path == "/users/@me/channels" and request.method == "POST":
            body = await request.json()
            user = {"id": str(body.get("recipient_id")), "username": "admin", "discriminator": "0", "global_name": None,
                    "avatar": None}
            return _json({"id": DM_CHANNEL_ID, "type": 1, "recipients": [user], "last_message_id": None})
        return _json({"message": f"not faked: {request.method} {path}", "code": 0}, status=404)

    async def _body(self, request: web.Request) -> tuple[dict, list[dict]]:
        if request.content_type.startswith("multipart/"):
            payload, files = {}, []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    files.append({"filename": part.filename, "data": bytes(await part.read())})
            return payload, files
        if request.can_read_body:
            return await request.json(), []
        return {}, []

    async def _channel_message(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = parts[1]
        if channel in self.forbidden_channels:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        payload, files = await self._body(request)
        if request.method == "POST":
            message = self._message(payload, files, False, channel)
            self.channel_messages.append({**message, "files": files, "edits": [],
                                          "allowed_mentions": payload.get("allowed_mentions"), "at": time.monotonic()})
            self.message_posted.set()
            return _json(message)
        if request.method == "PATCH" and len(parts) == 4:
            for stored in self.channel_messages:
                if stored["id"] == parts[3]:
                    stored["edits"].append(payload.get("content"))
                    stored["content"] = payload.get("content") or stored["content"]
                    return _json({k: v for k, v in stored.items() if k not in ("files", "edits", "at",
                                                                                 "allowed_mentions")})
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json({"message": f"not faked: {request.method}", "code": 0}, status=404)

    def _message(self, payload: dict, files: list[dict], ephemeral: bool, channel_id: str = CHANNEL_ID) -> dict:
        attachments = [{"id": str(next(self.ids)), "filename": f["filename"], "size": len(f["data"]),
                        "url": f"http://127.0.0.1/{f['filename']}", "proxy_url": f"http://127.0.0.1/{f['filename']}"}
                       for f in files]
        return {"id": str(next(self.ids)), "channel_id": channel_id, "type": 0, "content": payload.get("content") or "",
                "author": BOT_USER, "attachments": attachments, "embeds": [], "mentions": [], "mention_roles": [],
                "mention_everyone": False, "pinned": False, "tts": False, "timestamp": _now(),
                "edited_timestamp": None, "flags": 64 if ephemeral else 0, "components": payload.get("components") or [],
                "webhook_id": APP_ID, "application_id": APP_ID}

    async def _callback(self, request: web.Request, token: str) -> web.Response:
        payload, files = await self._body(request)
        ex = self.exchanges[token]
        ex.acked_at, ex.callback_type = time.monotonic(), payload.get("type")
        data = payload.get("data") or {}
        ephemeral = bool((data.get("flags") or 0) & 64)
        if payload.get("type") == 8:  # autocomplete choices
            ex.choices = data.get("choices")
            ex.done.set()
        if payload.get("type") == 4:  # an immediate message
            message = self._message(data, files, ephemeral)
            ex.messages.append({**message, "ephemeral": ephemeral, "files": files, "at": time.monotonic()})
            ex.done.set()
        return _json({"interaction": {"id": "1", "type": 2, "response_message_loading": payload.get("type") == 5,
                                                  "response_message_ephemeral": ephemeral},
                                  "resource": {"type": payload.get("type")}})

    async def _webhook(self, request: web.Request, parts: list[str]) -> web.Response:
        token = parts[2]
        ex = self.exchanges.get(token)
        payload, files = await self._body(request)
        if ex is not None and self.webhook_lifetime_s is not None and time.monotonic() - ex.sent_at > self.webhook_lifetime_s:
            self.expired_webhook_calls += 1
            return _json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        if request.method == "DELETE":
            if ex is not None:
                ex.deleted_original = True
            return web.Response(status=204)
        ephemeral = bool((payload.get("flags") or 0) & 64)
        message = self._message(payload, files, ephemeral)
        if ex is not None:
            if request.method == "POST":
                ex.messages.append({**message, "ephemeral": ephemeral, "files": files, "at": time.monotonic()})
                ex.done.set()
            else:
                ex.edits.append({**message, "at": time.monotonic()})
        return _json(message)
