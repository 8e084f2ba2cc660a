"""Each task's own observation and action sizes, and padding for task sets that mix bodies.

RLlib builds one RLModule with one observation and one action space. A task set that
mixes body families (HalfCheetah 17/6, Hopper 11/3, Walker2d 17/6, Humanoid 348/17
observation/action dims) gets common padded spaces: the largest observation and action
sizes of its tasks. Each runner's env (one task per runner) is wrapped in `PadSpaces`:
its observations are zero-padded at the end, and only the task's own (leading) action
dims reach MuJoCo. A task set of one family gets no wrapper: its envs and module are
exactly those of a single-family run.

A task's family is its runner (HalfCheetah, Hopper, Walker2d, Humanoid; gravity
variants belong to their runner's family); a task that is no variant (any other
gymnasium id) is a family of its own sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import gymnasium as gym
import numpy as np

from mtrl_ray.envs.families import ALL_VARIANTS, canonical_task_name, make_env
from mtrl_ray.envs.morphology import RUNNERS


@cache
def task_shape(name: str) -> tuple[int, int]:
    """(observation dims, action dims) of a task's env (1-D Box spaces), built once."""
    env = make_env(name)
    try:
        obs, act = env.observation_space, env.action_space
    finally:
        env.close()
    obs_shape = obs.shape
    if (
        obs_shape is None
        or len(obs_shape) != 1
        or not isinstance(act, gym.spaces.Box)
        or len(act.shape) != 1
    ):
        raise ValueError(f"task {name}: 1-D Box observation and action spaces needed, "
                         f"got {obs} and {act}")  # fmt: skip
    return int(obs_shape[0]), int(act.shape[0])


def body_family(name: str) -> str:
    """The task's body family: its runner's name, else its sizes ("17x6")."""
    plain = canonical_task_name(name)
    if plain in ALL_VARIANTS:
        return ALL_VARIANTS[plain].runner
    for runner in RUNNERS.values():
        if plain == runner.base_id:
            return runner.name
    obs, act = task_shape(plain)
    return f"{obs}x{act}"


@dataclass(frozen=True)
class TaskShapes:
    """The body families and own sizes of a task set's tasks, in task order.

    Attributes:
        families: Each task's body family.
        obs_dims: Each task's own observation size.
        act_dims: Each task's own action size.
    """

    families: tuple[str, ...]
    obs_dims: tuple[int, ...]
    act_dims: tuple[int, ...]

    @property
    def mixed(self) -> bool:
        """Whether the tasks span more than one body family (padding and masking on)."""
        return len(set(self.families)) > 1

    @property
    def obs_dim(self) -> int:
        """The padded observation size: the largest of the tasks'."""
        return max(self.obs_dims)

    @property
    def act_dim(self) -> int:
        """The padded action size: the largest of the tasks'."""
        return max(self.act_dims)


def task_shapes(names: tuple[str, ...] | list[str]) -> TaskShapes:
    """The `TaskShapes` of tasks `names` (each env is built once per process)."""
    shapes = [task_shape(canonical_task_name(n)) for n in names]
    return TaskShapes(
        families=tuple(body_family(n) for n in names),
        obs_dims=tuple(o for o, _ in shapes),
        act_dims=tuple(a for _, a in shapes),
    )


class PadSpaces(gym.Wrapper):
    """Zero-pads observations to `obs_dim`; sends only the own action dims to the env.

    The action space is the env's, extended by padded dims with bounds [-1, 1]; the
    padded dims of an action are dropped before the env steps, so they change neither
    the simulation nor the reward (a control cost sees the own dims only).

    Attributes:
        own_obs_dim: The env's own observation size.
        own_act_dim: The env's own action size.
    """

    def __init__(self, env: gym.Env, obs_dim: int, act_dim: int) -> None:
        super().__init__(env)
        obs_space, act_space = env.observation_space, env.action_space
        if obs_space.shape is None or not isinstance(act_space, gym.spaces.Box):
            raise ValueError(f"cannot pad spaces {obs_space} and {act_space}: Box spaces needed")
        self.own_obs_dim, self.own_act_dim = int(obs_space.shape[0]), int(act_space.shape[0])
        if self.own_obs_dim > obs_dim or self.own_act_dim > act_dim:
            raise ValueError(
                f"cannot pad an env of sizes {self.own_obs_dim}/{self.own_act_dim} to "
                f"{obs_dim}/{act_dim}"
            )
        pad_act = act_dim - self.own_act_dim
        # gymnasium types Box's `dtype` as a scalar type; it takes a np.dtype too.
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, (obs_dim,), dtype=obs_space.dtype  # type: ignore[arg-type]
        )
        self.action_space = gym.spaces.Box(
            np.concatenate([act_space.low, -np.ones(pad_act, act_space.dtype)]),
            np.concatenate([act_space.high, np.ones(pad_act, act_space.dtype)]),
            dtype=act_space.dtype,  # type: ignore[arg-type]
        )
        self._obs_pad = obs_dim - self.own_obs_dim

    def _pad(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([obs, np.zeros(self._obs_pad, dtype=obs.dtype)])

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._pad(obs), info

    def step(self, action):
        own = np.asarray(action)[: self.own_act_dim]
        obs, reward, terminated, truncated, info = self.env.step(own)
        return self._pad(obs), reward, terminated, truncated, info
