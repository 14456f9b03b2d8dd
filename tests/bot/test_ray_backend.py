"""GENERATION_BACKEND=ray: a local Ray cluster started here, the shipped models on Ray Serve replicas, the bot in
front of them through the stand-in Discord; roll-out, rollback, a replica killed mid-crowd, retraining as a Ray
task, and an unreachable cluster at start-up."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

from bot.app import load_generator  # noqa: E402
from bot.commands import Commands  # noqa: E402
from bot.jobs import JobQueue  # noqa: E402
from bot.ray_backend import RayBackend, WorkerLost  # noqa: E402
from bot.settings import Settings  # noqa: E402
from generators.errors import GeneratorError  # noqa: E402
from generators.paths import shipped_checkpoints  # noqa: E402

from .test_e2e import opt, start_bot, stop_bot  # noqa: E402
from .test_results import text_of  # noqa: E402

SETTINGS = Settings(generation_backend="ray", ray_replicas=2, max_batch=8)  # (CPUs per replica fitted)


@pytest.fixture(scope="module")
def backend():
    from generators.ray_serve import local_cluster_env

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local test cluster, on loopback only
    local_cluster_env()  # (as RayBackend.connect does when it starts one)
    ray.init(address="local", num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, namespace="ghostwriter")
    yield RayBackend.connect(SETTINGS)
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="module")
def remote(backend):
    gens = {m: backend.load(m, shipped_checkpoints() / m) for m in ("lyrics", "music")}
    for gen in gens.values():
        gen.roll_out()
    return gens


def _replica_versions(gen, calls: int = 24) -> set:
    return {(i["replica"], i["version"]) for i in (gen.info() for _ in range(calls))}


def test_the_same_seed_gives_the_same_output_as_in_process(remote):
    local = {m: load_generator(m, shipped_checkpoints() / m) for m in ("lyrics", "music")}
    song = dict(lines=8, rhyme="AABB", rng_seed=11)
    assert remote["lyrics"].song("Yeah, oho", **song).text == local["lyrics"].song("Yeah, oho", **song).text
    assert (remote["lyrics"].generate("The night", length=120, rng_seed=3).text
            == local["lyrics"].generate("The night", length=120, rng_seed=3).text)
    assert remote["music"].generate(80, rng_seed=5).notes == local["music"].generate(80, rng_seed=5).notes
    with pytest.raises(GeneratorError, match="rhyme"):  # the library's own error, as if raised here
        remote["lyrics"].song("Yeah", rhyme="XYZ1")
    assert {v for _, v in _replica_versions(remote["lyrics"])} == {"lyrics"}


def test_the_bot_through_ray_answers_as_in_process(monkeypatch, remote, tmp_path):
    """/lyrics and /compose through the stand-in Discord: the same replies from Ray replicas as in-process."""
    from generators.music.midi_io import midi_bytes_to_notes

    def run(generators) -> list[dict]:
        commands = Commands(generators, JobQueue(workers=2 + 8, queue_depth=64, user_max_jobs=8, user_burst=0),
                            max_batch=8)

        async def scenario():
            fake, bot, runner = await start_bot(monkeypatch, commands)
            try:
                tokens = [await fake.interact("lyrics", [opt("seed", "Yeah, oho", "str"), opt("rng_seed", 4, "int")]),
                          await fake.interact("compose", [opt("notes", 120, "int"), opt("rng_seed", 4, "int")])]
                return [await fake.reply(t, timeout=120) for t in tokens]
            finally:
                await stop_bot(fake, bot, runner)
                commands.jobs.shutdown()

        return asyncio.run(scenario())

    on_ray = run(dict(remote))
    in_process = run({m: load_generator(m, shipped_checkpoints() / m) for m in ("lyrics", "music")})
    assert text_of(on_ray[0]) == text_of(in_process[0]) and "\nYeah, oho" in on_ray[0]["content"]
    midi = [next(f["data"] for f in r["files"] if f["filename"].endswith(".mid")) for r in (on_ray[1], in_process[1])]
    assert midi_bytes_to_notes(midi[0]) == midi_bytes_to_notes(midi[1]) and len(midi_bytes_to_notes(midi[0])) >= 120


def test_a_new_version_rolls_out_to_every_replica_and_back(backend, remote, tmp_path):
    version = tmp_path / "v20260101-000000"
    shutil.copytree(shipped_checkpoints() / "lyrics", version)
    metrics = json.loads((version / "metrics.json").read_text())
    (version / "metrics.json").write_text(json.dumps({**metrics, "note": "retrained"}))
    commands = Commands({"lyrics": remote["lyrics"]}, JobQueue(2, 8, 2, 0))
    try:
        commands.swap("lyrics", backend.load("lyrics", version))
        seen = _replica_versions(commands.generator("lyrics"))
        assert {v for _, v in seen} == {"v20260101-000000"} and len({r for r, _ in seen}) == 2
        assert commands.generator("lyrics").song("Yeah", lines=4, rng_seed=2).lines[0].startswith("Yeah")
        commands.swap("lyrics", backend.load("lyrics", shipped_checkpoints() / "lyrics"))  # rollback
        assert {v for _, v in _replica_versions(commands.generator("lyrics"))} == {"lyrics"}
    finally:
        commands.jobs.shutdown()


def test_a_replica_killed_mid_crowd_loses_no_request(remote):
    """Requests in flight on a killed replica are sent again; every request gets its song or WorkerLost."""
    from concurrent.futures import ThreadPoolExecutor

    gen = remote["lyrics"]
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(gen.song, f"Line {i}", lines=8, rng_seed=i) for i in range(12)]
        time.sleep(1.0)
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if "SERVE_REPLICA" in a["name"] and "lyrics" in a["name"]]
        assert names
        ray.kill(ray.get_actor(names[0], namespace="serve"), no_restart=True)
        outcomes = []
        for future in futures:
            try:
                outcomes.append(len(future.result(timeout=300).lines))
            except WorkerLost as exc:
                outcomes.append(str(exc))
    assert len(outcomes) == 12 and all(o == 8 or "try again" in str(o) for o in outcomes)
    assert sum(o == 8 for o in outcomes) >= 10
    assert len(gen.song("After", lines=4, rng_seed=1).lines) == 4  # later requests are served


def test_retraining_runs_as_a_ray_task_and_rolls_out(backend, remote, tmp_path):
    from bot.retrain import RetrainManager

    corpus = tmp_path / "lyrics.txt"
    corpus.write_text(("Hold me close and hold me near\nsing it loud so all can hear\n\n" * 40))
    served = {}
    commands = Commands({"lyrics": remote["lyrics"]}, JobQueue(2, 8, 2, 0))

    def swap(model, gen):
        commands.swap(model, gen)
        served[model] = gen

    manager = RetrainManager(tmp_path / "data", {"lyrics": corpus}, shipped_checkpoints(), backend.load, swap,
                             trainer=backend.trainer)
    progress = []

    async def on_progress(event):
        progress.append(event)

    try:
        outcome = asyncio.run(manager.retrain("lyrics", user="admin", epochs=1, on_progress=on_progress))
        assert outcome.generator is not None, outcome.message
        assert progress and progress[-1]["epoch"] == 1
        version = manager.versions("lyrics")[-1]
        assert (tmp_path / "data" / "checkpoints" / "lyrics" / version / "weights.npz").exists()
        if not outcome.promoted:
            asyncio.run(manager.promote("lyrics"))
        assert {v for _, v in _replica_versions(served["lyrics"])} == {version}
        assert asyncio.run(manager.rollback("lyrics")).endswith("the shipped checkpoint.")
        assert {v for _, v in _replica_versions(commands.generator("lyrics"))} == {"lyrics"}
    finally:
        commands.jobs.shutdown()


@pytest.mark.parametrize("fallback", ["", "local"])
def test_an_unreachable_cluster_at_start_up(tmp_path, fallback):
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "RAY_ADDRESS")}
    env.update(GENERATION_BACKEND="ray", RAY_ADDRESS="127.0.0.1:9", GENERATION_FALLBACK=fallback,
               DATA_DIR=str(tmp_path / "data"), BOT_OUTPUT_DIR=str(tmp_path / "out"))
    out = subprocess.run([sys.executable, "-m", "bot", "--console"], input="/lyrics seed:Yeah lines:4\n",
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    errors = [line for line in out.stderr.splitlines() if "127.0.0.1:9" in line]
    assert len(errors) == 1 and "unreachable" in errors[0], out.stderr
    if fallback:
        assert out.returncode == 0 and "Yeah" in out.stdout and "WARNING" in errors[0]
    else:
        assert out.returncode == 1 and errors[0].startswith("error:") and "GENERATION_FALLBACK=local" in errors[0]


def test_replicas_of_a_local_cluster_run_at_the_bots_priority(remote):
    """Ray starts workers at niceness 15; beside the bot they would lose the cores to its audio renders (10)."""
    infos = [remote["music"].info() for _ in range(8)]
    assert {i["niceness"] for i in infos} == {os.getpriority(os.PRIO_PROCESS, 0)}


def test_connect_starts_a_local_cluster_with_workers_at_the_bots_priority(monkeypatch):
    seen = {}
    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)

    def init(**kwargs):
        seen["niceness"] = os.environ.get("RAY_worker_niceness")
        raise ConnectionError("stop here")

    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(Exception, match="stop here"):
        RayBackend.connect(Settings(generation_backend="ray"))
    assert seen == {"niceness": "0"}


def test_replicas_are_fitted_to_the_cluster_or_refused_in_one_line():
    from generators.errors import ClusterError
    from generators.ray_serve import fit_replicas

    assert fit_replicas(2, 3, 1) == 0.5  # 1.5 CPUs for the replicas, 0.5 left for a retraining
    assert fit_replicas(4, 3, 1) == 1.0 and fit_replicas(64, 3, 2) == 1.0
    assert fit_replicas(2, 3, 2) == 0.25
    assert fit_replicas(2, 3, 1, 0.5) == 0.5 and fit_replicas(2, 3, 1, 0.0) == 0.0
    with pytest.raises(ClusterError, match=r"has 2 CPUs, but 3 models x 1 replica x 1 CPU .* ask for 3: set "
                                           r"RAY_CPUS_PER_REPLICA to at most 0.66"):
        fit_replicas(2, 3, 1, 1.0)
    with pytest.raises(ClusterError, match="too few for 3 models x 20 replicas"):
        fit_replicas(2, 3, 20)
    with pytest.raises(ClusterError, match="has 0 CPUs"):
        fit_replicas(0, 3, 1)


@pytest.mark.parametrize("variables", [{"RAY_REPLICAS": "20"}, {"RAY_CPUS_PER_REPLICA": "1.5"}])
def test_a_cluster_too_small_for_the_replicas_is_refused_at_once(backend, tmp_path, variables):
    """On the test's cluster (the machine's own CPUs): one line naming the resources and the setting, exit 1, fast."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env.update(GENERATION_BACKEND="ray", RAY_ADDRESS=os.environ["RAY_ADDRESS"], DATA_DIR=str(tmp_path / "data"),
               BOT_OUTPUT_DIR=str(tmp_path / "out"), **variables)
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "bot", "--console"], input="/lyrics seed:Yeah lines:4\n",
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 1 and len(errors) == 1, out.stderr
    assert "CPUs" in errors[0] and next(iter(variables)) in errors[0]
    assert time.monotonic() - start < 30
    assert "INFO" not in out.stderr  # Ray's own chatter stays out of the console


def test_a_deployment_that_cannot_be_placed_is_given_up_with_the_reason(backend):
    from ray import serve

    from generators.errors import ClusterError
    from generators.ray_serve import run_with_deadline

    @serve.deployment(ray_actor_options={"num_cpus": 64})
    class TooBig:
        def __call__(self):
            return "never"

    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"ghostwriter-too-big did not come up within 3 s: .*CPU"):
        run_with_deadline(TooBig.bind(), "ghostwriter-too-big", timeout_s=3)
    assert time.monotonic() - start < 20
    serve.delete("ghostwriter-too-big")
