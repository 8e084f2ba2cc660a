"""What a user sees in the Ray dashboard: runners named by task, per-task Prometheus metrics
(outside Tune, and of two seeds of one Tune experiment at once).

The metrics are read as Prometheus scrapes them: from the node's metrics port, parsed by
`prometheus_client`'s parser.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable

import pytest

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.monitoring import LATENCY_BOUNDARIES, RETURN_BOUNDARIES

# Every test here starts Ray.
pytestmark = pytest.mark.slow

TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigTorso-v0"]


@pytest.fixture(scope="module")
def ray_with_dashboard():
    """One Ray with its dashboard for the module's tests (a start costs ~10-20 s): each
    test's series carry its own run's labels, and `no_actor_left` keeps the Actors
    table of one test free of the last one's."""
    import ray

    # A short temp dir: Ray's socket paths must fit in 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="mtrl-ray-")
    context = ray.init(
        num_cpus=2,
        include_dashboard=True,
        dashboard_port=0,
        _temp_dir=temp_dir,
        _system_config={"metrics_report_interval_ms": 1000},
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield context
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_actor_left(ray_with_dashboard):
    """Waits until the last test's runners and teacher pool are dead in the Actors table."""
    base = "http://" + ray_with_dashboard.dashboard_url
    deadline = time.time() + 60
    while True:
        actors = json.loads(get(f"{base}/api/v0/actors?detail=1&limit=100"))
        alive = [
            a["class_name"]
            for a in actors["data"]["result"]["result"]
            if a["class_name"] in ("PinnedEnvRunner", "TeacherPool") and a["state"] == "ALIVE"
        ]
        if not alive:
            return
        assert time.time() < deadline, f"actors of an earlier test still alive: {alive}"
        time.sleep(1)


def get(url: str):
    headers = {}
    token_path = os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_MODE") != "disabled" and os.path.exists(token_path):
        headers["Authorization"] = f"Bearer {open(token_path).read().strip()}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.read().decode()


def scrape() -> list:
    """The project's samples (`ray_mtrl_*`) on this node's metrics port."""
    import ray
    from prometheus_client.parser import text_string_to_metric_families

    port = ray.nodes()[0]["MetricsExportPort"]
    families = text_string_to_metric_families(get(f"http://127.0.0.1:{port}/metrics"))
    return [s for f in families for s in f.samples if s.name.startswith("ray_mtrl_")]


def total(samples: list, name: str, **labels: str) -> float | None:
    """The sum of `name`'s samples with `labels` (over workers); None if there are none."""
    values = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(values) if values else None


def scrape_until(done: Callable[[list], bool], seconds: float = 60) -> list:
    """Scrapes until `done(samples)`: workers export on a timer, so values arrive late."""
    deadline = time.time() + seconds
    samples = scrape()
    while not done(samples) and time.time() < deadline:
        time.sleep(1)
        samples = scrape()
    return samples


def bucket_bounds(samples: list, name: str, **labels: str) -> set[float]:
    """The `le` bounds of histogram `name`'s buckets with `labels`."""
    return {
        float(s.labels["le"])
        for s in samples
        if s.name == f"{name}_bucket" and all(s.labels.get(k) == v for k, v in labels.items())
    }


def check_conventions(samples: list) -> None:
    """Every series tagged with the run; no doubled prefix, no rate gauge."""
    assert samples
    for s in samples:
        assert s.labels.get("experiment") and s.labels.get("trial"), s
        assert not s.name.startswith("ray_mtrl_ray_"), s.name
        assert "per_second" not in s.name, s.name


#: One iteration per trial and task of the Tune test: 10 updates x t_max 5 x 2 envs.
TUNE_STEPS_PER_TASK = 100


def test_two_seeds_of_one_tune_experiment_export_apart(ray_with_dashboard, tmp_path):
    """Two seeds of one Tune experiment at once: their series stay apart. (First in the
    module: on a Ray no other run has exported to, every series must be one of them.)"""
    from mtrl_ray.envs.point_mass import HEAVY_POINT_MASS_ID, POINT_MASS_ID
    from mtrl_ray.training import RunSettings, prepare, run

    tasks, experiment = [POINT_MASS_ID, HEAVY_POINT_MASS_ID], "prom-seeds"
    trials = ("seed0", "seed1")
    config = (
        A2CConfig()
        .multi_task(tasks)
        .training(updates_per_iteration=10)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        # 0.5 + 2 x 0.25 CPUs a trial: both seeds run at once on 2 CPUs.
        .resources(num_cpus_for_main_process=0.5)
    )
    settings = RunSettings(
        name=experiment, storage_path=tmp_path, checkpoint_every=100, verbose=False
    )
    run(prepare(config, settings, seeds=[0, 1]))

    def present(samples: list) -> bool:
        return all(
            total(samples, "ray_mtrl_learner_update_seconds_count", experiment=experiment, trial=t)
            for t in trials
        )

    samples = scrape_until(present)
    # Each seed's runners and Algorithm export under their own trial tag. The trial's
    # processes are gone by now, and a process's last export interval (1 s here) may
    # be lost as it exits: at most a trial's own counts, never the other's on top.
    for trial in trials:
        run_tags = {"experiment": experiment, "trial": trial}
        for task in tasks:
            steps = total(samples, "ray_mtrl_env_steps_total", task=task, **run_tags)
            assert 0 < steps <= TUNE_STEPS_PER_TASK
        updates = total(samples, "ray_mtrl_learner_update_seconds_count", **run_tags)
        assert 0 < updates <= 10
    assert {s.labels["trial"] for s in samples} == set(trials)
    assert {s.labels["experiment"] for s in samples} == {experiment}
    check_conventions(samples)


def _a2c():
    # 10 updates x t_max 5 x 2 envs per task and iteration.
    return A2CConfig().multi_task(TASKS).training(updates_per_iteration=10), 100


def _ppo():
    # RLlib's own sampling path (no A2C fragments): 64 env steps per task and iteration.
    config = MultiTaskPPOConfig().multi_task(TASKS)
    return config.training(train_batch_size_per_task=64, minibatch_size=64, num_epochs=1), 64


@pytest.mark.parametrize("make_config", [_a2c, _ppo], ids=["a2c", "ppo"])
def test_dashboard_shows_runner_tasks_and_per_task_metrics(ray_with_dashboard, make_config):
    import ray

    config, steps_per_task = make_config()
    config = (
        # 20-step episodes, so that episodes end (and returns are reported) quickly.
        config.environment(
            env_config={"tasks": TASKS, "env_kwargs": {"max_episode_steps": 20}}
        ).env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.5)
    )
    algo = config.build_algo()
    try:
        result = algo.train()
        # The dashboard's Actors table: each runner's repr names its task.
        base = "http://" + ray_with_dashboard.dashboard_url
        actors = json.loads(get(f"{base}/api/v0/actors?detail=1&limit=100"))
        reprs = {
            a["repr_name"]
            for a in actors["data"]["result"]["result"]
            if a["class_name"] == "PinnedEnvRunner" and a["state"] == "ALIVE"
        }
        assert reprs == {
            f"EnvRunner(task={TASKS[0]}, worker=1)",
            f"EnvRunner(task={TASKS[1]}, worker=2)",
        }

        # Prometheus: outside Tune, the run is tagged with the algorithm and the job.
        run = {
            "experiment": "A2C" if make_config is _a2c else "MultiTaskPPO",
            "trial": f"job-{ray.get_runtime_context().get_job_id()}",
        }
        updates = 10 if make_config is _a2c else 1
        per_task = result["env_runners"]["per_task"]
        episodes = {t: per_task[t]["num_episodes_lifetime"] for t in TASKS}
        assert all(episodes.values())  # 20-step episodes end within the iteration

        def complete(samples: list) -> bool:
            return all(
                total(samples, "ray_mtrl_env_steps_total", task=t, **run) == steps_per_task
                and total(samples, "ray_mtrl_episode_return_count", task=t, **run) == episodes[t]
                for t in TASKS
            ) and total(samples, "ray_mtrl_learner_update_seconds_count", **run) == updates

        samples = scrape_until(complete)
        for task in TASKS:
            # One iteration of this task's runners; each training episode's return once.
            assert total(samples, "ray_mtrl_env_steps_total", task=task, **run) == steps_per_task
            count = total(samples, "ray_mtrl_episode_return_count", task=task, **run)
            assert count == episodes[task]
            inf = total(samples, "ray_mtrl_episode_return_bucket", task=task, le="+Inf", **run)
            assert inf == count
            bounds = bucket_bounds(samples, "ray_mtrl_episode_return", task=task, **run)
            assert bounds == {*RETURN_BOUNDARIES, float("inf")}
        # Each learner update observed once, in the learner: A2C's iteration is 10
        # updates, PPO's one (its epochs of minibatches).
        assert total(samples, "ray_mtrl_learner_update_seconds_count", **run) == updates
        bounds = bucket_bounds(samples, "ray_mtrl_learner_update_seconds", **run)
        assert bounds == {*LATENCY_BOUNDARIES, float("inf")}
        check_conventions(samples)
    finally:
        algo.stop()


def test_dashboard_shows_the_teacher_pool_and_its_query_metrics(ray_with_dashboard):
    """Distillation: the TeacherPool is a named actor listing its tasks; queries are metered."""
    from pathlib import Path

    import ray

    from mtrl_ray.algorithms.distill import DistillConfig

    teachers = Path(__file__).resolve().parents[1] / "results" / "teachers"
    config = (
        DistillConfig()
        .multi_task(TASKS)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=5)
        .distillation(teachers=teachers, teacher_pool_num_cpus=0.25)
    )
    algo = config.build_algo()
    try:
        algo.train()
        base = "http://" + ray_with_dashboard.dashboard_url
        actors = json.loads(get(f"{base}/api/v0/actors?detail=1&limit=100"))
        pools = [
            a
            for a in actors["data"]["result"]["result"]
            if a["class_name"] == "TeacherPool" and a["state"] == "ALIVE"
        ]
        assert len(pools) == 1
        assert pools[0]["name"] == config.teacher_pool_name
        assert pools[0]["name"].startswith("TeacherPool-")
        assert pools[0]["repr_name"] == f"TeacherPool(tasks={TASKS})"

        run = {"experiment": "Distill", "trial": f"job-{ray.get_runtime_context().get_job_id()}"}
        # One query per update: 5 in the iteration.
        samples = scrape_until(
            lambda s: (
                total(s, "ray_mtrl_teacher_query_seconds_count", **run) == 5
                and total(s, "ray_mtrl_teacher_query_rows_total", **run) is not None
            )
        )
        assert total(samples, "ray_mtrl_teacher_query_seconds_count", **run) == 5
        bounds = bucket_bounds(samples, "ray_mtrl_teacher_query_seconds", **run)
        assert bounds == {*LATENCY_BOUNDARIES, float("inf")}
        # Each query: 2 tasks x 2 envs x (t_max 5 + 1 bootstrap row).
        assert total(samples, "ray_mtrl_teacher_query_rows_total", **run) == 5 * 24
        check_conventions(samples)
    finally:
        algo.stop()
