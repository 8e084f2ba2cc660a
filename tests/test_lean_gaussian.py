"""The lean sampling connector maps actions for the env as RLlib's own connector does."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.connectors.module_to_env.normalize_and_clip_actions import (
    NormalizeAndClipActions,
)
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.lean_gaussian import SampleDiagGaussian

# Bounds other than [-1, 1], so that normalizing (rescaling) differs from clipping.
SPACE = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
MEAN = np.array([[0.5, 3.0], [-3.0, 0.25]], np.float32)  # inside and outside the bounds


def mean_actions(**modes) -> dict:
    """The connector's output for the mean action (no exploration noise)."""
    batch = {
        Columns.ACTION_DIST_INPUTS: torch.from_numpy(
            np.concatenate([MEAN, np.full_like(MEAN, -1.0)], axis=-1)
        ),
        TASK_ID: torch.zeros(len(MEAN), dtype=torch.long),
    }
    connector = SampleDiagGaussian(input_action_space=SPACE, **modes)
    return connector(rl_module=None, batch=batch, episodes=[], explore=False)


def rllib_actions_for_env(**modes) -> np.ndarray:
    """What RLlib's `NormalizeAndClipActions` sends to the env for the same actions."""
    connector = NormalizeAndClipActions(input_action_space=SPACE, **modes)
    episodes = [SingleAgentEpisode() for _ in MEAN]
    batch = {Columns.ACTIONS: {(e.id_,): [a] for e, a in zip(episodes, MEAN, strict=True)}}
    out = connector(rl_module=None, batch=batch, episodes=episodes)
    return np.stack([v[0] for v in out[Columns.ACTIONS_FOR_ENV].values()])


@pytest.mark.parametrize(
    "modes, expected",
    [
        # low + (a + 1)(high - low)/2, then clipped: [1.0, 2.0 -> 1.0], [-6 -> -2, 0.625]
        ({"normalize_actions": True, "clip_actions": False}, [[1.0, 1.0], [-2.0, 0.625]]),
        ({"normalize_actions": False, "clip_actions": True}, [[0.5, 1.0], [-2.0, 0.25]]),
        # The paper's code: the raw sample goes to the env.
        ({"normalize_actions": False, "clip_actions": False}, [[0.5, 3.0], [-3.0, 0.25]]),
    ],
)
def test_actions_for_env_follow_rllibs_normalize_and_clip_flags(modes, expected):
    out = mean_actions(**modes)
    np.testing.assert_allclose(out[Columns.ACTIONS_FOR_ENV], expected)
    if modes["normalize_actions"] or modes["clip_actions"]:
        np.testing.assert_allclose(out[Columns.ACTIONS_FOR_ENV], rllib_actions_for_env(**modes))
    # The learner always sees the sampled action itself, never the env's version.
    np.testing.assert_allclose(out[Columns.ACTIONS], MEAN)
