"""Connector pieces: task ids on runners, n-step returns and statistics on learners."""

from mtrl_ray.connectors.add_task_id import AddTaskId, task_id_connector
from mtrl_ray.connectors.n_step_returns import NStepReturns

__all__ = ["AddTaskId", "NStepReturns", "task_id_connector"]
