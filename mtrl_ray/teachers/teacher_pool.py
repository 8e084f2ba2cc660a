"""`TeacherPool`: the Ray actor that serves every task's frozen teacher.

The learner asks it once per train batch for the teachers' Gaussians at the batch's
raw observations (`query`); teacher-driven rollouts fetch a teacher's weights from
it once per runner (`teacher`) and act locally. Ray restarts it if it dies
(`max_restarts`), and a call in flight is retried (`max_task_retries`), so a lost
pool costs a pause, not the run. It gets the teachers as data from the driver, so
it reads no files and can run on any node.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import numpy as np
import ray
import torch
from ray.util import get_current_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from mtrl_ray import monitoring
from mtrl_ray.teachers.teacher import Teacher, TeacherPolicy

#: Name prefix of the pool actor: what the Ray dashboard's Actors table shows.
POOL_NAME_PREFIX = "TeacherPool"


class TeacherPool:
    """One frozen `TeacherPolicy` per task of the student's TaskSet, in task-id order."""

    def __init__(self, teachers: list[Teacher], metrics_tags: dict[str, str] | None = None):
        torch.set_num_threads(1)
        self.teachers = list(teachers)
        # The run's Prometheus tags (experiment, trial); defaults if not given.
        self.metrics_tags = monitoring.complete_run_tags(metrics_tags)
        self.policies = [TeacherPolicy(t) for t in self.teachers]
        self.started = time.time()

    def query(self, task_ids: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's teacher Gaussian at its raw observation.

        Args:
            task_ids: (B,) student task ids (= index of the task's teacher).
            obs: (B, obs_dim) raw observations (each row's task's own dims first).

        Returns:
            (mean, log_std), each (B, act_dim) float32: act_dim the largest of the
            teachers' action sizes, a row's dims past its task's own being 0.
        """
        start = time.perf_counter()
        task_ids = np.asarray(task_ids).reshape(-1)
        obs_t = torch.tensor(obs, dtype=torch.float32)  # a copy: `obs` is read-only
        act_dim = max(policy.act_dim for policy in self.policies)
        mean = np.zeros((len(task_ids), act_dim), np.float32)
        log_std = np.zeros_like(mean)
        for task_id in np.unique(task_ids):  # one batched forward per teacher
            rows = task_ids == task_id
            policy = self.policies[int(task_id)]
            m, s = policy(obs_t[rows])
            mean[rows, : policy.act_dim], log_std[rows, : policy.act_dim] = m.numpy(), s.numpy()
        seconds = time.perf_counter() - start
        latency, rows_answered = monitoring.teacher_pool_metrics()
        latency.observe(seconds, tags=self.metrics_tags)
        if len(task_ids):
            rows_answered.inc(len(task_ids), tags=self.metrics_tags)
        return mean, log_std

    def teacher(self, task_id: int) -> Teacher:
        """The teacher of a task, as data (for a runner to act with it locally)."""
        return self.teachers[task_id]

    def pid(self) -> int:
        """The actor's process id (tests kill it)."""
        return os.getpid()

    def __repr__(self) -> str:
        return f"TeacherPool(tasks={[t.task for t in self.teachers]})"


def start_teacher_pool(
    teachers: list[Teacher],
    *,
    name: str | None = None,
    num_cpus: float = 0.25,
    max_restarts: int = -1,
    metrics_tags: dict[str, str] | None = None,
) -> Any:
    """Starts the pool actor; returns its handle once it has loaded every teacher.

    Args:
        teachers: One teacher per task, in task-id order.
        name: Actor name (default `TeacherPool-<random suffix>`).
        num_cpus: Logical CPUs the actor reserves.
        max_restarts: How often Ray restarts it if its process dies (-1: always).
        metrics_tags: The run's `experiment` and `trial` tags for its Prometheus
            metrics (`monitoring.run_tags`).
    """
    name = name or f"{POOL_NAME_PREFIX}-{uuid.uuid4().hex[:8]}"
    # Under Tune the algorithm runs in a placement group whose last bundle is the
    # pool's (Distill.default_resource_request): left to pick any bundle, the pool
    # could take a runner's, which RLlib assigns by index, and that runner would wait
    # forever.
    group = get_current_placement_group()
    strategy = (
        "DEFAULT"
        if group is None
        else PlacementGroupSchedulingStrategy(
            group, placement_group_bundle_index=group.bundle_count - 1
        )
    )
    # The teachers go to the object store once; Ray keeps them for restarts as long
    # as the returned handle's owner (the algorithm) lives.
    pool = (
        ray.remote(TeacherPool)
        .options(
            name=name,
            num_cpus=num_cpus,
            max_restarts=max_restarts,
            max_task_retries=-1,
            scheduling_strategy=strategy,
        )
        .remote(teachers, metrics_tags)
    )
    ray.get(pool.pid.remote())  # a teacher that does not load fails here, not mid-run
    return pool
