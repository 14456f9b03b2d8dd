"""The local console transport: type slash commands, read the replies, find attachments in a folder.

    /lyrics seed:"Yeah, oho" temp:0.5
    /compose notes:200 tempo:90
    /status

Lines go through the same command layer and validation as Discord; files are
written to the output folder and their paths printed.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
import threading
from pathlib import Path
from typing import TextIO

import aiofiles
import aiofiles.os

from generators.errors import GeneratorError

from .commands import OPTIONS, Commands, Invocation, Reply, UserError, user_message
from .corpus import MAX_MIDI_BYTES, MAX_UPLOAD
from .jobs import Busy

log = logging.getLogger("bot.console")

CONSOLE_USER = Invocation(user_id=0, user_name="console", is_admin=True, interaction_id="console")


def parse_line(line: str) -> tuple[str, list[str], dict[str, str]]:
    """``/lyrics seed:"Yeah, oho" temp:0.5`` -> ``("lyrics", [], {"seed": "Yeah, oho", "temp": "0.5"})``;
    bare words are subcommands: ``/retrain cancel music`` -> ``("retrain", ["cancel", "music"], {})``;
    ``file:`` may repeat and gives a list: ``/corpus add music file:a.mid file:b.mid``."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise UserError(f"cannot parse the line: {exc}") from None
    if not tokens or not tokens[0].startswith("/") or len(tokens[0]) < 2:
        raise UserError("commands start with /, e.g. /lyrics seed:\"Yeah, oho\" temp:0.5 (try /help)")
    name, words, options = tokens[0][1:].lower(), [], {}
    for token in tokens[1:]:
        key, sep, value = token.partition(":")
        if not sep:
            words.append(token.lower())
        elif not key:
            raise UserError(f"options are written name:value, got {token!r}")
        elif key.lower() == "file":  # files may be given several times
            options.setdefault("file", []).append(value)
        else:
            options[key.lower()] = value
    return name, words, options


#: Words for the buttons under a result: ``/continue``, ``/again``, ``/vary up|down``, ``/listen``, ``/open``,
#: each on the last result unless an id (from /history) is given.
ACTIONS = ("continue", "again", "listen", "open")
LAST = {}  # the console's last result id, per user


def _target(words: list[str], inv: Invocation) -> str:
    if words:
        return words[-1]
    if inv.user_id not in LAST:
        raise UserError("no result yet: generate something first, or give an id from /history")
    return LAST[inv.user_id]


async def dispatch(commands: Commands, inv: Invocation, line: str, on_done=None) -> Reply:
    reply = await _dispatch(commands, inv, line, on_done)
    targets = {b.target for b in reply.buttons if b.action != "open"}
    if len(targets) == 1:
        LAST[inv.user_id] = targets.pop()
    if reply.buttons:  # the console's buttons are words
        words = list(dict.fromkeys(_word(b) for b in reply.buttons))
        reply.content += "\n-# " + " · ".join(words)
    return reply


def _word(button) -> str:
    if button.action == "open":
        return f"/open {button.target} ({button.label})"
    if button.action.startswith("vary_"):
        return f"/vary {button.action[5:]} {button.target}"
    return f"/{button.action} {button.target}"


async def _dispatch(commands: Commands, inv: Invocation, line: str, on_done=None) -> Reply:
    name, words, options = parse_line(line)
    if name in ACTIONS or name == "vary":
        if options:
            raise UserError(f"/{name} takes no options")
        if name == "vary":
            if not words or words[0] not in ("up", "down"):
                raise UserError("usage: /vary up|down [ID]")
            return await commands.act(inv, f"vary_{words[0]}", _target(words[1:], inv))
        if name == "open" and not words:
            raise UserError("usage: /open ID (ids are listed by /history)")
        return await commands.act(inv, name, _target(words, inv))
    if name == "history":
        return await commands.history_list(inv)
    if name == "usage":
        return await commands.usage(inv, options.pop("days", None))
    if name == "retrain":
        return await _retrain(commands, inv, words, options, on_done)
    if name == "corpus":
        return await _corpus(commands, inv, words, options)
    if words:
        raise UserError(f"options are written name:value, got {words[0]!r}")
    if name in ("help", "status"):
        if options:
            raise UserError(f"/{name} takes no options")
        return getattr(commands, name)()
    spec = OPTIONS.get(name)
    if spec is None:
        raise UserError(f"unknown command /{name}; commands: /lyrics, /text, /compose, /continue, /again, /vary, "
                        "/listen, /history, /open, /usage, /retrain, /corpus, /status, /help")
    primer_file = options.pop("primer_file", None) if name == "compose" else None
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise UserError(f"/{name} has no option {', '.join(unknown)}; options: {', '.join(spec)}"
                        + (", primer_file" if name == "compose" else ""))
    if name == "compose":
        if primer_file is not None:
            options["primer_file"] = _read_files({"file": [primer_file]}, limit=MAX_MIDI_BYTES)[0]
        return await commands.compose(inv, **options)
    return await commands.write(inv, name, **options)


CORPUS_USAGE = "usage: /corpus add MODEL file:PATH [file:PATH ...], /corpus list"


async def _corpus(commands: Commands, inv: Invocation, words: list[str], options: dict[str, str]) -> Reply:
    if words == ["list"] and not options:
        return commands.corpus_list()
    if len(words) != 2 or words[0] != "add" or set(options) - {"file"}:
        raise UserError(CORPUS_USAGE)
    if not options.get("file"):
        raise UserError(f"attach at least one file: {CORPUS_USAGE}")
    return await commands.corpus_add(inv, words[1], _read_files(options))


def _read_files(options: dict, limit: int = MAX_UPLOAD) -> list[tuple[str, bytes | None]]:
    """The console's stand-in for attachments: the files named by ``file:PATH`` options. A file over ``limit``
    is not read (its data is None, as for an attachment too large to fetch), so the checks refuse it by size."""
    uploads = []
    for name in options.get("file", []):
        path = Path(name)
        if path.is_dir():
            raise UserError(f"{name} is a folder: name a file")
        if not path.exists():
            raise UserError(f"no such file: {name}")
        if not path.is_file():
            raise UserError(f"{name} is not a regular file (a device or a pipe?)")
        try:
            uploads.append((path.name, None if path.stat().st_size > limit else path.read_bytes()))
        except OSError as exc:
            raise UserError(f"{name} cannot be read: {exc.strerror or type(exc).__name__}") from None
    return uploads


RETRAIN_USAGE = ("usage: /retrain MODEL [epochs:N] [minutes:M] [file:PATH ...], /retrain cancel MODEL, "
                 "/retrain rollback MODEL, /retrain promote MODEL")


async def _retrain(commands: Commands, inv: Invocation, words: list[str], options: dict[str, str], on_done) -> Reply:
    if len(words) == 2 and words[0] in ("cancel", "rollback", "promote") and not options:
        if words[0] == "cancel":
            return commands.cancel_retrain(inv, words[1])
        return await (commands.rollback if words[0] == "rollback" else commands.promote)(inv, words[1])
    if len(words) != 1 or set(options) - {"epochs", "minutes", "file"}:
        raise UserError(RETRAIN_USAGE)

    async def progress(event: dict) -> None:
        print(f"[retrain {words[0]}] epoch {event.get('epoch')}: loss {event.get('loss', 0):.4f}, "
              f"val_loss {event.get('val_loss', 0):.4f}, ETA {event.get('eta_s') or 0:.0f} s", flush=True)

    return await commands.retrain(inv, words[0], epochs=options.get("epochs"), minutes=options.get("minutes"),
                                  uploads=_read_files(options), on_progress=progress, on_done=on_done)


async def reply_to(commands: Commands, inv: Invocation, line: str, on_done=None) -> Reply:
    """The reply a user sees for ``line``: errors become short ephemeral replies."""
    try:
        return await dispatch(commands, inv, line, on_done)
    except (UserError, GeneratorError, Busy) as exc:
        return Reply(user_message(exc), ephemeral=True)
    except Exception:
        log.exception("command failed: %s", line[:200])
        return Reply("⚠️ Something went wrong on our side; the details are in the log.", ephemeral=True)


async def show(reply: Reply, out_dir: Path, out: TextIO) -> None:
    """Print the reply; write its attachments under ``out_dir`` with aiofiles (the event loop never waits
    on the disk, so a retrain running beside the console keeps reporting)."""
    if reply.content:
        print(reply.content, file=out)
    if reply.files:
        for f in reply.files:
            path = out_dir / f.filename
            try:  # (BOT_OUTPUT_DIR made read-only or replaced mid-run: say so per reply, keep answering)
                await aiofiles.os.makedirs(out_dir, exist_ok=True)
                async with aiofiles.open(path, "wb") as handle:
                    await handle.write(f.data)
            except OSError as exc:
                print(f"⚠️ {f.filename} was not saved: BOT_OUTPUT_DIR ({out_dir}) cannot be written "
                      f"({exc.strerror or type(exc).__name__})", file=out)
                continue
            print(f"[attachment] {path}", file=out)
    out.flush()


async def show_later(reply: Reply, out_dir: Path, out: TextIO) -> None:
    """The attachments a reply makes after it is shown (an audio preview), written when they are ready."""
    try:
        files = await reply.later()
    except Exception:
        log.exception("a follow-up attachment failed")
        return
    if files:
        await show(Reply(files=files), out_dir, out)


def _line_reader(stdin: TextIO) -> asyncio.Queue:
    """Lines of ``stdin`` as they come ("" at the end), read by a daemon thread: a read blocked at an idle
    prompt never holds up the event loop's executor, Ctrl-C or SIGTERM, or the interpreter's exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def read() -> None:
        try:
            for line in iter(stdin.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError):  # stdin closed under us
            pass
        finally:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, "")
            except RuntimeError:  # the loop is gone: nobody is reading any more
                pass

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return queue


async def run_console(commands: Commands, out_dir: Path, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Read commands until end of input; returns the number of lines answered with an error."""
    stdin = stdin if stdin is not None else sys.stdin  # looked up now: sys.stdin may have been replaced
    out = out if out is not None else sys.stdout
    interactive = stdin.isatty()
    errors = 0
    lines = _line_reader(stdin)
    while True:
        if interactive:
            print("> ", end="", file=out, flush=True)
        line = await lines.get()
        if not line:
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        reply = await reply_to(commands, CONSOLE_USER, line, on_done=lambda report: show(report, out_dir, out))
        errors += reply.ephemeral and reply.content.startswith("⚠️")
        await show(reply, out_dir, out)
        if reply.later is not None:  # in the background: the next command need not wait for it
            task = asyncio.ensure_future(show_later(reply, out_dir, out))
            commands.background.add(task)
            task.add_done_callback(commands.background.discard)
    if commands.background:  # let a retraining started from this console finish before exiting
        print(f"waiting for {len(commands.background)} background job(s) (retraining, audio)...", file=out,
              flush=True)
        await asyncio.gather(*commands.background, return_exceptions=True)
    return errors
