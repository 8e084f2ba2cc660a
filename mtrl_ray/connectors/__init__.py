"""Connector pieces: task ids and lean sampling on runners; batches and targets on learners.

Runner side: `AddTaskId` (with RLlib's pipelines), `lean_gaussian` (the lean
pipelines). Learner side: `fragment_batch` (the train batch from fragments),
`NStepReturns`, `teacher_targets` (distillation), `return_scaler` (reward
normalization, applied on the runner). The per-task observation statistics live
in the module (`mtrl_ray.modules.observation_normalizer`), not in a connector.
"""

from mtrl_ray.connectors.add_task_id import AddTaskId, task_id_connector
from mtrl_ray.connectors.n_step_returns import NStepReturns

__all__ = ["AddTaskId", "NStepReturns", "task_id_connector"]
