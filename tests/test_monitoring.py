"""What a user sees in the Ray dashboard: runners named by task, per-task Prometheus metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import urllib.request

import pytest

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

# Every test here starts Ray.
pytestmark = pytest.mark.slow

TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigTorso-v0"]


@pytest.fixture
def ray_with_dashboard():
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


def get(url: str):
    headers = {}
    token_path = os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_MODE") != "disabled" and os.path.exists(token_path):
        headers["Authorization"] = f"Bearer {open(token_path).read().strip()}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.read().decode()


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
        algo.train()
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

        # Prometheus: per-task metrics with the task as a tag, on the node's metrics port.
        port = ray.nodes()[0]["MetricsExportPort"]
        wanted = {
            f'ray_mtrl_ray_{name}.*task="{task}"'
            for name in ("episode_return", "env_steps_total", "env_steps_per_second")
            for task in TASKS
        }
        if make_config is _a2c:  # timed by the project's A2C learner
            wanted.add("ray_mtrl_ray_learner_update_seconds")
        steps_pattern = f'ray_mtrl_ray_env_steps_total{{[^}}]*task="{TASKS[0]}"[^}}]*}} (\\S+)'
        deadline, missing, steps = time.time() + 60, wanted, None
        # Runners export on a timer: a scrape can show the counter before its last
        # increments arrive, so wait (up to the deadline) for the final count too.
        while (missing or float(steps.group(1)) < steps_per_task) and time.time() < deadline:
            text = get(f"http://127.0.0.1:{port}/metrics")
            missing = {p for p in wanted if not re.search(p, text)}
            steps = re.search(steps_pattern, text)
            time.sleep(1)
        assert not missing, missing
        # One iteration of this task's runner only.
        assert float(steps.group(1)) == steps_per_task
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

        port = ray.nodes()[0]["MetricsExportPort"]
        wanted = {"ray_mtrl_ray_teacher_query_seconds", "ray_mtrl_ray_teacher_query_batch_size"}
        deadline, missing = time.time() + 60, wanted
        while missing and time.time() < deadline:
            text = get(f"http://127.0.0.1:{port}/metrics")
            missing = {p for p in wanted if not re.search(p, text)}
            time.sleep(1)
        assert not missing, missing
        rows = re.search(r"ray_mtrl_ray_teacher_query_batch_size{[^}]*} (\S+)", text)
        # Each query: 2 tasks x 2 envs x (t_max 5 + 1 bootstrap row).
        assert float(rows.group(1)) == 24.0
    finally:
        algo.stop()
