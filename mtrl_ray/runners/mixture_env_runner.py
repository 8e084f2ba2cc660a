"""A pinned EnvRunner whose fragments are driven by the student or by its task's teacher."""

from __future__ import annotations

from typing import Any

import numpy as np
import ray
from ray.rllib.utils.annotations import override

from mtrl_ray import metrics
from mtrl_ray.runners.pinned_env_runner import PinnedEnvRunner
from mtrl_ray.teachers.teacher import TeacherPolicy


class MixtureEnvRunner(PinnedEnvRunner):
    """Samples each fragment with the teacher with probability `teacher_rollout_prob`.

    The paper's D_i: states from the student's policy with probability p_s and the
    teacher's with p_t = 1 - p_s, per t_max-step fragment. The teacher acts here,
    locally: its weights come from the TeacherPool once (the first time this runner
    needs them), not a remote call per env step. Episodes continue across
    fragments, so with p_t > 0 an episode's return is that of a mixed policy;
    each task's `teacher_fragment_fraction` says how mixed.
    """

    module: Any  # RLlib's attribute: the student's RLModule, or the teacher while it acts

    @override(PinnedEnvRunner)
    def sample_fragment(self, *, state: Any = None, num_timesteps: int, compact: bool) -> list:
        self.load_weights(state)
        by_teacher = self._coin.random() < self.config.teacher_rollout_prob
        self.metrics.log_value(
            (metrics.PER_TASK, self.task_name, metrics.TEACHER_FRAGMENT_FRACTION),
            float(by_teacher),
            window=100,
        )
        if not by_teacher:
            return super().sample_fragment(num_timesteps=num_timesteps, compact=compact)
        student, self.module = self.module, self._teacher
        try:
            return super().sample_fragment(num_timesteps=num_timesteps, compact=compact)
        finally:
            self.module = student

    @property
    def _coin(self) -> np.random.Generator:
        # Seeded from numpy's global generator, which RLlib seeds per runner.
        if getattr(self, "_rng", None) is None:
            self._rng = np.random.default_rng(np.random.randint(2**31))
        return self._rng

    @property
    def _teacher(self) -> TeacherPolicy:
        if getattr(self, "_teacher_policy", None) is None:
            pool = ray.get_actor(self.config.teacher_pool_name)
            teacher = TeacherPolicy(ray.get(pool.teacher.remote(self.task_id)))
            self._teacher_policy = teacher.act_for(self.module)
        return self._teacher_policy
