"""The character-level generator behind the `text` and `lyrics` models.

    gen = CharGenerator.load("checkpoints/lyrics")
    result = gen.generate("Yeah, oho", length=400, temperature=0.5, rng_seed=7)
    print(result.text)          # begins with "Yeah, oho"

Training, sampling and checkpoints are the shared modules; this file holds
what is specific to characters: the vocabulary, seeds and stop conditions.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import CharConfig, preset
from .data import read_text_corpus, seq2seq_dataset, split_ids, training_datasets, window_dataset
from .errors import CheckpointError, ConfigError, GenerationError
from .sampling import SamplingOptions, generate_tokens, make_rng
from .vocab import CharVocab

KINDS = ("text", "lyrics")
MAX_LENGTH = 100_000
MAX_SEED_CHARS = 4_000
#: Context fed before the seed: generation starts as if at the beginning of a song or paragraph.
START_CONTEXT = "\n\n"


@dataclass
class TextResult:
    text: str
    seed: str
    rng_seed: int
    generated_chars: int
    stop_reason: str
    seconds: float
    replaced: dict[str, str] = field(default_factory=dict)

    @property
    def chars_per_second(self) -> float:
        return self.generated_chars / self.seconds if self.seconds > 0 else math.inf


class CharGenerator:
    """A trained character model with its vocabulary, config and metrics."""

    def __init__(self, kind: str, model, vocab: CharVocab, config: CharConfig, metrics: dict | None = None):
        self.kind, self.model, self.vocab, self.config = kind, model, vocab, config
        self.metrics = metrics or {}
        self._weights = None  # StepperWeights, extracted on first generation

    # -- checkpoints -------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "CharGenerator":
        from .model import build_model

        data = checkpoint.read_checkpoint(path, expected_kinds=KINDS)
        try:
            config = CharConfig.from_dict(data.config)
        except Exception as exc:  # ConfigError or TypeError from bad values
            raise CheckpointError(f"{data.path / 'config.json'}: {exc}") from None
        vocab = CharVocab.from_dict(data.vocab, source=str(data.path / "vocab.json"))
        model = build_model(config, len(vocab))
        checkpoint.load_weights_into(model, data)
        return cls(data.kind, model, vocab, config, data.metrics)

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint. The in-memory weights are rounded to float16 first, matching the file."""
        checkpoint.quantize_weights(self.model)
        self._weights = None
        return checkpoint.write_checkpoint(
            path, kind=self.kind, model=self.model, config=self.config.to_dict(),
            vocab=self.vocab.to_dict(), metrics=self.metrics,
        )

    # -- training ----------------------------------------------------------
    @classmethod
    def train(
        cls,
        kind: str,
        corpus: str | Path,
        *,
        config: CharConfig | None = None,
        epochs: int | None = None,
        minutes: float | None = None,
        out: str | Path | None = None,
        progress: str = "bar",
        seed: int = 0,
        init_from: "CharGenerator | None" = None,
    ) -> "CharGenerator":
        """Train on a UTF-8 text file; with ``out``, the best model so far is kept in ``<out>.partial``
        and the final checkpoint replaces ``out`` only when training completes.

        ``init_from`` fine-tunes an existing generator: its weights, vocabulary and
        architecture are kept (corpus characters outside the vocabulary are mapped
        to the nearest known ones), and ``config`` may change training settings only.
        """
        from .model import build_model
        from .training import emit, fit_model

        config = config or preset(kind)
        corpus_data = read_text_corpus(corpus)
        replaced: dict[str, str] = {}
        if init_from is None:
            vocab = CharVocab.from_text(corpus_data.text)
            ids = vocab.encode(corpus_data.text)
        else:
            _check_same_architecture(init_from.config, config)
            vocab = init_from.vocab
            ids, replaced = vocab.encode_lenient(corpus_data.text)
        train_ids, val_ids = split_ids(ids, config.val_fraction, config.seq_len)
        train_ds, steps, val_ds = training_datasets(config, train_ids, val_ids, seed=seed)
        targets_per_step = config.batch_size * (1 if config.objective == "window" else min(config.seq_len, len(train_ids) - 1))
        base_metrics = {
            "corpus": {"path": str(corpus_data.path), "sha256": corpus_data.sha256, "bytes": corpus_data.size_bytes,
                       "chars": len(ids), "train_chars": len(train_ids), "val_chars": len(val_ids)},
            "vocab_size": len(vocab),
        }
        if init_from is not None:
            base_metrics["init_from"] = {"kind": init_from.kind, "metrics_date": init_from.metrics.get("date"),
                                         "corpus_sha256": init_from.metrics.get("corpus", {}).get("sha256"),
                                         "replaced_chars": replaced}

        def build():
            model = build_model(config, len(vocab))
            if init_from is not None:
                model.set_weights(init_from.model.get_weights())
            return model
        partial = None if out is None else Path(out).with_name(Path(out).name + ".partial")

        def on_improve(model, record):
            if partial is not None:
                snapshot = cls(kind, model, vocab, config, {**base_metrics, "partial": record})
                checkpoint.write_checkpoint(partial, kind=kind, model=model, config=config.to_dict(),
                                            vocab=vocab.to_dict(), metrics=snapshot.metrics)

        model, fit = fit_model(
            build, config, train_ds, steps, val_ds,
            epochs=epochs, minutes=minutes, progress=progress, targets_per_step=targets_per_step,
            on_improve=on_improve,
        )
        gen = cls(kind, model, vocab, config)
        checkpoint.quantize_weights(model)
        val_loss = float(model.evaluate(val_ds, verbose=0))  # the loss of the weights as stored
        gen.metrics = {
            "val_loss_nats_per_char": round(val_loss, 4),
            "val_bits_per_char": round(val_loss / math.log(2), 4),
            "train_loss_nats_per_char": round(fit.train_loss_at_best, 4),
            "best_epoch": fit.best_epoch,
            "epochs": fit.epochs,
            "steps": fit.steps,
            "targets": fit.targets,
            "wall_time_s": fit.wall_time_s,
            "stopped_because": fit.stopped_because,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(),
            **base_metrics,
            "history": fit.history,
        }
        if out is not None:
            gen.save(out)
            if partial is not None and partial.exists():
                import shutil

                shutil.rmtree(partial, ignore_errors=True)
        emit(progress, {"event": "done", "val_loss": gen.metrics["val_loss_nats_per_char"], "out": str(out) if out else None})
        return gen

    # -- evaluation --------------------------------------------------------
    def evaluate(self, corpus: str | Path) -> dict:
        """Cross-entropy of the model on a text file, in nats and bits per character (windows of seq_len)."""
        corpus_data = read_text_corpus(corpus)
        ids, replaced = self.vocab.encode_lenient(corpus_data.text)
        if len(ids) < 2:
            raise GenerationError(f"corpus too short to evaluate (needs at least 2 characters): {corpus}")
        cfg = self.config
        if cfg.objective == "window":
            ds, _ = window_dataset(ids, cfg.seq_len, cfg.window_step, cfg.batch_size, train=False)
        else:
            ds, _ = seq2seq_dataset(ids, cfg.seq_len, cfg.batch_size, train=False)
        from .tf_runtime import keras

        self.model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        loss = float(self.model.evaluate(ds, verbose=0))
        unknown = sum(corpus_data.text.count(c) for c in replaced)
        return {"nats_per_char": loss, "bits_per_char": loss / math.log(2), "chars": len(ids),
                "unknown_chars": unknown, "replaced": replaced}

    # -- generation --------------------------------------------------------
    def generate(
        self,
        seed: str = "",
        *,
        length: int = 400,
        temperature: float = 0.5,
        top_k: int | None = None,
        top_p: float | None = None,
        rng_seed: int | None = None,
        until_song_end: bool = False,
        max_lines: int | None = None,
    ) -> TextResult:
        """Continue ``seed`` by up to ``length`` characters. The result's text begins with the seed as given.

        ``until_song_end`` stops at the first blank line (a song boundary in the
        lyrics corpus); ``max_lines`` stops once the text has that many lines.
        Seed characters missing from the vocabulary are replaced by the nearest
        known ones and listed in ``result.replaced``.
        """
        opts = SamplingOptions(temperature, top_k, top_p)
        if not isinstance(seed, str):
            raise GenerationError("seed must be text")
        if len(seed) > MAX_SEED_CHARS:
            raise GenerationError(f"seed is too long ({len(seed)} characters, at most {MAX_SEED_CHARS})")
        if not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
            raise GenerationError(f"length must be between 1 and {MAX_LENGTH}, got {length!r}")
        if max_lines is not None and (not isinstance(max_lines, int) or max_lines < 1):
            raise GenerationError(f"line count must be a positive integer, got {max_lines!r}")
        rng, rng_seed = make_rng(rng_seed)
        seed_ids, replaced = self.vocab.encode_lenient(seed)
        context, _ = self.vocab.encode_lenient(START_CONTEXT)
        newline = self.vocab.index.get("\n")
        lines_in_seed = seed.count("\n")
        state = {"last": int(seed_ids[-1]) if len(seed_ids) else newline, "lines": lines_in_seed, "reason": "length"}

        def stop(token: int) -> bool:
            if token == newline:
                state["lines"] += 1
                if until_song_end and state["last"] == newline and state["lines"] > lines_in_seed + 1:
                    state["reason"] = "song end"
                    return True
                if max_lines is not None and state["lines"] >= max_lines:
                    state["reason"] = "lines"
                    return True
            state["last"] = token
            return False

        start = time.perf_counter()
        step, first_logits = self._start(np.concatenate([context, seed_ids]))
        tokens = generate_tokens(step, first_logits, length, opts, rng, stop=stop)
        seconds = time.perf_counter() - start
        generated = self.vocab.decode(tokens)
        if state["reason"] in ("song end", "lines"):
            generated = generated.rstrip("\n")
        return TextResult(
            text=seed + generated, seed=seed, rng_seed=rng_seed, generated_chars=len(tokens),
            stop_reason=state["reason"], seconds=seconds, replaced=replaced,
        )

    def _start(self, prime_ids: np.ndarray):
        """Prime on ``prime_ids``; return ``(step, first_logits)`` where ``step(token)`` gives the next logits."""
        if self.config.objective == "window":
            from .model import window_logits

            window = deque(prime_ids.tolist()[-self.config.seq_len:], maxlen=self.config.seq_len)

            def step_window(token: int) -> np.ndarray:
                window.append(token)
                return window_logits(self.model, np.array([list(window)], np.int32))[0]

            return step_window, window_logits(self.model, np.array([list(window)], np.int32))[0]
        from .stepper import LSTMStepper, StepperWeights

        if self._weights is None:
            self._weights = StepperWeights(self.model)
        stepper = LSTMStepper(self._weights)
        return stepper.step, stepper.feed(prime_ids)


ARCHITECTURE_FIELDS = ("embedding", "layers", "units", "bidirectional", "objective")


def _check_same_architecture(old: CharConfig, new: CharConfig) -> None:
    changed = [f for f in ARCHITECTURE_FIELDS if getattr(old, f) != getattr(new, f)]
    if changed:
        raise ConfigError(
            "fine-tuning keeps the checkpoint's architecture; cannot change "
            + ", ".join(f"{f} ({getattr(old, f)!r} -> {getattr(new, f)!r})" for f in changed)
        )


def _versions() -> dict:
    from .tf_runtime import keras, tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
