"""Environments: the gym-extensions MuJoCo variant families, and a cheap test task.

Importing this package registers every variant with gymnasium, as
"HalfCheetahBigFoot-v0" and "mtrl_ray/HalfCheetahBigFoot-v0": the ten HalfCheetah
morphology variants the paper uses (`VARIANTS`), and the Hopper, Walker2d and
Humanoid body-part and the gravity families (`FAMILIES`, `ALL_VARIANTS`). It also
registers "mtrl_ray/PointMass-v0". `shapes` pads the spaces of task sets that mix
body families.
"""

from mtrl_ray.envs import point_mass  # noqa: F401  (registers PointMass-v0)
from mtrl_ray.envs.families import (
    ALL_VARIANTS,
    BODY_PARTS,
    FAMILIES,
    HalfCheetahVariantEnv,
    HopperVariantEnv,
    HumanoidVariantEnv,
    Walker2dVariantEnv,
    get_variant,
    load_model,
    make_env,
    register_variants,
)
from mtrl_ray.envs.morphology import RUNNERS, MorphologyVariant, Runner
from mtrl_ray.envs.shapes import PadSpaces, TaskShapes, body_family, task_shape, task_shapes
from mtrl_ray.envs.variants import (
    HELD_OUT_TASKS,
    NAMESPACE,
    PAPER_TASKS,
    TOTAL_MASS,
    VARIANTS,
    UnknownVariantError,
)

register_variants()

__all__ = [
    "ALL_VARIANTS",
    "BODY_PARTS",
    "FAMILIES",
    "HELD_OUT_TASKS",
    "NAMESPACE",
    "PAPER_TASKS",
    "RUNNERS",
    "TOTAL_MASS",
    "VARIANTS",
    "HalfCheetahVariantEnv",
    "HopperVariantEnv",
    "HumanoidVariantEnv",
    "MorphologyVariant",
    "PadSpaces",
    "Runner",
    "TaskShapes",
    "UnknownVariantError",
    "Walker2dVariantEnv",
    "body_family",
    "get_variant",
    "load_model",
    "make_env",
    "register_variants",
    "task_shape",
    "task_shapes",
]
