"""The multi-head actor-critic RLModule and its building blocks."""

from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic, module_spec
from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer
from mtrl_ray.modules.task_layers import TaskLinear, TaskMLP

__all__ = [
    "MultiTaskActorCritic",
    "TaskLinear",
    "TaskMLP",
    "TaskObservationNormalizer",
    "module_spec",
]
