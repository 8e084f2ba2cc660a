"""The RLlib env creator that pins each EnvRunner to one task of a TaskSet."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from ray.rllib.env.env_context import EnvContext
from ray.tune.registry import register_env

from mtrl_ray.envs import make_env
from mtrl_ray.tasks.task_set import TaskSet

#: Name under which `make_pinned_env` is registered with RLlib (`config.environment`).
PINNED_ENV = "mtrl_ray/pinned"


class TaskIdWrapper(gym.Wrapper):
    """Marks an env with the task it belongs to, so connectors can read it.

    Attributes:
        task_id: Index of the task in its TaskSet (= head index).
        task_name: Environment id of the task.
    """

    def __init__(self, env: gym.Env, task_id: int, task_name: str) -> None:
        super().__init__(env)
        self.task_id = task_id
        self.task_name = task_name


def make_pinned_env(env_ctx: EnvContext | dict[str, Any]) -> gym.Env:
    """Creates the env of the task this runner is pinned to.

    `env_config` keys: `tasks` (list of task names, required), `env_kwargs` (dict
    passed to the env constructor, optional). Pinning uses the runner's
    `worker_index` (see `TaskSet.task_for_worker`); an explicit `task` key
    overrides it (used by evaluation of one chosen task).
    """
    task_set = TaskSet.of(env_ctx["tasks"])
    if env_ctx.get("task") is not None:
        task_id = task_set.task_id(env_ctx["task"])
    else:
        task_id = task_set.task_for_worker(getattr(env_ctx, "worker_index", 0))
    name = task_set.names[task_id]
    env = make_env(name, **dict(env_ctx.get("env_kwargs") or {}))
    return TaskIdWrapper(env, task_id, name)


register_env(PINNED_ENV, make_pinned_env)
