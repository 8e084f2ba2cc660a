"""A vector env step that skips the envs' info dicts: the fast path never reads them.

Each `SyncVectorEnv.step` merges every env's info dict into arrays (`_add_info`:
HalfCheetah's four entries, per env, per step), and RLlib's `DictInfoToList` then
splits them back into one dict per env. The lean runners (`FragmentSampler`) read
no infos, and the configs that sample through them refuse the episode callbacks
that could (`LeanSamplingConfig`). Merging and splitting took a fifth of a
runner's sampling time with 4 HalfCheetah envs and an eighth with 16
(benchmarks/vector_step.md), so the runners of the fast path step the envs
through `InfoFreeStep` instead.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv


class InfoFreeStep(gym.vector.VectorWrapper):
    """`SyncVectorEnv.step`'s next-step autoreset, returning an empty info per env.

    Observations, rewards, terminations and truncations are those of the wrapped
    `SyncVectorEnv` (its sub-envs are stepped in the same order with the same
    actions); only the infos of `step` are empty dicts. `reset` is the wrapped
    env's, infos included.

    Args:
        env: RLlib's runner env: a vector wrapper (or none) around a `SyncVectorEnv`
            with next-step autoreset.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        vector_env = env.unwrapped
        if not isinstance(vector_env, SyncVectorEnv):
            raise ValueError(f"InfoFreeStep needs a SyncVectorEnv, got {type(vector_env)}")
        if vector_env.autoreset_mode != AutoresetMode.NEXT_STEP:
            raise ValueError("InfoFreeStep needs next-step autoreset (RLlib's)")
        self._obs_space = vector_env.single_observation_space
        if not isinstance(self._obs_space, gym.spaces.Box):
            raise ValueError(f"InfoFreeStep needs Box observations, got {self._obs_space}")
        self._envs = vector_env.envs
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed=None, options=None) -> tuple[Any, Any]:
        mask = (options or {}).get("reset_mask")  # gymnasium's partial reset
        self._autoreset[slice(None) if mask is None else mask] = False
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any) -> Any:  # infos: one dict per env, as `DictInfoToList`'s
        n = self.num_envs
        obs = np.empty((n, *(self._obs_space.shape or ())), dtype=self._obs_space.dtype)
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        for i, env in enumerate(self._envs):
            if self._autoreset[i]:  # the step after an episode's end only resets
                obs[i], _ = env.reset()
            else:
                obs[i], rewards[i], terminated[i], truncated[i], _ = env.step(actions[i])
        self._autoreset = terminated | truncated
        return obs, rewards, terminated, truncated, [{} for _ in range(n)]
