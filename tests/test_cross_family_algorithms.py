"""PPO and APPO across body families (real local Ray and MuJoCo).

Each trains a small iteration on HalfCheetah + Hopper through RLlib's own sampling
and losses (RLlib's connectors and learners build `MaskedDiagGaussian` from the
module's inputs). The helpers are shared with test_cross_family_distill.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from mtrl_ray import metrics
from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.algorithms.complete_checkpoints import learner_weights
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

TASKS = ("HalfCheetahSmallFoot-v0", "HopperSmallFoot-v0")


def finite_learner_results(result: dict) -> dict:
    learner = result["learners"]["default_policy"]
    per_task = learner[metrics.PER_TASK]
    assert set(per_task) == set(TASKS)
    for terms in per_task.values():
        assert all(math.isfinite(float(v)) for v in terms.values())
    return learner


def padded_dims_untouched(algo, start: dict) -> None:
    after = learner_weights(algo)
    # Hopper (task 1) has 3 action dims of the padded 6: no gradient on the rest.
    assert torch.equal(torch.as_tensor(after["actor.log_std"])[1, 3:],
                       torch.as_tensor(start["actor.log_std"])[1, 3:])  # fmt: skip
    assert not torch.equal(torch.as_tensor(after["actor.log_std"])[1, :3],
                           torch.as_tensor(start["actor.log_std"])[1, :3])  # fmt: skip


@pytest.mark.slow
def test_ppo_across_families(ray_module):
    config = (
        MultiTaskPPOConfig()
        .multi_task(TASKS, runners_per_task=1)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(train_batch_size_per_task=64, minibatch_size=32, num_epochs=2)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        start = learner_weights(algo)
        finite_learner_results(algo.train())
        padded_dims_untouched(algo, start)
    finally:
        algo.stop()


@pytest.mark.slow
def test_appo_across_families(ray_module):
    config = (
        MultiTaskAPPOConfig()
        .multi_task(TASKS, runners_per_task=1)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(train_batch_size_per_task=64, num_epochs=1, target_network_update_freq=2)
        .reporting(min_time_s_per_iteration=1)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        start = learner_weights(algo)
        for _ in range(30):  # asynchronous: until the learner has updated
            result = algo.train()
            if metrics.PER_TASK in result.get("learners", {}).get("default_policy", {}):
                break
        finite_learner_results(result)
        padded_dims_untouched(algo, start)
    finally:
        algo.stop()
