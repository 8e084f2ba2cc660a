"""Distillation across body families: the TeacherPool and teacher rollouts (real Ray, MuJoCo).

A cross-family A2C checkpoint's heads teach a HalfCheetah + Hopper student: the pool
answers each task's teacher on its own observation dims, padded to the student's
action size, runners act with their teacher in the student's layout (p_t = 0.5), and
the KL runs over each task's own action dims.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cross_family_algorithms import TASKS, finite_learner_results, padded_dims_untouched

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.complete_checkpoints import learner_weights
from mtrl_ray.algorithms.distill import DistillConfig
from mtrl_ray.checkpoints import read_checkpoint


@pytest.fixture(scope="module")
def teachers(ray_module, tmp_path_factory) -> Path:
    """A cross-family A2C checkpoint (untrained) whose heads serve as teachers."""
    algo = (
        A2CConfig()
        .multi_task(TASKS)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .build_algo()
    )
    try:
        path = tmp_path_factory.mktemp("teachers") / "checkpoint"
        algo.save_to_path(str(path))
    finally:
        algo.stop()
    return path


@pytest.mark.slow
def test_distillation_across_families(ray_module, teachers):
    """Student rollouts and teacher rollouts (p_t = 0.5), KL on the own dims only."""
    config = (
        DistillConfig()
        .multi_task(TASKS)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=10)
        .distillation(teachers={t: str(teachers) for t in TASKS}, teacher_rollout_prob=0.5)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        start = learner_weights(algo)
        learner = finite_learner_results(algo.train())
        assert float(learner["kl"]) >= 0.0
        padded_dims_untouched(algo, start)
    finally:
        algo.stop()
    assert read_checkpoint(teachers).task_sizes[TASKS[1]] == (11, 3)
