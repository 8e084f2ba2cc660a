"""Environments: the ten HalfCheetah morphology variants, and a cheap test task.

Importing this package registers the variants with gymnasium, as
"HalfCheetahBigFoot-v0" and "mtrl_ray/HalfCheetahBigFoot-v0", and registers
"mtrl_ray/PointMass-v0".
"""

from mtrl_ray.envs import point_mass  # noqa: F401  (registers PointMass-v0)
from mtrl_ray.envs.variants import (
    HELD_OUT_TASKS,
    NAMESPACE,
    PAPER_TASKS,
    TOTAL_MASS,
    VARIANTS,
    HalfCheetahVariantEnv,
    MorphologyVariant,
    UnknownVariantError,
    get_variant,
    load_model,
    make_env,
    register_variants,
)

register_variants()

__all__ = [
    "HELD_OUT_TASKS",
    "NAMESPACE",
    "PAPER_TASKS",
    "TOTAL_MASS",
    "VARIANTS",
    "HalfCheetahVariantEnv",
    "MorphologyVariant",
    "UnknownVariantError",
    "get_variant",
    "load_model",
    "make_env",
    "register_variants",
]
