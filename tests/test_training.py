"""End to end on a real local Ray with real MuJoCo: pinning, metrics, faults, learning."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID

from mtrl_ray import metrics
from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.envs import VARIANTS
from mtrl_ray.envs.point_mass import POINT_MASS_ID

pytestmark = pytest.mark.slow  # every test here starts Ray

TWO_TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigTorso-v0"]


def small_config(tasks=TWO_TASKS, **training) -> A2CConfig:
    return (
        A2CConfig()
        .multi_task(tasks, runners_per_task=1)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=4, **training)
        .fault_tolerance(restart_failed_env_runners=True)
        .debugging(seed=0)
    )


def learner_weights(algo) -> dict[str, torch.Tensor]:
    """The central learner's module state (not a runner's copy)."""
    state = algo.learner_group.get_state(components="learner/rl_module")
    module_state = state["learner"]["rl_module"][DEFAULT_MODULE_ID]
    return {k: torch.as_tensor(v).clone() for k, v in module_state.items()}


def runner_view(runner):
    """What a runner reports from inside its own process."""
    sub_env = runner.env.unwrapped.envs[0].unwrapped
    variant = VARIANTS[runner.task_name]
    geom = sub_env.model.geom(variant.geoms[0])
    return runner.worker_index, runner.task_name, runner.task_id, float(geom.size[0]), os.getpid()


@pytest.mark.parametrize("lean", [True, False], ids=["lean-connectors", "rllib-connectors"])
def test_two_tasks_on_pinned_runners(ray_local, lean):
    algo = small_config(lean_connectors=lean).build_algo()
    try:
        before = learner_weights(algo)
        result = algo.train()
        views = algo.env_runner_group.foreach_env_runner(runner_view, local_env_runner=False)
        # Runner i runs task i-1, and its env really is that variant (scaled geom).
        assert [(w, name, tid) for w, name, tid, _, _ in views] == [
            (1, TWO_TASKS[0], 0),
            (2, TWO_TASKS[1], 1),
        ]
        base_foot, base_torso = 0.046, 0.046  # HalfCheetah-v5 capsule radii
        assert views[0][3] == pytest.approx(base_foot * 0.75)
        assert views[1][3] == pytest.approx(base_torso * 1.25)
        reprs = algo.env_runner_group.foreach_env_runner(lambda r: repr(r), local_env_runner=False)
        assert reprs == [
            f"EnvRunner(task={TWO_TASKS[0]}, worker=1)",
            f"EnvRunner(task={TWO_TASKS[1]}, worker=2)",
        ]

        per_task = result["env_runners"][metrics.PER_TASK]
        assert set(per_task) == set(TWO_TASKS)
        steps = [per_task[t][metrics.NUM_ENV_STEPS] for t in TWO_TASKS]
        # 4 updates x t_max 5 x 2 envs per task, the same for both tasks.
        assert steps == [40, 40]
        # The learner reduces its metrics once per iteration: all 4 rounds are counted
        # (RLlib's connectors count each fragment's bootstrap row too: 4 x 4 more).
        trained = result["learners"]["__all_modules__"]["num_env_steps_trained_lifetime"]
        assert trained == (80 if lean else 96)
        after = learner_weights(algo)
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert any("actor.heads" in k for k in changed) and any("critic" in k for k in changed)
        # Both tasks' normalization statistics grew; each only from its own samples.
        assert after["obs_normalizer.count"].tolist() == [40.0, 40.0]
        if lean:  # (the default connectors: one algorithm less to build)
            killed_runner_comes_back_with_the_same_task(algo, views)
    finally:
        algo.stop()


def killed_runner_comes_back_with_the_same_task(algo, views) -> None:
    """SIGKILLs runner 2: it is restarted with its task, and training goes on."""
    victim = views[1]
    os.kill(victim[4], signal.SIGKILL)
    deadline = time.time() + 120
    while time.time() < deadline:
        result = algo.train()
        views = algo.env_runner_group.foreach_env_runner(runner_view, local_env_runner=False)
        if len(views) == 2 and all(v[4] != victim[4] for v in views):
            break
    restarted = [v for v in views if v[0] == victim[0]]
    assert restarted and restarted[0][4] != victim[4], "runner was not restarted"
    assert restarted[0][1:3] == victim[1:3]  # same task name and id
    assert restarted[0][3] == pytest.approx(victim[3])  # same morphology
    assert result["env_runners"][metrics.PER_TASK][TWO_TASKS[1]][metrics.NUM_ENV_STEPS] > 40


def _mean_return(algo, episodes: int = 20) -> float:
    group = algo.env_runner_group
    returns = group.foreach_env_runner(
        lambda r: [e.get_return() for e in r.sample(num_episodes=episodes, explore=False)],
        local_env_runner=False,
    )
    return float(np.mean([x for rs in returns for x in rs]))


@pytest.mark.parametrize(
    "update, normalize_rewards", [("cycle", False), ("joint", False), ("cycle", True)]
)
def test_a2c_learns_point_mass(ray_local, update, normalize_rewards):
    """Return rises well past random: a broken gradient or return cannot pass."""
    config = (
        A2CConfig()
        .multi_task([POINT_MASS_ID], runners_per_task=1, update=update)
        .env_runners(num_envs_per_env_runner=8, num_cpus_per_env_runner=0.5)
        .training(
            updates_per_iteration=100, lr=3e-3, gamma=0.95, normalize_rewards=normalize_rewards
        )
        .debugging(seed=1)
    )
    algo = config.build_algo()
    try:
        random_return = _mean_return(algo)
        # Random: the mass drifts (about -50 per episode); a good policy reaches and
        # holds 0. Up to 12 iterations, checked every 3 (most runs pass after 3-6).
        target = random_return + 0.5 * abs(random_return)
        trained = random_return
        for _ in range(4):
            for _ in range(3):
                algo.train()
            trained = _mean_return(algo)
            if trained > target:
                break
    finally:
        algo.stop()
    print(f"point mass {update}: random {random_return:.1f} -> trained {trained:.1f}")
    assert trained > target, (random_return, trained)
