"""The scaling benchmark's tasks: HalfCheetah variants, and a no-op env with their spaces.

The no-op env ("cheap") has HalfCheetah's observation (17) and action (6) spaces and
its 1000-step episodes, but no physics: an observation is a row of a fixed random
table, the reward 0. Its runners do everything a real runner does (the policy's
forward pass, normalization, the fragment) except simulate, so what grows with
their number is the driver's and the runners' own overhead. It is registered under
ten ids (`mtrl_bench/Noop{i}-v0`, a TaskSet needs distinct tasks), in this process
and, through Ray's `worker_process_setup_hook`, in every worker.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mtrl_ray.envs import HELD_OUT_TASKS, PAPER_TASKS

MAX_TASKS = 10
NOOP_ID = "mtrl_bench/Noop{}-v0"


class NoopCheetah(gym.Env):
    """HalfCheetah's spaces and episode length, no simulation."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
        self._table = np.random.default_rng(0).normal(size=(256, 17))
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = int(self.np_random.integers(256))
        return self._table[self._t].copy(), {}

    def step(self, action):
        self._t = (self._t + 1) % 256
        return self._table[self._t].copy(), 0.0, False, False, {}


def register_cheap_envs() -> None:
    """Registers the ten no-op ids with gymnasium (idempotent)."""
    for i in range(MAX_TASKS):
        if NOOP_ID.format(i) not in gym.envs.registry:
            gym.register(NOOP_ID.format(i), entry_point=NoopCheetah, max_episode_steps=1000)


def real_tasks(n: int) -> list[str]:
    """The first `n` HalfCheetah variants: the paper's six, then the held-out four."""
    tasks = [*PAPER_TASKS, *HELD_OUT_TASKS]
    if not 1 <= n <= len(tasks):
        raise ValueError(f"1 to {len(tasks)} real tasks, got {n}")
    return tasks[:n]


def cheap_tasks(n: int) -> list[str]:
    """`n` distinct no-op task ids."""
    if not 1 <= n <= MAX_TASKS:
        raise ValueError(f"1 to {MAX_TASKS} cheap tasks, got {n}")
    return [NOOP_ID.format(i) for i in range(n)]
