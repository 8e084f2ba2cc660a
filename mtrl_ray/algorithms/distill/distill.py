"""Multi-task distillation (Arora et al., section 3.1.3): config and algorithm.

A student (shared trunk, one Gaussian head per task, no critic) is trained per
task to match that task's frozen teacher, by KL(N_T || N_S) on states from
fragments driven by the student (probability p_s) or the teacher (p_t = 1 - p_s).
Everything else is A2C's machinery: pinned runners, synchronous rounds, the
central learner and its cycle/joint update order. What differs:

- `TeacherPool`, a Ray actor started by the algorithm, serves the teachers;
- the learner connector adds the teachers' Gaussians to each train batch
  (`TeacherTargets`, one pool query per batch);
- runners are `MixtureEnvRunner`s, which let the teacher drive a fragment;
- the learner's loss is the KL (`DistillTorchLearner`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ray
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.connectors.learner import LearnerConnectorPipeline
from ray.rllib.utils.annotations import override
from ray.tune.execution.placement_groups import PlacementGroupFactory
from typing_extensions import Self

from mtrl_ray.algorithms.a2c.a2c import A2C, A2CConfig
from mtrl_ray.connectors.fragment_batch import FragmentBatch
from mtrl_ray.connectors.teacher_targets import TeacherTargets
from mtrl_ray.envs import task_shape
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskModelConfig
from mtrl_ray.runners.mixture_env_runner import MixtureEnvRunner
from mtrl_ray.teachers import (
    POOL_NAME_PREFIX,
    Teacher,
    TeacherError,
    TeacherPolicy,
    find_teacher_checkpoint,
    load_teacher,
    start_teacher_pool,
)


class DistillConfig(A2CConfig):
    """Multi-task distillation from per-task teachers.

    Example:
        >>> config = (
        ...     DistillConfig()
        ...     .multi_task(["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"])
        ...     .distillation(teachers="results/teachers_raw")
        ... )
    """

    PATH_KEYS = (*A2CConfig.PATH_KEYS, "teachers")

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or Distill)
        self.teachers: str | dict[str, str] | None = None
        self.teacher_rollout_prob = 0.0  # p_t; the paper's multi-task runs used student rollouts
        self.kl_coeff = 1.0
        self.mse_coeff = 0.0
        self.teacher_pool_num_cpus = 0.25
        self.teacher_pool_max_restarts = -1
        # Learners and runners find the pool by this name; copies of the config keep it.
        self.teacher_pool_name = f"{POOL_NAME_PREFIX}-{uuid.uuid4().hex[:8]}"
        self.env_runner_cls = MixtureEnvRunner
        self.entropy_coeff = 0.0  # no policy-gradient terms: the loss is the KL only

    def distillation(
        self,
        *,
        teachers: str | Path | dict[str, str] = NotProvided,
        teacher_rollout_prob: float = NotProvided,
        kl_coeff: float = NotProvided,
        mse_coeff: float = NotProvided,
        teacher_pool_num_cpus: float = NotProvided,
        teacher_pool_max_restarts: int = NotProvided,
    ) -> Self:
        """Sets the teachers and the distillation knobs.

        Args:
            teachers: A folder holding one teacher per task (`<task>/` or
                `teacher_<task>/`, a checkpoint or a run folder), or {task: checkpoint}.
            teacher_rollout_prob: p_t, the probability that a fragment is driven by
                the task's teacher instead of the student (p_s = 1 - p_t).
            kl_coeff: Weight of KL(N_T || N_S).
            mse_coeff: Weight of the optional MSE on the means and on the standard
                deviations (the original code's alternative loss); 0 = off.
            teacher_pool_num_cpus: Logical CPUs the TeacherPool actor reserves.
            teacher_pool_max_restarts: How often Ray restarts a dead pool (-1: always).
        """
        for name, value in (
            ("teachers", teachers),
            ("teacher_rollout_prob", teacher_rollout_prob),
            ("kl_coeff", kl_coeff),
            ("mse_coeff", mse_coeff),
            ("teacher_pool_num_cpus", teacher_pool_num_cpus),
            ("teacher_pool_max_restarts", teacher_pool_max_restarts),
        ):
            if value is not NotProvided:
                setattr(self, name, str(value) if isinstance(value, Path) else value)
        return self

    def load_teachers(self) -> list[Teacher]:
        """Every task's teacher, in task-id order, checked against the task's spaces.

        Raises:
            TeacherError: a task without a teacher, an unreadable teacher file (named),
                or a teacher whose observation/action shapes differ from its task's.
        """
        if not self.teachers:
            raise TeacherError("distillation needs teachers: .distillation(teachers=...)")
        teachers = []
        for task in self.task_set.names:
            teacher = load_teacher(find_teacher_checkpoint(self.teachers, task), task)
            _check_spaces(teacher)
            teachers.append(teacher)
        return teachers

    @override(A2CConfig)
    def to_dict(self) -> dict:
        """RLlib's, without the pool's name: every Algorithm built from the dict (a
        Tune trial) then names its own pool, so concurrent trials never share one."""
        config = super().to_dict()
        config.pop("teacher_pool_name", None)
        return config

    @override(A2CConfig)
    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.teacher_rollout_prob <= 1.0:
            self._value_error(f"teacher_rollout_prob must be in [0, 1], got "
                              f"{self.teacher_rollout_prob}")  # fmt: skip
        if not self.lean_connectors:
            self._value_error("distillation needs lean_connectors=True")
        self._refuse(
            "distillation",
            {
                "pcgrad": "its loss is not split by task",
                "task_loss_weights": "its loss is not split by task",
                "normalize_rewards": "its loss uses no rewards",
            },
        )
        if not self.in_evaluation:
            self.load_teachers()  # fail before anything is built

    @override(A2CConfig)
    def build_learner_connector(self, input_observation_space, input_action_space, device=None):
        return LearnerConnectorPipeline(
            connectors=[FragmentBatch(), TeacherTargets(pool_name=self.teacher_pool_name)],
            input_observation_space=input_observation_space,
            input_action_space=input_action_space,
        )

    @property
    @override(A2CConfig)
    def model_shape(self) -> MultiTaskModelConfig:
        # The paper's student is an actor only.
        return MultiTaskModelConfig.from_user(
            self._user_model_config(),
            tasks=self.task_set.names,
            critic=False,
            **self._task_shape_keys(),
        )

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from mtrl_ray.algorithms.distill.distill_torch_learner import DistillTorchLearner

        return DistillTorchLearner


def _check_spaces(teacher: Teacher) -> None:
    """The teacher's head acts on its task's own observation/action sizes."""
    policy = TeacherPolicy(teacher)
    theirs, task = ((policy.obs_dim,), (policy.act_dim,)), task_shape(teacher.task)
    if theirs != ((task[0],), (task[1],)):
        raise TeacherError(
            f"teacher {teacher.path} for {teacher.task} has observation/action shapes "
            f"{theirs[0]}/{theirs[1]}, the task has {(task[0],)}/{(task[1],)}"
        )


class Distill(A2C):
    """A2C's rounds with a TeacherPool beside the learner and the KL as the loss."""

    @classmethod
    @override(A2C)
    def get_default_config(cls) -> DistillConfig:
        return DistillConfig()

    @classmethod
    @override(A2C)
    def default_resource_request(cls, config: Any) -> PlacementGroupFactory:
        """A2C's bundles plus one for the TeacherPool actor.

        Under Tune the trial's actors are placed in its placement group, the pool
        too: without a bundle of its own it would wait forever for a CPU. The pool's
        is the last bundle (start_teacher_pool places it there).
        """
        factory = super().default_resource_request(config)
        if isinstance(config, dict):
            config = cls.get_default_config().update_from_dict(config)
        return PlacementGroupFactory(
            bundles=[*factory.bundles, {"CPU": config.teacher_pool_num_cpus}],
            strategy=factory.strategy,
        )

    @override(A2C)
    def setup(self, config: Any) -> None:
        # Before runners and learner: a teacher that does not load stops the run here.
        self.teacher_pool = start_teacher_pool(
            config.load_teachers(),
            name=config.teacher_pool_name,
            num_cpus=config.teacher_pool_num_cpus,
            max_restarts=config.teacher_pool_max_restarts,
            metrics_tags=self.run_tags(),
        )
        super().setup(config)

    @override(A2C)
    def cleanup(self) -> None:
        super().cleanup()
        pool = getattr(self, "teacher_pool", None)
        if pool is not None:
            ray.kill(pool, no_restart=True)
