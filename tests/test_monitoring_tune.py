"""Two seeds of one Tune experiment at once: their Prometheus series stay apart.

The series are read from the node's metrics port, as Prometheus scrapes them.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from test_monitoring import check_conventions, scrape_until, total

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.envs.point_mass import HEAVY_POINT_MASS_ID, POINT_MASS_ID
from mtrl_ray.training import RunSettings, prepare, run

TASKS = [POINT_MASS_ID, HEAVY_POINT_MASS_ID]
EXPERIMENT = "prom-seeds"
#: One iteration per trial and task: 10 updates x t_max 5 x 2 envs.
STEPS_PER_TASK = 100


@pytest.fixture
def ray_metrics():
    """A local Ray exporting metrics every second (no dashboard: the agent serves them)."""
    import ray

    # A short temp dir: Ray's socket paths must fit in 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="mtrl-ray-")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp_dir,
        _system_config={"metrics_report_interval_ms": 1000},
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_two_seeds_of_one_experiment_export_apart(ray_metrics, tmp_path):
    config = (
        A2CConfig()
        .multi_task(TASKS)
        .training(updates_per_iteration=10)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        # 0.5 + 2 x 0.25 CPUs a trial: both seeds run at once on 2 CPUs.
        .resources(num_cpus_for_main_process=0.5)
    )
    settings = RunSettings(
        name=EXPERIMENT, storage_path=tmp_path, checkpoint_every=100, verbose=False
    )
    run(prepare(config, settings, seeds=[0, 1]))

    trials = ("seed0", "seed1")

    def present(samples: list) -> bool:
        return all(
            total(samples, "ray_mtrl_learner_update_seconds_count", experiment=EXPERIMENT, trial=t)
            for t in trials
        )

    samples = scrape_until(present)
    # Each seed's runners and Algorithm export under their own trial tag. The trial's
    # processes are gone by now, and a process's last export interval (1 s here) may
    # be lost as it exits: at most a trial's own counts, never the other's on top.
    for trial in trials:
        run_tags = {"experiment": EXPERIMENT, "trial": trial}
        for task in TASKS:
            steps = total(samples, "ray_mtrl_env_steps_total", task=task, **run_tags)
            assert 0 < steps <= STEPS_PER_TASK
        updates = total(samples, "ray_mtrl_learner_update_seconds_count", **run_tags)
        assert 0 < updates <= 10
    assert {s.labels["trial"] for s in samples} == set(trials)
    assert {s.labels["experiment"] for s in samples} == {EXPERIMENT}
    check_conventions(samples)
