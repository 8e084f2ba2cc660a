"""A frozen teacher: one task's Gaussian policy, read from a checkpoint without pickle.

A teacher is any mtrl-ray checkpoint with a head for the task: usually a single-task
A2C run, but a multi-task checkpoint's head serves as well. Only two files of the
checkpoint are read: `mtrl_ray.json` (JSON) and `module_weights.pt` (tensors, read
with `torch.load(weights_only=True)`, which refuses pickled code). RLlib's `.pkl`
files are never opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from torch import nn

from mtrl_ray.checkpoints import (
    MANIFEST,
    WEIGHTS,
    CheckpointError,
    newest_checkpoint,
    read_checkpoint,
    read_weights,
)
from mtrl_ray.columns import TASK_ID
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic, MultiTaskModelConfig

if TYPE_CHECKING:
    from ray.rllib.core.rl_module.rl_module import RLModule


class TeacherError(CheckpointError):
    """A teacher that is missing, unreadable, or does not fit the student's tasks."""


@dataclass(frozen=True)
class Teacher:
    """A teacher's policy for one task, as plain data (safe to send between processes).

    Attributes:
        task: The task it teaches.
        head: Its head index in its own checkpoint.
        path: The checkpoint it came from.
        model_config: Its module's model config (JSON form).
        observation_shape: Shape of one observation.
        action_shape: Shape of one action.
        weights: Its actor's tensors (name -> array), normalization statistics included.
    """

    task: str
    head: int
    path: str
    model_config: dict
    observation_shape: tuple[int, ...]
    action_shape: tuple[int, ...]
    weights: dict[str, np.ndarray]


def load_teacher(checkpoint: str | Path, task: str) -> Teacher:
    """Reads the teacher of `task` from a checkpoint (manifest and weights file only).

    Raises:
        TeacherError: naming the file, if it is missing or unreadable or has no head
            for `task`.
    """
    try:
        info = read_checkpoint(checkpoint)
    except CheckpointError as e:
        raise TeacherError(f"teacher for {task}: {e}") from None
    if task not in info.tasks:
        raise TeacherError(
            f"teacher checkpoint {info.path} has no head for {task} (its tasks: "
            f"{', '.join(info.tasks)})"
        )
    if (
        info.observation_shape is None
        or info.action_shape is None
        or not info.weights_path.is_file()
    ):
        raise TeacherError(
            f"teacher checkpoint {info.path} has no {WEIGHTS} (or no spaces in {MANIFEST}): "
            "it predates weights-only checkpoints; add it with `rllib upgrade-checkpoint`"
        )
    try:
        tensors = read_weights(info, what="teacher weights")
    except CheckpointError as e:
        raise TeacherError(str(e)) from None
    weights = {k: v.numpy() for k, v in tensors.items() if not k.startswith("critic")}
    teacher = Teacher(
        task=task,
        head=info.tasks.index(task),
        path=str(info.path),
        model_config=info.model_config,
        observation_shape=info.observation_shape,
        action_shape=info.action_shape,
        weights=weights,
    )
    try:  # here, not first in the TeacherPool actor: a tensor of the wrong shape
        TeacherPolicy(teacher)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1].strip()
        raise TeacherError(
            f"teacher {info.weights_path} does not fit its manifest: {reason}"
        ) from None
    return teacher


class TeacherPolicy(nn.Module):
    """A teacher's frozen Gaussian policy: raw observations -> (mean, log_std).

    It normalizes observations with the teacher's own saved statistics. It also
    answers `forward_exploration`/`forward_inference` like an RLModule, so that an
    EnvRunner can act with it; the batch's task id (the student's) passes through
    unchanged, so teacher-driven samples reach the student's learner as the task's.
    """

    def __init__(self, teacher: Teacher):
        super().__init__()
        self.task = teacher.task
        self.head = teacher.head
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, teacher.observation_shape)
        self.action_space = gym.spaces.Box(-1.0, 1.0, teacher.action_shape)
        config = MultiTaskModelConfig.from_dict(teacher.model_config)
        self.policy = MultiTaskActorCritic(
            observation_space=self.observation_space,
            action_space=self.action_space,
            inference_only=True,
            model_config={**teacher.model_config, "critic": False, "tasks": list(config.tasks)},
        )
        # The actor's tensors only: a checkpoint may hold more (e.g. APPO's target copy).
        own = self.policy.state_dict()
        missing = sorted(set(own) - set(teacher.weights))
        if missing:
            raise TeacherError(f"teacher {teacher.path} lacks tensors {missing}")
        state = {k: torch.from_numpy(np.array(teacher.weights[k])) for k in own}
        self.policy.load_state_dict(state, strict=True)
        self.requires_grad_(False)
        self.eval()
        sizes = config.task_sizes(self.observation_space, self.action_space)
        #: The task's own observation and action sizes (a teacher across body
        #: families acts in padded spaces; it takes and gives its task's own dims).
        self.obs_dim, self.act_dim = list(sizes.values())[teacher.head]
        self._student: tuple[int, bool] | None = None

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std), each (B, own act_dim), of the teacher's Gaussian at raw `obs`.

        `obs` holds the task's own observation in its first columns (any padding after).
        """
        own = obs[:, : self.obs_dim]
        padded = self.observation_space.shape[0]
        if padded > self.obs_dim:
            own = nn.functional.pad(own, (0, padded - self.obs_dim))
        head = torch.full((obs.shape[0],), self.head, dtype=torch.long)
        params = self.policy.forward_inference({Columns.OBS: own, TASK_ID: head})
        dist, width = params[Columns.ACTION_DIST_INPUTS], self.action_space.shape[0]
        return dist[:, : self.act_dim], dist[:, width : width + self.act_dim]

    def act_for(self, student: RLModule) -> TeacherPolicy:
        """Makes `forward_exploration` answer in the student module's layout (its padded
        action size and, across body families, the mask of the task's dims)."""
        masked = bool(getattr(getattr(student, "cfg", None), "mixed", False))
        self._student = (int(student.action_space.shape[0]), masked)
        return self

    def forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """What an EnvRunner calls to act: the teacher's Gaussian, the student's task id."""
        mean, log_std = self(batch[Columns.OBS])
        parts = [mean, log_std]
        if self._student is not None:
            width, masked = self._student
            pad = width - self.act_dim
            parts = [nn.functional.pad(p, (0, pad)) for p in parts]
            if masked:
                parts.append(nn.functional.pad(torch.ones_like(mean), (0, pad)))
        return {Columns.ACTION_DIST_INPUTS: torch.cat(parts, -1), TASK_ID: batch[TASK_ID]}

    forward_inference = forward_exploration


def find_teacher_checkpoint(teachers: str | Path | dict[str, str], task: str) -> Path:
    """Where the teacher of `task` is, given a folder of teachers or a {task: path} dict.

    In a folder, the teacher of task T is `T/` or `teacher_T/` (as written by
    `tuned_examples/a2c/halfcheetah_teachers.py`): a checkpoint itself, or a run
    folder whose newest checkpoint is taken.

    Raises:
        TeacherError: if no teacher is found for the task.
    """
    if isinstance(teachers, dict):
        if task not in teachers:
            raise TeacherError(f"no teacher for task {task} (teachers given for: "
                               f"{', '.join(teachers) or 'none'})")  # fmt: skip
        return Path(teachers[task]).expanduser()
    root = Path(teachers).expanduser()
    for candidate in (root / task, root / f"teacher_{task}"):
        found = newest_checkpoint(candidate)
        if found is not None:
            return found
    raise TeacherError(f"no teacher for task {task} in {root} (looked for {task}/ and "
                       f"teacher_{task}/ holding an mtrl-ray checkpoint)")  # fmt: skip
