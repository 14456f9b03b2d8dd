"""Command line: ``python -m generators train|generate|evaluate ...``.

Library errors (:class:`GeneratorError`) become one line on stderr and exit
status 2; anything unexpected is logged with its traceback and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .errors import GeneratorError

log = logging.getLogger("generators")

MODELS = ("text", "lyrics")
REPO_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def checkpoint_root() -> Path:
    """Where checkpoints live: ``$CHECKPOINT_DIR``, else the repository's ``checkpoints/``."""
    return Path(os.environ.get("CHECKPOINT_DIR") or REPO_CHECKPOINTS)


def _int_at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m generators",
        description="Train, sample and evaluate Ghostwriter's LSTM generators (text: prose/script, lyrics: songs).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,generate,evaluate}", parser_class=_Parser)

    p = sub.add_parser("train", help="train a model on a corpus and write a checkpoint folder",
                       description="Train a model on a UTF-8 corpus. The best model so far is kept in OUT.partial; "
                                   "OUT is replaced atomically when training finishes.")
    p.add_argument("model", choices=MODELS, help="which generator (and config preset) to train")
    p.add_argument("--corpus", required=True, type=Path, help="UTF-8 text file to train on")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive_int, help="stop after N epochs (default: early stopping only)")
    budget.add_argument("--minutes", type=_positive_float, help="stop after M minutes of training")
    p.add_argument("--out", type=Path, help="checkpoint folder to write (default: $CHECKPOINT_DIR/MODEL)")
    p.add_argument("--init-from", type=Path, metavar="CHECKPOINT",
                   help="fine-tune: start from this checkpoint's weights, vocabulary and architecture")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="override a config field of the preset, e.g. --set units=256 (repeatable)")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                   help="progress display: bar on the terminal, json lines on stdout, or none (default: bar)")
    p.add_argument("--threads", type=_positive_int, help="CPU threads for TensorFlow (default: all cores)")
    p.add_argument("--data-seed", type=_non_negative_int, default=0, help="seed for window order (default: 0)")

    g = sub.add_parser("generate", help="generate text from a checkpoint",
                       description="Continue a seed text; the output begins with the seed.")
    g.add_argument("model", choices=MODELS)
    g.add_argument("--seed", default="", help="text to start from (unknown characters are replaced and reported)")
    g.add_argument("--temp", type=_float, default=0.5, help="sampling temperature, 0 = greedy (default: 0.5)")
    g.add_argument("--length", type=_positive_int, default=400, help="characters to generate at most (default: 400)")
    g.add_argument("--top-k", type=_positive_int, help="sample only among the K most likely characters")
    g.add_argument("--top-p", type=_float, help="sample only from the smallest set with total probability P")
    g.add_argument("--rng-seed", type=_non_negative_int, help="random seed; the same seed gives the same output")
    g.add_argument("--until-song-end", action="store_true", help="stop at the first blank line (a song boundary)")
    g.add_argument("--lines", type=_positive_int, help="stop after this many lines")
    g.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: $CHECKPOINT_DIR/MODEL)")

    e = sub.add_parser("evaluate", help="loss of a checkpoint on a corpus, in nats and bits per character")
    e.add_argument("model", choices=MODELS)
    e.add_argument("--corpus", required=True, type=Path, help="UTF-8 text file to score")
    e.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: $CHECKPOINT_DIR/MODEL)")
    return parser


def _cmd_train(args) -> int:
    from .config import preset
    from .text import CharGenerator
    from .training import set_threads

    set_threads(args.threads)
    base = CharGenerator.load(args.init_from) if args.init_from else None
    config = (base.config if base else preset(args.model)).with_overrides(args.overrides)
    out = args.out or checkpoint_root() / args.model
    gen = CharGenerator.train(args.model, args.corpus, config=config, epochs=args.epochs, minutes=args.minutes,
                              out=out, progress=args.progress, seed=args.data_seed, init_from=base)
    m = gen.metrics
    print(
        f"saved {out}: val_loss {m['val_loss_nats_per_char']:.4f} nats/char ({m['val_bits_per_char']:.3f} bits/char), "
        f"{m['epochs']} epochs, {m['wall_time_s'] / 60:.1f} min, stopped by {m['stopped_because']}",
        file=sys.stderr if args.progress == "json" else sys.stdout,
    )
    return 0


def _cmd_generate(args) -> int:
    from .text import CharGenerator

    gen = CharGenerator.load(args.checkpoint or checkpoint_root() / args.model)
    result = gen.generate(
        args.seed, length=args.length, temperature=args.temp, top_k=args.top_k, top_p=args.top_p,
        rng_seed=args.rng_seed, until_song_end=args.until_song_end, max_lines=args.lines,
    )
    if result.replaced:
        pairs = ", ".join(f"{k!r}->{v!r}" for k, v in result.replaced.items())
        print(f"note: seed characters not in the vocabulary were replaced: {pairs}", file=sys.stderr)
    print(result.text, flush=True)
    print(f"[rng seed {result.rng_seed}, {result.generated_chars} chars in {result.seconds:.2f} s, "
          f"stopped by {result.stop_reason}]", file=sys.stderr)
    return 0


def _cmd_evaluate(args) -> int:
    from .text import CharGenerator

    gen = CharGenerator.load(args.checkpoint or checkpoint_root() / args.model)
    r = gen.evaluate(args.corpus)
    print(f"{args.corpus}: {r['nats_per_char']:.4f} nats/char, {r['bits_per_char']:.4f} bits/char "
          f"over {r['chars']} characters ({r['unknown_chars']} not in the vocabulary)")
    return 0


COMMANDS = {"train": _cmd_train, "generate": _cmd_generate, "evaluate": _cmd_evaluate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except GeneratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        log.exception("unexpected error in %s", args.command)
        return 1
