"""``GENERATION_BACKEND=ray``: the bot's models served by Ray Serve replicas (see :mod:`generators.ray_serve`).

The bot stays thin: each model is a :class:`RemoteGenerator`, which has the generator methods the command layer
calls (``generate``, ``song``, ``continue_song``, ``continue_piece``) and forwards them through the deployment's
handle from the bot's worker threads. A request whose replica dies under it is sent once more (another replica, or
the one Ray Serve starts in its place); a second loss is answered with :class:`WorkerLost`. Serving a checkpoint
(at start-up, after ``/retrain``, on promote or rollback) rolls it out to every replica of the model's application.

Ray itself is imported only when the Ray backend connects: with the default backend nothing of Ray is loaded.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

from generators.errors import ClusterError

from .commands.core import MODELS
from .jobs import Busy

log = logging.getLogger("bot.ray")

CALL_TIMEOUT_S = 600.0
CONNECT_TIMEOUT_S = 5.0
RAY_LOGGERS = ("ray", "ray.serve", "ray.data", "ray.tune", "ray.train")
QUIET_LOGGERS = ("ray._private.authentication.authentication_token_setup",)  # (the token-auth notice)


class BackendUnavailable(Exception):
    """The Ray cluster cannot be reached or used; the message is one line for the operator."""


class WorkerLost(Busy):
    """A generation worker died under a request twice in a row; the message is for the user."""


def _reachable(address: str) -> str | None:
    """Why ``host:port`` (or ``ray://host:port``) does not answer a TCP connection, or None."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return f"RAY_ADDRESS must be auto, host:port or ray://host:port, got {address!r}"
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"the Ray cluster at {address} is unreachable ({exc.strerror or exc})"


class RayBackend:
    """A connection to a Ray cluster and the bot's model applications on it."""

    def __init__(self, settings, cpus_per_replica: float = 1.0):
        self.settings, self.cpus_per_replica = settings, cpus_per_replica

    @classmethod
    def connect(cls, settings) -> "RayBackend":
        """Join the cluster at ``RAY_ADDRESS`` (empty: start a local Ray on this machine) and start Serve; raises
        :class:`BackendUnavailable` with one line when that cannot be done."""
        try:
            import importlib

            import ray
            from ray import serve

            ray_serve = importlib.import_module("generators.ray_serve")  # the deployments' code, importable here
        except ImportError as exc:
            raise BackendUnavailable(f"GENERATION_BACKEND=ray needs the ray extra (pip install \".[ray]\"): {exc}") from None
        address = settings.ray_address
        if address and address != "auto":
            problem = _reachable(address)
            if problem:
                raise BackendUnavailable(problem)
        for name in RAY_LOGGERS:  # Ray's own INFO lines (connecting, "Application ... is ready") stay out of the console
            logging.getLogger(name).setLevel(logging.WARNING)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            if not ray.is_initialized():
                if not address:
                    ray_serve.local_cluster_env()
                ray.init(address=address or None, namespace=ray_serve.NAMESPACE, log_to_driver=False,
                         include_dashboard=False if not address else None, logging_level=logging.WARNING)
            serve.start(proxy_location="Disabled", logging_config={"log_level": "WARNING"})
            for name in RAY_LOGGERS:  # (Serve sets its logger's level as it starts)
                logging.getLogger(name).setLevel(logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BackendUnavailable(f"could not join the Ray cluster at {address or 'a local instance'}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        # The retrain client (python -m generators.ray_serve train) joins the same cluster.
        os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        try:
            share = ray_serve.fit_replicas(cpus, len(MODELS), settings.ray_replicas, settings.ray_cpus_per_replica)
        except ClusterError as exc:
            raise BackendUnavailable(str(exc)) from None
        log.warning("generation on Ray at %s (%s): %d models x %d replica%s at %g CPU each%s",
                    os.environ["RAY_ADDRESS"],
                    ", ".join(f"{k} {v:g}" for k, v in sorted(ray.cluster_resources().items()) if k in ("CPU", "GPU")),
                    len(MODELS), settings.ray_replicas, "s" if settings.ray_replicas != 1 else "", share,
                    " (fitted to the cluster; RAY_CPUS_PER_REPLICA sets it)" if settings.ray_cpus_per_replica is None
                    else "")
        return cls(settings, share)

    def load(self, model: str, path: Path) -> "RemoteGenerator":
        """A model version to serve: checked here (read into NumPy, as each replica will), rolled out when served."""
        from generators.serving import generator_class

        checked = generator_class(model).load(path)  # a checkpoint that does not load fails here, not in a replica
        return RemoteGenerator(self, model, Path(path), checked.metrics, getattr(checked, "unit", "token"))

    @property
    def trainer(self) -> list[str]:
        """The retrain child: training as a Ray task (see :func:`generators.ray_serve.train_remote`)."""
        return [sys.executable, "-m", "generators.ray_serve", "train"]


class RemoteGenerator:
    """A model served by its Ray Serve application, called like a generator from the bot's worker threads."""

    def __init__(self, backend: RayBackend, model: str, path: Path, metrics: dict, unit: str = "token"):
        self.backend, self.kind, self.path, self.metrics = backend, model, path, metrics
        self.unit = unit
        self.version = path.name
        self.handle = None

    def roll_out(self) -> None:
        """Serve this version on every replica of the model's application (blocking until they do); once."""
        from generators.ray_serve import deploy

        if self.handle is not None:
            return
        s = self.backend.settings
        try:
            self.handle = deploy(self.kind, self.path, self.version, replicas=s.ray_replicas,
                                 max_replicas=max(s.ray_replicas, s.ray_max_replicas), max_batch=s.max_batch or 1,
                                 blas_threads=s.blas_threads, cpus_per_replica=self.backend.cpus_per_replica)
        except ClusterError as exc:
            raise BackendUnavailable(f"{exc} (RAY_CPUS_PER_REPLICA, RAY_REPLICAS)") from None
        log.info("%s: %s rolled out", self.kind, self.version)

    def generate(self, *args, **kwargs):
        return self._call("generate", args, kwargs)

    def song(self, *args, **kwargs):
        return self._call("song", args, kwargs)

    def continue_song(self, *args, **kwargs):
        return self._call("continue_song", args, kwargs)

    def continue_piece(self, *args, **kwargs):
        return self._call("continue_piece", args, kwargs)

    def ready(self, max_batch: int = 0, exact: bool = False) -> None:
        """Serve (see :class:`generators.protocol.Generator`): rolled out to the replicas, which batch."""
        self.roll_out()

    def retire(self) -> None:
        """Nothing to drain here: a roll-out of another version replaces the replicas."""

    def info(self) -> dict:
        return self.handle.info.remote().result(timeout_s=CALL_TIMEOUT_S)

    def _call(self, method: str, args: tuple, kwargs: dict):
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

        if self.handle is None:
            raise RuntimeError(f"{self.kind} {self.version} is not rolled out")
        for attempt in (1, 2):
            try:
                return self.handle.call.remote(method, args, kwargs).result(timeout_s=CALL_TIMEOUT_S)
            except RayTaskError as exc:  # the generator's own error (bad input, say): as if raised here
                if isinstance(exc.cause, Exception) and not isinstance(exc.cause, RayActorError):
                    raise exc.cause from None
                raise
            except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                if attempt == 2:
                    log.error("%s.%s lost its replica twice: %s", self.kind, method, exc)
                    raise WorkerLost("The generation worker stopped while writing this; please try again.") from None
                log.warning("%s.%s: replica lost (%s); sending it again", self.kind, method, type(exc).__name__)
