"""Multi-task distillation from per-task teachers served by a TeacherPool actor."""

from mtrl_ray.algorithms.distill.distill import Distill, DistillConfig

__all__ = ["Distill", "DistillConfig"]
