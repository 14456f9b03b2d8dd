"""Generation and training on a Ray cluster (the optional ``[ray]`` extra: ``pip install ".[ray]"``).

Nothing here is imported unless Ray is asked for. Three pieces:

- :class:`ModelServer`, a Ray Serve deployment: each replica holds one model
  (read straight into NumPy, no TensorFlow) and runs its continuous-batching
  loop; concurrent calls to a replica are stepped together, as in the bot's own
  process. Its ``user_config`` names a checkpoint version; deploying another
  one makes Ray Serve replace the replicas one by one with replicas serving it
  (calls in flight finish on the old ones; Serve gives an application deployed
  with ``serve.run`` a new code version each time, so this is a rolling restart,
  not an in-place reconfigure), which is how a retrained model rolls out and
  rolls back.
- :class:`CheckpointStore`, a detached named actor holding checkpoint folders by
  content hash: replicas on any node fetch a version from it, so no shared
  filesystem is needed.
- ``python -m generators.ray_serve train MODEL --corpus ... --out ...`` (the
  arguments of ``python -m generators train``): runs the training as a Ray task
  (with a GPU when the cluster has one), relays its JSON progress lines to
  stdout as they come, and writes the trained checkpoint into ``--out``; the
  bot's retrain manager runs it instead of the local trainer, so the report
  flow is the same. SIGTERM cancels the task.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import ray
from ray import serve

from .errors import ClusterError
from .protocol import GENERATION_METHODS
from .serving import limit_blas_threads, load_generator
from .training import child_env, failure_reason

log = logging.getLogger("generators.ray_serve")

NAMESPACE = "ghostwriter"
#: Ray starts its worker processes (each replica among them) at niceness 15, below everything else on the machine:
#: a replica beside the bot then lost its cores to the bot's audio renders (niceness 10; a 32-user /compose crowd
#: took 1.8x as long as in-process). A cluster started here runs them at the priority of the processes beside them.
LOCAL_WORKER_NICENESS = "0"


def local_cluster_env() -> None:
    """Before ``ray.init`` starts a local cluster: its workers at :data:`LOCAL_WORKER_NICENESS` (unless the
    environment already says ``RAY_worker_niceness``)."""
    os.environ.setdefault("RAY_worker_niceness", LOCAL_WORKER_NICENESS)
#: Seconds a deployment (or a roll-out) may take to come up before it is given up with a message naming why.
DEPLOY_TIMEOUT_S = 120.0
#: Fewer CPUs than this for a replica is a cluster too small to serve from.
MIN_CPUS_PER_REPLICA = 0.05
#: CPUs a retraining task asks for when the cluster has them free (less when it has not; see :func:`train_remote`).
TRAIN_CPUS = 1.0
WAITING_AFTER_S = 5.0  # a training task not started after this long is reported as waiting for the cluster
STORE = "ghostwriter-checkpoints"
KEEP_VERSIONS = 8  # checkpoint versions the store keeps (the serving one and those to roll back to)


def app_name(model: str) -> str:
    return f"ghostwriter-{model}"


# -- checkpoints as bytes --------------------------------------------------------------------------------------
def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_folder(files: dict[str, bytes], folder: Path) -> Path:
    """Write ``files`` (as :func:`read_folder` gives them) under ``folder`` (made if missing)."""
    folder = Path(folder)
    for name, data in files.items():
        target = (folder / name).resolve()
        if folder.resolve() not in target.parents:
            raise ValueError(f"refusing to write outside {folder}: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def content_key(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:16]


@ray.remote(num_cpus=0)
class CheckpointStore:
    """Checkpoint folders by content key, for replicas on any node (see :func:`publish`)."""

    def __init__(self):
        self.folders: dict[str, dict[str, bytes]] = {}

    def put(self, key: str, files: dict[str, bytes]) -> None:
        self.folders.pop(key, None)
        self.folders[key] = files
        while len(self.folders) > KEEP_VERSIONS:
            self.folders.pop(next(iter(self.folders)))

    def get(self, key: str) -> dict[str, bytes] | None:
        return self.folders.get(key)


def store():
    return CheckpointStore.options(name=STORE, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote()


def publish(path: Path) -> str:
    """Put the checkpoint folder at ``path`` in the cluster's store; its content key."""
    files = read_folder(path)
    key = content_key(files)
    ray.get(store().put.remote(key, files), timeout=DEPLOY_TIMEOUT_S)
    return key


# -- fitting the replicas to the cluster ------------------------------------------------------------------------------
def fit_replicas(cluster_cpus: float, models: int, replicas: int, cpus_per_replica: float | None = None) -> float:
    """CPUs each replica reserves on a cluster of ``cluster_cpus`` serving ``models`` models with ``replicas``
    replicas each: ``cpus_per_replica`` when it fits (else :class:`ClusterError` naming what was asked and what
    there is); None: as many as fit with a retraining beside them (at most 1 each, in steps of 0.05; a cluster of
    2 CPUs gives 3 replicas 0.5 each and leaves 0.5 for /retrain), or :class:`ClusterError` when that is under
    :data:`MIN_CPUS_PER_REPLICA`."""
    count = models * replicas
    plural = "s" if replicas != 1 else ""
    if cpus_per_replica is not None:
        asked = count * cpus_per_replica
        if asked > cluster_cpus + 1e-9:
            most = math.floor(cluster_cpus / count * 100) / 100
            raise ClusterError(
                f"the Ray cluster has {cluster_cpus:g} CPUs, but {models} models x {replicas} replica{plural} x "
                f"{cpus_per_replica:g} CPU (RAY_CPUS_PER_REPLICA) ask for {asked:g}: set RAY_CPUS_PER_REPLICA to at "
                f"most {most:g} (or leave it empty to fit), lower RAY_REPLICAS, or add CPUs")
        return cpus_per_replica
    share = math.floor(min(1.0, cluster_cpus / (count + 1)) * 20 + 1e-9) / 20
    if share < MIN_CPUS_PER_REPLICA:
        raise ClusterError(
            f"the Ray cluster has {cluster_cpus:g} CPUs, too few for {models} models x {replicas} replica{plural} "
            f"(RAY_REPLICAS) at {MIN_CPUS_PER_REPLICA:g} CPU each beside a retraining: lower RAY_REPLICAS or add CPUs")
    return share


def _waiting_reason(name: str) -> str:
    """What Serve says of the application ``name``'s deployments that are not running (resources asked and free)."""
    try:
        app = serve.status().applications.get(name)
    except Exception as exc:  # (the controller itself not answering)
        return f"Serve did not answer ({type(exc).__name__})"
    if app is None:
        return "Serve does not know it yet"
    messages = [d.message for d in app.deployments.values() if getattr(d, "message", "")] or [app.message or ""]
    text = " ".join(" ".join(m.split()) for m in messages if m)[:400]
    try:
        total, free = ray.cluster_resources(), ray.available_resources()
        room = ", ".join(f"{k} {free.get(k, 0):g} of {total[k]:g}" for k in ("CPU", "GPU") if total.get(k))
    except Exception:
        room = ""
    status = str(getattr(app.status, "value", app.status)).lower()
    return (text or f"still {status}") + (f" (free on the cluster: {room})" if room else "")


def run_with_deadline(app, name: str, timeout_s: float = DEPLOY_TIMEOUT_S):
    """``serve.run(app)`` (wait until every replica serves), given up after ``timeout_s`` with a
    :class:`ClusterError` saying why Serve is still waiting (a replica the cluster cannot place, say)."""
    outcome: dict = {}

    def run():
        try:
            outcome["handle"] = serve.run(app, name=name, route_prefix=None)
        except BaseException as exc:  # (re-raised in the caller's thread)
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"deploy-{name}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ClusterError(f"{name} did not come up within {timeout_s:g} s: {_waiting_reason(name)}")
    if "error" in outcome:
        exc = outcome["error"]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"{name} could not be deployed: {first[:400]}") from None
    return outcome["handle"]


# -- serving ------------------------------------------------------------------------------------------------------
@serve.deployment(max_ongoing_requests=64, graceful_shutdown_timeout_s=60)
class ModelServer:
    """One model, with its batching loop, behind Ray Serve (see the module docstring).

    ``user_config``: ``{"key": content key in the store, "version": a label}``."""

    def __init__(self, model: str, max_batch: int = 32, blas_threads: int = 1):
        self.model, self.max_batch = model, max_batch
        self.gen = None
        self.version = None
        self.cache = Path(tempfile.mkdtemp(prefix=f"ghostwriter-{model}-"))
        self.pool = ThreadPoolExecutor(max_batch + 4, thread_name_prefix=f"serve-{model}")
        self._loading = threading.Lock()
        self._limits = limit_blas_threads(blas_threads)  # (for this replica's process, from now on)

    def reconfigure(self, config: dict) -> None:
        """Serve the checkpoint version ``config`` names (from the store); the old one drains."""
        with self._loading:
            key = config["key"]
            folder = self.cache / key
            if not (folder / "weights.npz").exists():
                files = ray.get(store().get.remote(key))
                if files is None:
                    raise RuntimeError(f"checkpoint {key} is not in the cluster's store")
                partial_dir = Path(tempfile.mkdtemp(dir=self.cache))
                write_folder(files, partial_dir)
                os.replace(partial_dir, folder)
            gen = load_generator(self.model, folder)
            gen.ready(self.max_batch)
            old, self.gen, self.version = self.gen, gen, config.get("version", key)
            if old is not None:
                old.retire()

    async def call(self, method: str, args: tuple = (), kwargs: dict | None = None):
        """``generator.method(*args, **kwargs)`` in a worker thread of this replica."""
        gen = self.gen
        if method not in GENERATION_METHODS:
            raise ValueError(f"not a generation method: {method!r}")
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(getattr(gen, method), *args,
                                                                                   **(kwargs or {})))

    def info(self) -> dict:
        """What the replica serves: its model version and the checkpoint's metrics, which replica it is, and its
        process's niceness."""
        return {"version": self.version, "metrics": getattr(self.gen, "metrics", {}) or {},
                "replica": serve.get_replica_context().replica_id.unique_id, "pid": os.getpid(),
                "niceness": os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None}


def deployment_options(replicas: int, max_replicas: int, max_batch: int) -> dict:
    """Replicas, and autoscaling on queued requests when ``max_replicas`` is above ``replicas``: Ray Serve adds a
    replica when requests per replica stay above ``max_batch`` (a full batch, the rest queued) and removes one when
    they fall well below."""
    if max_replicas > replicas:
        return {"autoscaling_config": {"min_replicas": replicas, "initial_replicas": replicas,
                                       "max_replicas": max_replicas, "target_ongoing_requests": max(1, max_batch),
                                       "upscale_delay_s": 10, "downscale_delay_s": 120},
                "max_ongoing_requests": max(2 * max_batch, 8)}
    return {"num_replicas": replicas, "max_ongoing_requests": max(2 * max_batch, 8)}


def deploy(model: str, path: Path, version: str, *, replicas: int = 1, max_replicas: int = 1, max_batch: int = 32,
           blas_threads: int = 1, cpus_per_replica: float = 1.0, timeout_s: float = DEPLOY_TIMEOUT_S):
    """Deploy (or update in place) the application of ``model`` serving the checkpoint at ``path``; its handle.

    Calling it again with another checkpoint rolls the new version out to every replica (replaced one by one;
    see the module docstring). Replicas not serving within ``timeout_s`` raise :class:`ClusterError`."""
    key = publish(path)
    options = deployment_options(replicas, max_replicas, max_batch)
    app = ModelServer.options(name=f"{model}-server", user_config={"key": key, "version": version},
                              ray_actor_options={"num_cpus": cpus_per_replica}, **options
                              ).bind(model, max_batch, blas_threads)
    return run_with_deadline(app, app_name(model), timeout_s)


# -- training as a Ray task -----------------------------------------------------------------------------------------
@ray.remote(num_cpus=1, max_retries=0)
def _train_task(argv: list[str], corpus: dict[str, bytes], corpus_is_dir: bool, init_from: dict[str, bytes] | None,
                progress) -> dict[str, bytes]:
    """Run ``python -m generators train`` on the worker with the shipped files; progress lines go to ``progress``
    (a Ray queue); returns the trained checkpoint's files."""
    progress.put(json.dumps({"event": "started", "node": ray.get_runtime_context().get_node_id()[:8]}))
    with tempfile.TemporaryDirectory(prefix="ghostwriter-train-") as tmp:
        tmp = Path(tmp)
        corpus_path = write_folder(corpus, tmp / "corpus") if corpus_is_dir else tmp / "corpus.txt"
        if not corpus_is_dir:
            corpus_path.write_bytes(corpus[""])
        args = [*argv, "--corpus", str(corpus_path), "--out", str(tmp / "out"), "--progress", "json"]
        if init_from is not None:
            args += ["--init-from", str(write_folder(init_from, tmp / "init"))]
        child = subprocess.Popen([sys.executable, "-m", "generators", "train", *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=child_env())
        stderr = []
        reader = threading.Thread(target=lambda: stderr.extend(child.stderr), daemon=True)
        reader.start()
        for line in child.stdout:
            progress.put(line.rstrip("\n"))
        code = child.wait()
        reader.join(5)
        if code != 0 or not (tmp / "out" / "weights.npz").exists():
            raise RuntimeError(f"training on the cluster failed: {failure_reason(stderr, code)}")
        return read_folder(tmp / "out")


def train_remote(argv: list[str]) -> int:
    """``train MODEL --corpus C --out O [--init-from I] [trainer options]``: see the module docstring."""
    import argparse

    from ray.util.queue import Empty, Queue

    parser = argparse.ArgumentParser(prog="python -m generators.ray_serve train")
    parser.add_argument("model")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init-from", type=Path)
    parser.add_argument("--progress", default="json")
    args, rest = parser.parse_known_args(argv)
    ray.init(address=os.environ.get("RAY_ADDRESS") or "auto", namespace=NAMESPACE, log_to_driver=False)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    total, free = ray.cluster_resources().get("CPU", 0.0), ray.available_resources().get("CPU", 0.0)
    # A whole CPU when one is free; else what is free (the replicas fitted to a small cluster leave a part of one);
    # else a whole one, waited for (and said so).
    cpus = TRAIN_CPUS if free >= TRAIN_CPUS else round(free, 2) if free >= MIN_CPUS_PER_REPLICA else min(TRAIN_CPUS,
                                                                                                           total)
    corpus_is_dir = args.corpus.is_dir()
    corpus = read_folder(args.corpus) if corpus_is_dir else {"": args.corpus.read_bytes()}
    init_from = read_folder(args.init_from) if args.init_from else None
    progress = Queue(actor_options={"num_cpus": 0})
    task = _train_task.options(num_gpus=gpus, num_cpus=cpus).remote([args.model, *rest], corpus, corpus_is_dir,
                                                                      init_from, progress)
    signal.signal(signal.SIGTERM, lambda *_: (ray.cancel(task, force=True), sys.exit(143)))
    print(json.dumps({"event": "cluster", "gpus": gpus, "cpus": cpus}), flush=True)
    started, said_waiting, submitted = False, False, time.monotonic()
    while True:
        done, _ = ray.wait([task], timeout=0.2)
        while True:
            try:
                line = progress.get_nowait()
            except Empty:
                break
            started = True
            print(line, flush=True)
        if not started and not said_waiting and time.monotonic() - submitted > WAITING_AFTER_S:
            free = ray.available_resources().get("CPU", 0.0)
            print(json.dumps({"event": "waiting", "message": f"waiting for {cpus:g} CPU on the Ray cluster "
                              f"({free:g} of {total:g} free; the replicas hold the rest)"}), flush=True)
            said_waiting = True
        if done:
            break
    try:
        files = ray.get(task)
    except Exception as exc:  # the trainer's own last line, for the retrain report
        cause = getattr(exc, "cause", None) or exc
        print(f"error: {cause}", file=sys.stderr)
        return 1
    partial_dir = args.out.with_name(args.out.name + ".partial")
    write_folder(files, partial_dir)
    os.replace(partial_dir, args.out)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "train":
        print("usage: python -m generators.ray_serve train MODEL --corpus C --out O [options]", file=sys.stderr)
        sys.exit(2)
    sys.exit(train_remote(sys.argv[2:]))
