"""`PointMass-v0`: a seconds-to-learn continuous-control task for learning tests.

A unit mass on a line starts at x0 ~ U(-2, 2) at rest; the action is a force in
[-1, 1]; the reward is -|x| per step, for 50 steps. Reaching and holding the
origin needs a state-dependent policy (push left right of 0, right left of 0), so
a learner with a broken gradient cannot score well by luck, while a working A2C
improves well past random within a few tens of thousands of steps.

`PointMassHeavy-v0` is the same task with a mass of 3: a second, cheap task whose
good policy differs (it must push harder and brake earlier), for multi-task tests.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

POINT_MASS_ID = "mtrl_ray/PointMass-v0"
HEAVY_POINT_MASS_ID = "mtrl_ray/PointMassHeavy-v0"


class PointMassEnv(gym.Env):
    """1-D point mass driven to the origin."""

    metadata = {"render_modes": []}
    dt = 0.1

    def __init__(self, mass: float = 1.0) -> None:
        self.mass = mass
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._state = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = np.array([self.np_random.uniform(-2.0, 2.0), 0.0])
        return self._state.copy(), {}

    def step(self, action):
        force = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        x, v = self._state
        v = v + force / self.mass * self.dt
        x = x + v * self.dt
        self._state = np.array([x, v])
        return self._state.copy(), -abs(x), False, False, {}


# gymnasium types `entry_point` as a callable taking only `**kwargs`, which rejects an
# env class with named keyword arguments; `gym.make` calls it with the spec's kwargs.
if POINT_MASS_ID not in gym.envs.registry:
    gym.register(
        POINT_MASS_ID,
        entry_point=PointMassEnv,  # type: ignore[arg-type]  # EnvCreator too strict
        max_episode_steps=50,
    )
if HEAVY_POINT_MASS_ID not in gym.envs.registry:
    gym.register(
        HEAVY_POINT_MASS_ID,
        entry_point=PointMassEnv,  # type: ignore[arg-type]  # EnvCreator too strict
        kwargs={"mass": 3.0},
        max_episode_steps=50,
    )
