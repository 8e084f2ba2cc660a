"""Multi-task APPO: RLlib's APPO on pinned runners with the multi-head module."""

from mtrl_ray.algorithms.appo.multi_task_appo import MultiTaskAPPO, MultiTaskAPPOConfig

__all__ = ["MultiTaskAPPO", "MultiTaskAPPOConfig"]
