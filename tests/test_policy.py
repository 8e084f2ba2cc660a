"""`Policy`: a committed checkpoint acts as `rllib evaluate` acts, without Ray.

The reference is RLlib's own path: the module unpickled with
`RLModule.from_checkpoint` (as `rllib evaluate` loads it), its torch
`forward_inference`, and the runners' module-to-env connector
(`SampleDiagGaussian`) built with the manifest's action mapping.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import train_outside_tune
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from mtrl_ray import Policy
from mtrl_ray.checkpoints import CheckpointError, read_checkpoint
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.lean_gaussian import SampleDiagGaussian

ROOT = Path(__file__).resolve().parents[1]
#: Vanilla multi-task A2C, raw actions (the manifest says so).
RAW = ROOT / "results/vanilla_multitask_raw_seed0/checkpoint/checkpoint_000250"
#: An older one whose manifest predates `actions_for_env`: RLlib's rescale-and-clip.
RESCALED = ROOT / "results/vanilla_multitask_seed0/checkpoint/checkpoint_000250"
TASK = "HalfCheetahBigFoot-v0"


def reference_actor(checkpoint: Path, task: str, explore: bool = False):
    """obs -> env action the way `rllib evaluate` computes it, and its connector."""
    info = read_checkpoint(checkpoint)
    module = RLModule.from_checkpoint(str(info.module_path))
    task_id = info.tasks.index(task)
    connector = SampleDiagGaussian(
        input_action_space=gym.make(task).action_space, **info.actions_for_env
    )

    def act(obs: np.ndarray) -> np.ndarray:
        batch = {Columns.OBS: torch.from_numpy(obs[None]), TASK_ID: torch.tensor([task_id])}
        with torch.no_grad():
            out = module.forward_inference(batch)
        env_batch = connector(rl_module=module, batch=out, episodes=None, explore=explore)
        return env_batch[Columns.ACTIONS_FOR_ENV][0]

    return act, connector


def run_episode(policy: Policy, task: str, seed: int, steps: int = 1000, check=None) -> float:
    """Drives a real episode with `policy.act` (mean actions); returns its return."""
    env = gym.make(task)
    obs, _ = env.reset(seed=seed)
    total = 0.0
    for _ in range(steps):
        action = policy.act(obs, task=task, deterministic=True)
        if check is not None:
            check(obs, action)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            break
    env.close()
    return total


@pytest.mark.parametrize("checkpoint", [RAW, RESCALED], ids=["raw", "rescale-and-clip"])
def test_actions_are_rllib_evaluation_actions_on_a_real_episode(checkpoint):
    policy = Policy.load(checkpoint)
    reference, _ = reference_actor(checkpoint, TASK)
    gaps, outside = [], 0

    def check(obs, action):
        nonlocal outside
        assert action.shape == (6,) and action.dtype == np.float32
        gaps.append(np.abs(action - reference(obs)).max())
        outside += int((np.abs(policy.gaussian(obs, TASK)[0]) > 1).any())

    run_episode(policy, TASK, seed=3, steps=300, check=check)
    assert len(gaps) == 300
    assert max(gaps) < 1e-5, max(gaps)
    # Means leave [-1, 1]: the mapping (clip, or not) decides the action.
    assert outside > 10


def test_episode_return_is_reproducible_and_batches_match_single_steps():
    policy = Policy.load(RAW)
    first = run_episode(policy, TASK, seed=7)
    assert run_episode(Policy.load(RAW), TASK, seed=7) == first
    assert run_episode(policy, TASK, seed=8) != first
    obs = np.random.default_rng(0).normal(size=(32, 17))
    for task in policy.tasks:
        batch = policy.act(obs, task=task)
        assert batch.shape == (32, 6)
        singles = np.stack([policy.act(o, task=task) for o in obs])
        np.testing.assert_allclose(batch, singles, rtol=0, atol=1e-5)  # BLAS rounding
    heads = [policy.act(obs, task=t) for t in policy.tasks]
    assert not np.allclose(heads[0], heads[1])  # each task has its own head and statistics


def test_sampled_actions_are_the_runners_gaussian_samples():
    policy = Policy.load(RESCALED)
    _, connector = reference_actor(RESCALED, TASK, explore=True)
    obs = np.random.default_rng(1).normal(size=(4, 17))
    info = read_checkpoint(RESCALED)
    module = RLModule.from_checkpoint(str(info.module_path))
    with torch.no_grad():
        out = module.forward_inference(
            {Columns.OBS: torch.from_numpy(obs), TASK_ID: torch.full((4,), info.tasks.index(TASK))}
        )
    connector._rng = np.random.default_rng(5)  # the runner's generator, seeded alike
    expected = connector(rl_module=module, batch=out, episodes=None, explore=True)
    sampled = policy.act(obs, task=TASK, deterministic=False, rng=np.random.default_rng(5))
    np.testing.assert_allclose(sampled, expected[Columns.ACTIONS_FOR_ENV], atol=1e-5)
    assert not np.allclose(sampled, policy.act(obs, task=TASK))
    np.testing.assert_array_equal(
        policy.act(obs, task=TASK, deterministic=False, rng=11),
        policy.act(obs, task=TASK, deterministic=False, rng=11),
    )


def test_bad_input_is_a_one_line_value_error(tmp_path):
    policy = Policy.load(RAW)
    obs = np.zeros(17)
    cases = [
        ({"obs": obs, "task": "HalfCheetahBigLeg-v0"}, "no head for task 'HalfCheetahBigLeg-v0'"),
        ({"obs": np.zeros(16), "task": TASK}, r"observation of shape \(16,\)"),
        ({"obs": np.zeros((2, 3, 17)), "task": TASK}, r"takes \(17,\) or \(N, 17\)"),
        ({"obs": ["a"] * 17, "task": TASK}, "not an array of numbers"),
        ({"obs": obs, "task": ["a"]}, "task must be a name"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message) as e:
            policy.act(**kwargs)
        assert "\n" not in str(e.value)
    assert policy.act(obs, task=f"mtrl_ray/{TASK}").shape == (6,)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Policy.load(tmp_path / "nothing")


@pytest.mark.slow
def test_point_mass_checkpoint_acts_as_its_evaluation_runners(ray_module, tmp_path):
    """A freshly trained two-task checkpoint (actions rescaled and clipped in training):
    the evaluation runners `rllib evaluate` builds give the same actions as `Policy`."""
    from mtrl_ray.algorithms.a2c import A2CConfig
    from mtrl_ray.envs.point_mass import HEAVY_POINT_MASS_ID, POINT_MASS_ID
    from mtrl_ray.evaluation_runners import make_evaluation_runners

    tasks = [POINT_MASS_ID, HEAVY_POINT_MASS_ID]
    config = (
        A2CConfig()
        .multi_task(tasks, runners_per_task=1)
        .environment(normalize_actions=True)
        .env_runners(num_envs_per_env_runner=4, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=20, lr=3e-3)
        .debugging(seed=2)
    )
    checkpoint = train_outside_tune(config, tmp_path / "pm", iterations=2)
    info = read_checkpoint(checkpoint)
    assert info.actions_for_env == {"normalize_actions": True, "clip_actions": False}
    policy = Policy.load(checkpoint)
    assert policy.tasks == tuple(tasks)
    # Wide enough that some means leave [-1, 1]: the runners clip them.
    obs = np.random.default_rng(0).normal(scale=[3.0, 2.0], size=(64, 2))

    def runner_actions(runner):
        batch = {Columns.OBS: torch.from_numpy(obs), TASK_ID: torch.full((64,), runner.task_id)}
        with torch.no_grad():
            out = runner.module.forward_inference(batch)
        for_env = runner._module_to_env(
            rl_module=runner.module, batch=out, episodes=[], explore=False
        )
        return runner.task_name, for_env[Columns.ACTIONS_FOR_ENV]

    group = make_evaluation_runners(info, episodes=1, deterministic=True)
    try:
        answers = dict(group.foreach_env_runner(runner_actions, local_env_runner=False))
    finally:
        group.stop()
    assert set(answers) == set(tasks)
    for task in tasks:
        np.testing.assert_allclose(policy.act(obs, task=task), answers[task], rtol=0, atol=1e-5)
    means = np.concatenate([policy.gaussian(obs, task)[0] for task in tasks])
    assert (np.abs(means) > 1).any() and np.abs(np.concatenate(list(answers.values()))).max() <= 1
