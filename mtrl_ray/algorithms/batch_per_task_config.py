"""Train batches sized per task, for RLlib algorithms whose updates mix all tasks.

RLlib's PPO and APPO take one train batch of all tasks' samples per update. Sizing
it per task (`train_batch_size_per_task` x number of tasks) keeps each head's fresh
data per update, and the number of updates per 1M frames per task, independent of
how many tasks share the module. A2C's per-task knobs (`multi_task_update`,
`updates_per_iteration`), which the command line's --update and
--updates-per-iteration set, are refused with a clear message.
"""

from __future__ import annotations

from ray.rllib.algorithms.algorithm_config import NotProvided

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.algorithms.pinned_tasks_config import PinnedTasksConfig


class BatchPerTaskConfig(PinnedTasksConfig):
    """Mixin for PPO- and APPO-style configs: `train_batch_size_per_task`."""

    train_batch_size_per_task: int

    def _set_per_task_batch(
        self,
        algorithm: str,
        train_batch_size_per_task: int,
        multi_task_update: str,
        updates_per_iteration: int,
        instead: str,
    ) -> None:
        """Takes the per-task batch size; refuses A2C's knobs, naming `instead`."""
        if multi_task_update is not NotProvided and multi_task_update != "joint":
            raise ValueError(
                f"{algorithm} updates all tasks jointly; "
                f"multi_task_update={multi_task_update!r} is an A2C setting"
            )
        if updates_per_iteration is not NotProvided:
            raise ValueError(f"updates_per_iteration is an A2C setting; {instead}")
        if train_batch_size_per_task is not NotProvided:
            self.train_batch_size_per_task = train_batch_size_per_task

    @property
    def train_batch_size_per_learner(self) -> int:
        """The explicit setting, else `train_batch_size_per_task` x number of tasks."""
        explicit = compat.explicit_train_batch_size_per_learner(self)
        if explicit is not None:
            return explicit
        return self.train_batch_size_per_task * len(self.task_set)

    @train_batch_size_per_learner.setter
    def train_batch_size_per_learner(self, value: int | None) -> None:
        compat.set_train_batch_size_per_learner(self, value)

    def _validate_per_task_batch(self) -> None:
        """Pinned runners as for every algorithm, and a positive per-task batch."""
        self._validate_pinned_runners()
        if self.train_batch_size_per_task < 1:
            self._value_error("train_batch_size_per_task must be >= 1")
