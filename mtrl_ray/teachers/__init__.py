"""Frozen per-task teachers and the `TeacherPool` actor that serves them."""

from mtrl_ray.teachers.teacher import (
    Teacher,
    TeacherError,
    TeacherPolicy,
    find_teacher_checkpoint,
    load_teacher,
)
from mtrl_ray.teachers.teacher_pool import POOL_NAME_PREFIX, TeacherPool, start_teacher_pool

__all__ = [
    "POOL_NAME_PREFIX",
    "Teacher",
    "TeacherError",
    "TeacherPolicy",
    "TeacherPool",
    "find_teacher_checkpoint",
    "load_teacher",
    "start_teacher_pool",
]
