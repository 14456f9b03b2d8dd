"""Command line: ``python -m generators train|generate|evaluate ...``.

Library errors (:class:`GeneratorError`) become one line on stderr and exit
status 2; anything unexpected is logged with its traceback and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path

from .checkpoint import check_target
from .config import preset
from .errors import ConfigError, GenerationError, GeneratorError
from .music.config import MUSIC
from .music.form import SECTION_BARS
from .music.generator import DEFAULT_TEMPERATURE
from .paths import checkpoint_root
from .registry import NAMES
from .registry import TEXT_MODELS as TEXT_NAMES
from .serving import generator_class
from .training import set_threads

log = logging.getLogger("generators")

MODELS, TEXT_MODELS = NAMES, TEXT_NAMES



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
        description="Train, sample and evaluate Ghostwriter's LSTM generators "
                    "(text: prose/script, lyrics: songs, music: MIDI).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,generate,evaluate}", parser_class=_Parser)

    p = sub.add_parser("train", help="train a model on a corpus and write a checkpoint folder",
                       description="Train a model on a corpus (text, lyrics: a UTF-8 file; music: a folder of MIDI "
                                   "files, default music21's Bach chorales). The best model so far is kept in "
                                   "OUT.partial; OUT is replaced atomically when training finishes.")
    p.add_argument("model", choices=MODELS, help="which generator (and config preset) to train")
    p.add_argument("--corpus", type=Path, help="text, lyrics: UTF-8 file (required); music: folder of .mid files")
    p.add_argument("--workers", type=_positive_int, help="music: processes parsing MIDI (default: all cores)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive_int, help="stop after N epochs (default: early stopping only)")
    budget.add_argument("--minutes", type=_positive_float, help="stop after M minutes of training")
    p.add_argument("--out", type=Path, help="checkpoint folder to write (default: $CHECKPOINT_DIR/MODEL); a new or "
                                            "empty folder, or a checkpoint with --force")
    p.add_argument("--force", action="store_true", help="replace the checkpoint at --out (never anything else)")
    p.add_argument("--init-from", type=Path, metavar="CHECKPOINT",
                   help="fine-tune: start from this checkpoint's weights, vocabulary and architecture")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides",
                   help="override a config field of the preset, e.g. --set units=256 (repeatable)")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                   help="progress display: bar on the terminal, json lines on stdout, or none (default: bar)")
    p.add_argument("--threads", type=_positive_int, help="CPU threads for TensorFlow (default: all cores)")
    p.add_argument("--data-seed", type=_non_negative_int, default=0, help="seed for window order (default: 0)")

    g = sub.add_parser("generate", help="generate text, lyrics or a MIDI file from a checkpoint",
                       description="text, lyrics: continue a seed text (the output begins with the seed). "
                                   "music: write a MIDI file of --notes notes.")
    g.add_argument("model", choices=MODELS)
    g.add_argument("--temp", type=_float, help="sampling temperature, 0 = greedy (default: 0.5 text, 0.9 music)")
    g.add_argument("--top-k", type=_positive_int, help="sample only among the K most likely tokens")
    g.add_argument("--top-p", type=_float, help="sample only from the smallest set with total probability P")
    g.add_argument("--rng-seed", type=_non_negative_int, help="random seed; the same seed gives the same output")
    g.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: $CHECKPOINT_DIR/MODEL)")
    t = g.add_argument_group("text and lyrics")
    t.add_argument("--seed", help="text to start from (unknown characters are replaced and reported)")
    t.add_argument("--length", type=_positive_int, help="characters to generate at most (default: 400)")
    t.add_argument("--until-song-end", action="store_true", help="stop at the first blank line (a song boundary)")
    t.add_argument("--lines", type=_positive_int, help="text: stop after this many lines; lyrics: the song's lines, "
                                                       "the seed's included (default: 16)")
    t.add_argument("--rhyme", help="lyrics: rhyme scheme AABB, ABAB, ABCB, AAAA or none (default: drawn per song)")
    t.add_argument("--syllables", type=_positive_int, help="lyrics: syllables per line (each line within one)")
    t.add_argument("--no-labels", action="store_true", help="lyrics: no section labels like [Chorus]")
    m = g.add_argument_group("music")
    length = m.add_mutually_exclusive_group()
    length.add_argument("--notes", type=_positive_int, help="notes to generate, each note of a chord counted (default: 500)")
    length.add_argument("--bars", type=_positive_int, help="or: bars of 4/4 to generate")
    length.add_argument("--seconds", type=_positive_float, help="or: seconds of music to generate at --tempo")
    m.add_argument("--key", help="key of the piece, e.g. 'D minor', 'F#', 'Bb major' (default: the primer's, or random)")
    m.add_argument("--texture", choices=("auto", "sparse", "medium", "full"),
                   help="notes per onset the piece holds, from the training corpus's range (default: the primer's)")
    m.add_argument("--register", choices=("auto", "low", "middle", "high"),
                   help="register the piece holds, from the training corpus's range (default: the primer's)")
    g.add_argument("--form", help="music: sections such as AABA or ABACA (a returning letter comes back), or 'through' "
                                  "(default auto: a common form for pieces of 16 bars or more); lyrics: sections "
                                  "such as 'verse chorus verse chorus bridge chorus' or VCVCBC, or none (default: a "
                                  "common form for 12 lines or more)")
    m.add_argument("--section-bars", type=_positive_int, help=f"bars per section of --form (default: {SECTION_BARS}; with --bars, they must agree)")
    m.add_argument("--chords", help="a chord per bar, repeated, e.g. 'C G Am F' or 'Dm7 G7 Cmaj7' (the key is the "
                                    "one they imply unless --key)")
    m.add_argument("--tempo", type=_positive_float, help="tempo in BPM (default: 120)")
    m.add_argument("--instrument", help="General MIDI instrument name or program number 0-127 (default: piano)")
    m.add_argument("--primer", help="'random' (a corpus excerpt, default), a .mid file, or notes like 'C4 E4 G4 C5'")
    m.add_argument("--continue-from", type=Path, metavar="FILE.mid",
                   help="continue this MIDI piece (primed with its last bars, read in --key if given, else in "
                        "its estimated key); writes the whole, longer piece")
    m.add_argument("--out", type=Path, help="MIDI file to write (default: song-RNGSEED.mid)")

    _evaluate_parser(sub)
    return parser


def _evaluate_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="loss of a checkpoint on a corpus (nats/bits per token); music adds statistics")
    e.add_argument("model", choices=MODELS)
    e.add_argument("--corpus", type=Path, help="text, lyrics: UTF-8 file (required); music: folder of .mid files")
    e.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: $CHECKPOINT_DIR/MODEL)")
    e.add_argument("--pieces", type=_positive_int, default=10, help="music: generated pieces to compare (default: 10)")
    e.add_argument("--notes", type=_positive_int, default=500, help="music: notes per generated piece (default: 500)")
    e.add_argument("--bars", type=_positive_int, help="music: or bars per generated piece (and of each corpus piece)")
    e.add_argument("--temp", type=_float, help="music: sampling temperature of the generated pieces (default: 0.9)")
    e.add_argument("--rng-seed", type=_non_negative_int, default=1, help="music: RNG seed of the first piece (default: 1)")
    e.add_argument("--songs", type=_positive_int, default=0,
                   help="lyrics: write this many songs seeded with held-out songs' first lines and print their "
                        "statistics beside the songs' (default: 0, loss only)")
    e.add_argument("--lines", type=_positive_int, default=17, help="lyrics: lines per song (default: 17)")
    e.add_argument("--rhyme", help="lyrics: the songs' rhyme scheme (default: drawn per song)")
    e.add_argument("--form", help="lyrics: the songs' form (default: auto)")
    e.add_argument("--syllables", type=_positive_int, help="lyrics: syllables per line")
    e.add_argument("--split", choices=("all", "val", "train"), default="all",
                   help="music: score all pieces, or the held-out (val) or training pieces of the model's split")


def _load(args):
    return generator_class(args.model).load(args.checkpoint or checkpoint_root() / args.model)


def _only_for(args, models: tuple[str, ...], *options: str) -> None:
    """Reject options that do not apply to the chosen model."""
    if args.model in models:
        return
    for option in options:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value not in (None, False):
            raise ConfigError(f"{option} does not apply to the {args.model} model")


def _exit_with_parent() -> None:
    """When a parent (the bot) set ``GHOSTWRITER_PARENT_PID``, exit as soon as that process is gone,
    so a killed bot leaves no training run behind."""
    parent = os.environ.get("GHOSTWRITER_PARENT_PID", "")
    if not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os._exit(143)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _cmd_train(args) -> int:
    _exit_with_parent()
    _only_for(args, ("music",), "--workers")
    if args.model in TEXT_MODELS and args.corpus is None:
        raise ConfigError(f"train {args.model} needs --corpus FILE (a UTF-8 text file)")
    set_threads(args.threads)
    cls = generator_class(args.model)
    base = cls.load(args.init_from) if args.init_from else None
    if base is not None:
        config = base.config
    elif args.model == "music":
        config = MUSIC
    else:
        config = preset(args.model)
    config = config.with_overrides(args.overrides)
    out = args.out or checkpoint_root() / args.model
    check_target(out, force=args.force)  # before an hour of training, not after
    common = dict(config=config, epochs=args.epochs, minutes=args.minutes, out=out, progress=args.progress,
                  data_seed=args.data_seed, init_from=base)
    if args.model == "music":
        gen = cls.train(args.corpus, workers=args.workers, **common)
    else:
        gen = cls.train(args.model, args.corpus, **common)
    m, unit = gen.metrics, cls.unit
    print(
        f"saved {out}: val_loss {m[f'val_loss_nats_per_{unit}']:.4f} nats/{unit} ({m[f'val_bits_per_{unit}']:.3f} bits/{unit}), "
        f"{m['epochs']} epochs, {m['wall_time_s'] / 60:.1f} min, stopped by {m['stopped_because']}",
        file=sys.stderr if args.progress == "json" else sys.stdout,
    )
    return 0


def _song(gen, args) -> int:
    """`generate lyrics`: a song of --lines lines (see CharGenerator.song)."""
    result = gen.song(args.seed or "", lines=args.lines or 16, rhyme=args.rhyme, form=args.form,
                      syllables=args.syllables, labels=not args.no_labels,
                      temperature=0.5 if args.temp is None else args.temp, top_k=args.top_k, top_p=args.top_p,
                      rng_seed=args.rng_seed)
    if result.replaced:
        pairs = ", ".join(f"{k!r}->{v!r}" for k, v in result.replaced.items())
        print(f"note: seed characters not in the vocabulary were replaced: {pairs}", file=sys.stderr)
    print(result.text, flush=True)
    print(f"[{result.summary()}, {result.seconds:.2f} s of model time]", file=sys.stderr)
    return 0


def _cmd_generate(args) -> int:
    _only_for(args, TEXT_MODELS, "--seed", "--length", "--until-song-end", "--lines")
    _only_for(args, ("lyrics",), "--rhyme", "--syllables", "--no-labels")
    _only_for(args, ("music", "lyrics"), "--form")
    _only_for(args, ("music",), "--notes", "--bars", "--seconds", "--key", "--tempo", "--instrument", "--primer",
              "--out", "--continue-from", "--texture", "--register", "--section-bars", "--chords")
    if args.model == "music" and args.continue_from is not None and args.primer:
        raise GenerationError("--continue-from takes no --primer: the piece is the primer")
    gen = _load(args)
    if args.model == "music":

        options = dict(bars=args.bars, seconds=args.seconds,
                       temperature=DEFAULT_TEMPERATURE if args.temp is None else args.temp, top_k=args.top_k,
                       top_p=args.top_p, rng_seed=args.rng_seed, tempo=args.tempo or 120.0, instrument=args.instrument,
                       texture=args.texture, register=args.register, form=args.form,
                       section_bars=args.section_bars, chords=args.chords)
        if args.continue_from is not None:
            previous = gen.read_piece(args.continue_from)
            result = gen.continue_piece(previous, args.notes, piece_key=args.key, **options)
        else:
            result = gen.generate(args.notes, key=args.key, primer=args.primer, **options)
        out = args.out or Path(f"song-{result.rng_seed}.mid")
        try:
            out.write_bytes(result.midi)
        except OSError as exc:
            raise GenerationError(f"cannot write {out}: {exc.strerror or exc}") from None
        if result.replaced:
            print(f"note: primer events not in the vocabulary were mapped: {result.replaced}", file=sys.stderr)
        print(f"wrote {out}: {result.summary()}, primer {result.primer}, {result.seconds:.2f} s of model time")
        return 0
    if args.model == "lyrics" and args.length is None and not args.until_song_end:
        return _song(gen, args)
    if args.rhyme or args.syllables or args.form:
        raise GenerationError("--rhyme, --syllables and --form write a song: leave out --length and --until-song-end")
    result = gen.generate(
        args.seed or "", length=args.length or 400, temperature=0.5 if args.temp is None else args.temp,
        top_k=args.top_k, top_p=args.top_p, rng_seed=args.rng_seed, until_song_end=args.until_song_end,
        max_lines=args.lines,
    )
    if result.replaced:
        pairs = ", ".join(f"{k!r}->{v!r}" for k, v in result.replaced.items())
        print(f"note: seed characters not in the vocabulary were replaced: {pairs}", file=sys.stderr)
    print(result.text, flush=True)
    print(f"[rng seed {result.rng_seed}, {result.generated_chars} chars in {result.seconds:.2f} s, "
          f"stopped by {result.stop_reason}]", file=sys.stderr)
    return 0


KIND_NAMES = {"END": "end of piece", "P": "pitch", "D": "duration", "W": "wait", "V": "velocity",
              "R": "plan register", "T": "plan texture", "K": "plan key", "H": "bar chord"}


def _cmd_evaluate(args) -> int:
    if args.model in TEXT_MODELS and args.corpus is None:
        raise ConfigError(f"evaluate {args.model} needs --corpus FILE (a UTF-8 text file)")
    gen = _load(args)
    if args.model == "music":

        temp = DEFAULT_TEMPERATURE if args.temp is None else args.temp
        r = gen.evaluate(args.corpus, pieces=args.pieces, notes=args.notes, temperature=temp, rng_seed=args.rng_seed,
                         split=args.split, bars=args.bars)
        print(f"{args.corpus or 'bach chorales'} ({r['split']}: {r['pieces']} pieces, {r['notes']} notes): "
              f"{r['nats_per_note']:.4f} nats/note, {r['nats_per_event']:.4f} nats/event "
              f"({r['bits_per_event']:.4f} bits/event) over {r['events']} events "
              f"({r['unknown_events']} not in the vocabulary); {r['corpus_summary']}")
        for name, why in r.get("skipped", [])[:10]:
            print(f"skipped {name}: {why}")
        if r["nats_per_note_by_kind"]:
            print("nats/note by event: " + ", ".join(f"{KIND_NAMES.get(k, k)} {v:.3f}"
                                                       for k, v in r["nats_per_note_by_kind"].items() if v >= 0.0005))
        size = f"{args.bars} bars" if args.bars else f"{args.notes} notes"
        print(f"statistics: opening {size} of each corpus piece vs {args.pieces} generated pieces of {size} "
              f"(temperature {temp:g}, RNG seeds {args.rng_seed}-{args.rng_seed + args.pieces - 1})")
        print(f"{'statistic':24s} {'corpus':>10s} {'generated':>10s}")
        for k in STAT_ROWS:
            print(f"{k:24s} {r['corpus_stats'][k]:>10} {r['generated_stats'][k]:>10}")
        print(f"{'pieces':24s} {r['corpus_stats'].get('pieces', 0):>10} {r['generated_stats'].get('pieces', 0):>10}")
        return 0
    if args.split == "train":
        raise ConfigError("evaluate text and lyrics take --split all or val")
    if args.songs:  # (the song options checked before the long likelihood pass, not after it)
        from .songs.form import parse_scheme, parse_song_form

        parse_scheme(args.rhyme)
        parse_song_form(args.form)
    r = gen.evaluate(args.corpus, split=args.split)
    print(f"{args.corpus} ({args.split}): {r['nats_per_char']:.4f} nats/char, {r['bits_per_char']:.4f} bits/char "
          f"over {r['chars']} characters ({r['unknown_chars']} not in the vocabulary)")
    if args.songs:
        if args.model != "lyrics":
            raise ConfigError("--songs is for the lyrics model")
        _song_table(gen, args)
    return 0


def _song_table(gen, args) -> None:
    """`evaluate lyrics --songs N`: song statistics of held-out songs beside songs written from their first lines."""
    from .data import read_text_corpus
    from .songs.stats import evaluate_songs
    from .text import held_out_text

    text = read_text_corpus(args.corpus).text
    if args.split == "val":
        text = held_out_text(text, gen.config.val_fraction)
    temp = 0.5 if args.temp is None else args.temp
    r = evaluate_songs(gen, text, songs=args.songs, lines=args.lines, rhyme=args.rhyme, form=args.form,
                       syllables=args.syllables, temperature=temp, rng_seed=args.rng_seed)
    print(f"songs: {r['songs']} held-out runs of {args.lines} lines ({args.split}) vs songs written from their first "
          f"lines (temperature {temp:g}, RNG seeds {args.rng_seed}-{args.rng_seed + r['songs'] - 1}; "
          f"{r['model_seconds']:.2f} s of model time per song)")
    print(f"{'statistic':24s} {'corpus':>10s} {'generated':>10s}")
    for k in r["corpus"]:
        print(f"{k:24s} {r['corpus'][k]:>10} {r['generated'][k]:>10}")
    if "scheme_share" in r:
        print(f"{'scheme_share':24s} {r['corpus_scheme_share']:>10} {r['scheme_share']:>10}")


#: The rows `evaluate music` prints (see generators/music/stats.py; collapsed: pieces with a collapsed quarter,
#: velocity_out_of_range: notes, both totals; longest_repeat: the largest over pieces; the rest: means).
STAT_ROWS = ("scale_consistency", "local_scale_consistency", "pitch_class_entropy", "polyphony", "quarter_shift",
             "collapsed", "distinct_4gram_share", "longest_repeat", "bar_best_earlier", "bar_exact_repeats",
             "bar_sim_4", "bar_sim_8", "velocity_spread", "distinct_velocities", "velocity_out_of_range")

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
