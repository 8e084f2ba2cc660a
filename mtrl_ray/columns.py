"""Batch columns of the project's own (RLlib's are in `ray.rllib.core.columns.Columns`)."""

#: Each sample's task id (int64): index in the TaskSet = head index.
TASK_ID = "task_id"
