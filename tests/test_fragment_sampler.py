"""A2C's lean sampling loop gives exactly what RLlib's loop gives, and the same metrics.

Two runners built from the same seeded config sample side by side, one through
RLlib's `SingleAgentEnvRunner` loop on RLlib's own vector env (then
`Fragment.from_episodes`), one through `FragmentSampler` on `InfoFreeStep`; every
column of every fragment must match, across episode ends by termination and by
time limit and across gymnasium's autoreset steps. For a bit-exact comparison the
sampler acts through the torch module as RLlib's loop does; by default it acts
through the module's numpy copy of the actor, which agrees to within float
rounding (the last test).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.tune.registry import register_env

from mtrl_ray import metrics
from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.connectors.fragment_batch import COLUMNS, POLICY_COLUMNS, Fragment
from mtrl_ray.envs.point_mass import PointMassEnv
from mtrl_ray.runners import PinnedEnvRunner
from mtrl_ray.runners.info_free_step import InfoFreeStep
from mtrl_ray.tasks import PINNED_ENV
from mtrl_ray.tasks.pinning import make_pinned_env

FALLING = "mtrl_ray_tests/FallingPointMass-v0"


class FallingPointMass(PointMassEnv):
    """The point mass, terminated when it leaves [-2.2, 2.2]: both kinds of episode end."""

    def step(self, action):
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, bool(abs(obs[0]) > 2.2), truncated, info


if FALLING not in gym.envs.registry:
    gym.register(FALLING, entry_point=FallingPointMass, max_episode_steps=30)


def runner(task: str, num_envs: int, **training) -> PinnedEnvRunner:
    register_env(PINNED_ENV, make_pinned_env)  # Tune's registry, as a Ray session would
    config = (
        A2CConfig()
        .multi_task([task])
        .env_runners(num_env_runners=0, num_envs_per_env_runner=num_envs)
        .training(**training)
        .debugging(seed=7)
    )
    return PinnedEnvRunner(config=config, worker_index=1)


def on_rllibs_env(runner: PinnedEnvRunner) -> PinnedEnvRunner:
    """The runner, stepping RLlib's vector env (gymnasium's, infos merged) again."""
    assert isinstance(runner.env, InfoFreeStep)
    runner.env = runner.env.env
    return runner


@pytest.mark.parametrize(
    "task, num_envs, calls, training",
    [
        (FALLING, 4, 60, {}),
        (FALLING, 3, 60, {"normalize_rewards": True}),
        ("HalfCheetahBigFoot-v0", 16, 210, {}),  # past the 1000-step time limit
    ],
)
def test_same_fragments_and_metrics_as_rllibs_loop(task, num_envs, calls, training):
    rllib = on_rllibs_env(runner(task, num_envs, **training))
    lean = runner(task, num_envs, **training)
    lean.module.numpy_head = None  # act through torch, as RLlib's loop does
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(calls):
        episodes = rllib._counted_sample(num_timesteps=5 * num_envs)
        expected = Fragment.from_episodes(episodes, reward_scaler=rllib._reward_scaler)
        (got,) = lean.sample_fragment(num_timesteps=5 * num_envs, compact=True)
        for key in COLUMNS:
            np.testing.assert_array_equal(got.columns[key], expected.columns[key], err_msg=key)
        ends["terminated"] += sum(e.is_terminated for e in episodes)
        ends["truncated"] += sum(e.is_truncated for e in episodes)
    # The comparison covered both ways an episode ends (and so autoreset steps).
    assert ends["truncated"] > 0 and (ends["terminated"] > 0) == (task == FALLING)

    want, got = rllib.get_metrics(), lean.get_metrics()
    for key in ("episode_return_mean", "episode_len_mean", "num_episodes_lifetime"):
        assert float(got[key]) == pytest.approx(float(want[key])), key
    per_task = (want[metrics.PER_TASK][task], got[metrics.PER_TASK][task])
    for key in (metrics.EPISODE_RETURN_MEAN, metrics.NUM_EPISODES, metrics.NUM_ENV_STEPS):
        assert float(per_task[1][key]) == pytest.approx(float(per_task[0][key])), key
    steps = "num_env_steps_sampled_lifetime"
    assert float(got[steps]) == float(want[steps]) > 0


def test_info_free_step_steps_as_gymnasiums_vector_env():
    """`InfoFreeStep` gives gymnasium's observations, rewards and episode ends, no infos.

    Side by side with the same seeds and actions, through terminations, time
    limits and the autoreset steps after them; only the fast path steps this way
    (RLlib's loop, which may hand infos to callbacks, keeps gymnasium's env).
    """
    fast, plain = runner(FALLING, 3), on_rllibs_env(runner(FALLING, 3))
    assert not isinstance(runner(FALLING, 3, lean_connectors=False).env, InfoFreeStep)
    for env in (fast.env, plain.env):
        env.reset(seed=3)
    rng = np.random.default_rng(0)
    ends = np.zeros(2, dtype=int)
    for _ in range(150):
        actions = rng.uniform(-1, 1, (3, *fast.env.single_action_space.shape))
        got, want = fast.env.step(actions), plain.env.step(actions)
        for have, expected in zip(got[:4], want[:4], strict=True):
            np.testing.assert_array_equal(have, expected)
        assert got[4] == [{}, {}, {}] and len(want[4]) == 3
        ends += got[2].sum(), got[3].sum()
    assert ends.min() > 0  # both ways an episode ends, so autoresets too
    # A partial reset (gymnasium's `reset_mask`) leaves the other envs' autoresets due.
    done = np.zeros(3, dtype=bool)
    while not done[1:].any():  # until env 1 or 2 has an autoreset due
        actions = rng.uniform(-1, 1, (3, *fast.env.single_action_space.shape))
        got, want = fast.env.step(actions), plain.env.step(actions)
        done = got[2] | got[3]
    mask = np.array([True, False, False])
    for env in (fast.env, plain.env):
        env.reset(seed=5, options={"reset_mask": mask})
    for _ in range(40):
        actions = rng.uniform(-1, 1, (3, *fast.env.single_action_space.shape))
        got, want = fast.env.step(actions), plain.env.step(actions)
        for have, expected in zip(got[:4], want[:4], strict=True):
            np.testing.assert_array_equal(have, expected)


def test_numpy_actor_samples_what_the_torch_module_samples():
    """The default (numpy) actor and the torch module give the same fragments, up to rounding."""
    with_torch, with_numpy = runner(FALLING, 4), runner(FALLING, 4)
    with_torch.module.numpy_head = None
    for _ in range(3):  # with PPO's policy outputs (built once per call on the numpy path)
        (want,) = with_torch.sample_fragment(num_timesteps=20, compact=True, policy_outputs=True)
        (got,) = with_numpy.sample_fragment(num_timesteps=20, compact=True, policy_outputs=True)
        for key in COLUMNS + POLICY_COLUMNS:
            np.testing.assert_allclose(got.columns[key], want.columns[key], atol=1e-5, err_msg=key)


def _ppo_runner_and_learner(task: str, num_envs: int, fast_path: bool, start, **training):
    from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

    register_env(PINNED_ENV, make_pinned_env)
    config = (
        MultiTaskPPOConfig()
        .multi_task([task])
        .env_runners(num_env_runners=0, num_envs_per_env_runner=num_envs)
        .training(fast_path=fast_path, **training)
        .debugging(seed=7)
    )
    # Sampling goes through the lean connectors either way (the runner under test
    # samples with `FragmentSampler`, the other with RLlib's loop on the same pieces).
    sampler = PinnedEnvRunner(config=config.copy().training(fast_path=True), worker_index=1)
    env = sampler.env
    spaces = {DEFAULT_MODULE_ID: (env.single_observation_space, env.single_action_space)}
    learner = config.build_learner(spaces=spaces)
    if start is not None:
        learner.module[DEFAULT_MODULE_ID].load_state_dict(start)
    return sampler, learner


@pytest.mark.parametrize(
    "task, num_envs, calls, steps, training",
    [
        (FALLING, 4, 12, 64, {}),
        (FALLING, 3, 25, 60, {"normalize_rewards": True}),
        ("HalfCheetahBigFoot-v0", 2, 3, 800, {"lambda_": 0.9}),  # past the time limit
    ],
)
def test_ppo_batches_equal_rllibs_path(task, num_envs, calls, steps, training):
    """PPO's fast path (sampler, `FragmentGAE`) gives RLlib's PPO train batch.

    Against RLlib's sampling loop and RLlib's PPO learner pipeline
    (`AddOneTsToEpisodesAndTruncate`, its column pieces, `GeneralAdvantageEstimation`)
    on identically seeded runners and learners with the same weights: the sampled
    columns with the sampling policy's log-probabilities and distribution inputs
    (exactly), then every loss column, the advantages and the value targets.
    """
    from ray.rllib.core.learner.training_data import TrainingData

    from mtrl_ray import _rllib_compat as compat
    from mtrl_ray.connectors.fragment_gae import LOSS_COLUMNS

    rllib, rllib_learner = _ppo_runner_and_learner(task, num_envs, False, None, **training)
    on_rllibs_env(rllib)
    start = rllib_learner.module[DEFAULT_MODULE_ID].state_dict()
    lean, fast_learner = _ppo_runner_and_learner(task, num_envs, True, start, **training)
    lean.module.numpy_head = None  # act through torch, as RLlib's loop does
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(calls):
        episodes = rllib.sample(num_timesteps=steps)  # PPO's path (rewards scaled if asked)
        expected = Fragment.from_episodes(episodes, policy_outputs=True)
        (got,) = lean.sample_fragment(num_timesteps=steps, compact=True, policy_outputs=True)
        for key in COLUMNS + POLICY_COLUMNS:
            np.testing.assert_array_equal(got.columns[key], expected.columns[key], err_msg=key)
        ends["terminated"] += sum(e.is_terminated for e in episodes)
        ends["truncated"] += sum(e.is_truncated for e in episodes)

        # (A copy: RLlib's learner pieces extend the episodes, whose objects the
        # runner still holds for its metrics; a remote runner's are sent as copies.)
        copies = copy.deepcopy(episodes)
        want = compat.make_train_batch(rllib_learner, TrainingData(episodes=copies))
        want = want.policy_batches[DEFAULT_MODULE_ID]
        have = compat.make_train_batch(fast_learner, TrainingData(episodes=[got]))
        have = have.policy_batches[DEFAULT_MODULE_ID]
        keep = np.asarray(want[Columns.LOSS_MASK]).astype(bool)
        assert len(have[Columns.OBS]) == keep.sum() == len(got)
        for key in (*LOSS_COLUMNS, Columns.ADVANTAGES, Columns.VALUE_TARGETS):
            np.testing.assert_allclose(
                np.asarray(have[key]), np.asarray(want[key])[keep], rtol=1e-4, atol=1e-4,
                err_msg=key,
            )  # fmt: skip
    assert ends["truncated"] > 0 and (ends["terminated"] > 0) == (task == FALLING)

    want_metrics, got_metrics = rllib.get_metrics(), lean.get_metrics()
    for key in ("episode_return_mean", "episode_len_mean", "num_episodes_lifetime"):
        assert float(got_metrics[key]) == pytest.approx(float(want_metrics[key])), key
