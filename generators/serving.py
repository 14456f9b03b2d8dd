"""Loading a checkpoint to serve it, in whichever process serves (the bot's, or a Ray Serve replica)."""

from __future__ import annotations

import contextlib
from pathlib import Path


def generator_class(model: str):
    """The generator class of a model name (see :mod:`generators.registry`)."""
    from .registry import spec

    return spec(model).generator()


def load_generator(model: str, path: str | Path):
    """Load one checkpoint to serve it (blocking: call it from a worker thread inside an event loop). For lyrics, the
    rhyme dictionary is read now too (about a second), so the first song does not wait for it."""
    gen = generator_class(model).load(path)
    if model == "lyrics":
        from .songs.rhyme import warm_rhymes

        warm_rhymes()
    return gen


def limit_blas_threads(threads: int):
    """A context in which each BLAS product of this process uses ``threads`` threads (0: the library's default).
    Serving steps a batching loop per model and rhyme searches beside it, all at once; with a pool of threads per
    product they fight for the cores (a crowd of songs took 3 times as long on 2 cores), with one each they share
    them. (The limit takes effect when made; NumPy's BLAS is loaded first, so it reaches it.)"""
    if not threads:
        return contextlib.nullcontext()
    import importlib

    from threadpoolctl import threadpool_limits

    importlib.import_module("numpy")
    return threadpool_limits(limits=threads, user_api="blas")
