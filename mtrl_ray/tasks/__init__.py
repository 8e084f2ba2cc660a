"""Tasks: the ordered set of environment variants of one experiment, and runner pinning."""

from mtrl_ray.columns import TASK_ID
from mtrl_ray.tasks.pinning import PINNED_ENV, TaskIdWrapper, make_pinned_env
from mtrl_ray.tasks.task_set import TaskSet

__all__ = ["PINNED_ENV", "TASK_ID", "TaskIdWrapper", "TaskSet", "make_pinned_env"]
