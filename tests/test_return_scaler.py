"""Reward normalization by the running std of discounted returns (VecNormalize)."""

from __future__ import annotations

import numpy as np
from conftest import ACT_SPACE, OBS_SPACE
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.fragment_batch import Fragment
from mtrl_ray.connectors.return_scaler import ReturnScaler


def chunk(rewards, *, episode_id: str, terminated: bool = False) -> SingleAgentEpisode:
    n = len(rewards)
    return SingleAgentEpisode(
        id_=episode_id,
        observations=[np.zeros(17)] * (n + 1),
        actions=[np.zeros(6, np.float32)] * n,
        rewards=list(rewards),
        extra_model_outputs={TASK_ID: [np.int64(0)] * n},
        terminated=terminated,
        observation_space=OBS_SPACE,
        action_space=ACT_SPACE,
        len_lookback_buffer=0,
    )


def merged_var(prior_count, prior_mean, prior_var, xs):
    """Parallel variance merge of a prior with a batch (baselines' RunningMeanStd)."""
    xs = np.asarray(xs, dtype=np.float64)
    n, mean, var = len(xs), xs.mean(), xs.var()
    total = prior_count + n
    delta = mean - prior_mean
    m2 = prior_var * prior_count + var * n + delta**2 * prior_count * n / total
    return total, prior_mean + delta * n / total, m2 / total


def test_scales_by_running_std_of_discounted_returns():
    g = 0.9
    scaler = ReturnScaler(gamma=g)
    first = scaler.scale(chunk([1.0, 2.0, 3.0], episode_id="a"))
    returns = [1.0, 2.9, 5.61]  # R_t = 0.9 R_{t-1} + r_t
    count, mean, var = merged_var(1e-4, 0.0, 1.0, returns)
    np.testing.assert_allclose(first, np.array([1.0, 2.0, 3.0]) / np.sqrt(var + 1e-8), rtol=1e-9)

    # The next chunk of the same episode continues its return; the episode then ends.
    second = scaler.scale(chunk([4.0], episode_id="a", terminated=True))
    count, mean, var = merged_var(count, mean, var, [g * 5.61 + 4.0])
    np.testing.assert_allclose(second, [4.0 / np.sqrt(var + 1e-8)], rtol=1e-9)

    # A new episode starts from R = 0 again.
    third = scaler.scale(chunk([1.0], episode_id="b"))
    count, mean, var = merged_var(count, mean, var, [1.0])
    np.testing.assert_allclose(third, [1.0 / np.sqrt(var + 1e-8)], rtol=1e-9)
    # Big ratios are clipped to +-10 (a long, tight history of returns near 100).
    scaler.count, scaler.mean, scaler.var = 1e9, 100.0, 1e-6
    assert scaler.scale(chunk([100.0], episode_id="c")).tolist() == [10.0]


def test_fragment_scales_only_the_train_batch():
    episode = chunk([1.0, 2.0, 3.0], episode_id="c")
    fragment = Fragment.from_episodes([episode], reward_scaler=ReturnScaler(gamma=0.99))
    assert episode.get_return() == 6.0  # metrics keep the environment's rewards
    rewards = fragment.columns[Columns.REWARDS]
    assert rewards[:3].sum() < 6.0 and rewards[3] == 0.0  # scaled; bootstrap row 0
