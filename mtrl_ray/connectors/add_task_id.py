"""Env-to-module piece that puts the runner's task id into every forward batch."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.utils.annotations import override

from mtrl_ray.columns import TASK_ID


class AddTaskId(ConnectorV2):
    """Adds a `task_id` item per episode, so the module picks the right head.

    The module echoes the id in its output, which the runner stores with each
    timestep; that is how every sample reaching the learner carries its task id.
    """

    def __init__(self, input_observation_space=None, input_action_space=None, *, task_id: int):
        super().__init__(input_observation_space, input_action_space)
        self.task_id = task_id

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> Any:
        for sa_episode in self.single_agent_episode_iterator(
            episodes, agents_that_stepped_only=True
        ):
            self.add_batch_item(batch, TASK_ID, np.int64(self.task_id), sa_episode)
        return batch


def pinned_task_id(env: gym.vector.VectorEnv | None) -> int:
    """Reads the task id that `TaskIdWrapper` put on the runner's sub-envs."""
    if env is None:  # the local runner of a group with remote runners has no env
        return 0
    ids = set(env.unwrapped.get_attr("task_id"))
    if len(ids) != 1:
        raise RuntimeError(f"an EnvRunner must run exactly one task, got task ids {ids}")
    return ids.pop()


def task_id_connector(env: gym.vector.VectorEnv | None, spaces=None, device=None) -> list:
    """`env_to_module_connector` factory for `AlgorithmConfig.env_runners`."""
    return [AddTaskId(task_id=pinned_task_id(env))]
