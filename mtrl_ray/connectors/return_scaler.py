"""Reward normalization as in the paper's code (baselines' VecNormalize).

Each reward is divided by the running standard deviation of the discounted
return R_t = gamma R_{t-1} + r_t of its own episode, and clipped to +-10. A
runner runs one task, so its statistics are that task's (with k runners per task,
each keeps its own). Only the train batch is scaled: episode returns, metrics and
evaluation stay in the environment's units.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from ray.rllib.env.single_agent_episode import SingleAgentEpisode


class ReturnScaler:
    """Running variance of discounted returns; scales rewards by its inverse std."""

    def __init__(self, gamma: float, clip: float = 10.0, eps: float = 1e-8):
        self.gamma = gamma
        self.clip = clip
        self.eps = eps
        self.count = 1e-4  # baselines' RunningMeanStd starts with this prior count
        self.mean = 0.0
        self.var = 1.0
        self._returns: dict[Hashable, float] = {}  # ongoing episode -> R_t

    def scale(self, episode: SingleAgentEpisode) -> np.ndarray:
        """The chunk's rewards, scaled; updates the statistics with its returns.

        Chunks of the same episode must come in time order (they do: a runner
        returns each episode's chunks in the order it sampled them).
        """
        return self.scale_chunk(episode.id_, episode.get_rewards(), episode.is_done)

    def scale_chunk(self, key: Hashable, rewards: np.ndarray, done: bool) -> np.ndarray:
        """A chunk's `rewards`, scaled; the chunks of episode `key` come in time order.

        Args:
            key: Identifies the chunk's episode on this runner.
            rewards: The chunk's rewards, in time order.
            done: Whether the episode ended with this chunk.
        """
        rewards = np.asarray(rewards, dtype=np.float64)
        ret = self._returns.get(key, 0.0)
        returns = np.empty_like(rewards)
        for t, r in enumerate(rewards):
            ret = self.gamma * ret + r
            returns[t] = ret
        if done:
            self._returns.pop(key, None)
        else:
            self._returns[key] = ret
        # As in VecNormalize, the statistics include the current returns before scaling
        # (here a whole chunk's at once, where VecNormalize goes step by step).
        for value in returns:
            self._update(value)
        return np.clip(rewards / np.sqrt(self.var + self.eps), -self.clip, self.clip)

    def _update(self, x: float) -> None:
        # RunningMeanStd's parallel update with a batch of one, in the same order.
        total = self.count + 1
        delta = x - self.mean
        self.mean += delta / total
        self.var = (self.var * self.count + delta * delta * self.count / total) / total
        self.count = total
