"""The RLlib env creator that pins each EnvRunner to one task of a TaskSet."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from ray.rllib.env.env_context import EnvContext
from ray.tune.registry import register_env

from mtrl_ray.envs import PadSpaces, make_env, task_shapes
from mtrl_ray.recording import FrameRecorder, record_env_kwargs
from mtrl_ray.tasks.task_set import TaskSet, canonical_task_name

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

    `env_config` keys: `tasks` (task names in head order, required), `env_kwargs`
    (passed to the env constructor). Pinning uses the runner's `worker_index` (see
    `TaskSet.task_for_worker`). For transfer evaluation, `head` (a task name) and
    `variants` (env ids) pin runner i to variant i - 1 acting with that head; `heads`
    (one task name per variant) instead gives each variant its own. With `record`
    (`VideoSettings.env_config()`), the env renders and records frames (`FrameRecorder`).
    If the tasks mix body families, the env is padded to their common spaces (`PadSpaces`).
    """
    task_set = TaskSet.of(env_ctx["tasks"])
    worker_index = getattr(env_ctx, "worker_index", 0)
    if env_ctx.get("variants"):
        variants = list(env_ctx["variants"])
        name = canonical_task_name(variants[max(worker_index - 1, 0) % len(variants)])
        heads = env_ctx.get("heads") or [env_ctx["head"]] * len(variants)
        task_id = task_set.task_id(heads[max(worker_index - 1, 0) % len(variants)])
    else:
        task_id = task_set.task_for_worker(worker_index)
        name = task_set.names[task_id]
    env_kwargs = dict(env_ctx.get("env_kwargs") or {})
    record = env_ctx.get("record")
    if record:
        env_kwargs.update(record_env_kwargs(record))
    env = make_env(name, **env_kwargs)
    if record:
        env = FrameRecorder(env, every=record["every"], max_frames=record["max_frames"])
    shapes = task_shapes(task_set.names)
    if shapes.mixed:  # the module's common spaces (see `mtrl_ray.envs.shapes`)
        env = PadSpaces(env, shapes.obs_dim, shapes.act_dim)
    return TaskIdWrapper(env, task_id, name)


register_env(PINNED_ENV, make_pinned_env)
