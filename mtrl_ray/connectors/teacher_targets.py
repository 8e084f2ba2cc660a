"""Learner piece: the teachers' Gaussians for every row of the train batch.

One `TeacherPool.query` per train batch (all tasks' rows at once): the pool routes
each row to its task's teacher, which normalizes the raw observation with its own
statistics. The answers become two columns the distillation loss reads.
"""

from __future__ import annotations

import time
from typing import Any

import ray
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override

from mtrl_ray.columns import TASK_ID
from mtrl_ray.metrics import SINCE_LAST_REDUCE

#: Teacher's Gaussian mean per row, (B, act_dim).
TEACHER_MEAN = "teacher_mean"
#: Teacher's Gaussian log standard deviation per row, (B, act_dim).
TEACHER_LOG_STD = "teacher_log_std"
#: Metrics this piece logs (learner results): seconds per query and rows per query.
TEACHER_QUERY_SECONDS = "teacher_query_seconds"
TEACHER_QUERY_BATCH_SIZE = "teacher_query_batch_size"


class TeacherTargets(ConnectorV2):
    """Adds `TEACHER_MEAN` and `TEACHER_LOG_STD` from the named TeacherPool actor."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, pool_name: str):
        super().__init__(input_observation_space, input_action_space)
        self.pool_name = pool_name
        self._pool = None

    @property
    def pool(self) -> Any:
        """The pool's handle, looked up by name once (it survives the actor's restarts)."""
        if self._pool is None:
            self._pool = ray.get_actor(self.pool_name)
        return self._pool

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, metrics=None, **kwargs):
        for module_batch in batch.values():
            obs = module_batch[Columns.OBS]
            task_ids = module_batch[TASK_ID].reshape(-1)
            start = time.perf_counter()
            mean, log_std = ray.get(self.pool.query.remote(task_ids.numpy(), obs.numpy()))
            seconds = time.perf_counter() - start
            # (Copies: arrays from the object store are read-only.)
            module_batch[TEACHER_MEAN] = torch.tensor(mean)
            module_batch[TEACHER_LOG_STD] = torch.tensor(log_std)
            if metrics is not None:
                # Distillation's learner reduces once per iteration: means over its rounds.
                metrics.log_value(TEACHER_QUERY_SECONDS, seconds, window=SINCE_LAST_REDUCE)
                metrics.log_value(TEACHER_QUERY_BATCH_SIZE, len(task_ids), window=SINCE_LAST_REDUCE)
        return batch
