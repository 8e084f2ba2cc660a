"""The HalfCheetah morphology variants of gym-extensions (Henderson et al., 2017).

The family the paper trains on. Each variant multiplies every number in the `size` of
some named geoms of gymnasium's HalfCheetah-v5 model by a scale. Masses follow from
geom volumes, and then, as in gym's model file of the paper's time
(`settotalmass="14"`), the total mass is renormalized to 14 kg, so parts that were not
scaled change mass too (done explicitly: see `mtrl_ray.envs.morphology`).

`VARIANTS` holds these ten only; the other families (Hopper, Walker2d, Humanoid, and
gravity) are in `mtrl_ray.envs.families`.
"""

from __future__ import annotations

from mtrl_ray.envs.morphology import RUNNERS, MorphologyVariant, part_variants

#: Total mass (kg) of the HalfCheetah model after renormalization.
_HALF_CHEETAH_MASS = RUNNERS["HalfCheetah"].total_mass
assert _HALF_CHEETAH_MASS is not None  # the HalfCheetah runner renormalizes its mass
TOTAL_MASS: float = _HALF_CHEETAH_MASS
NAMESPACE = "mtrl_ray"


class UnknownVariantError(ValueError):
    """A variant or task name that does not exist."""


#: The geoms each body part covers, as in gym-extensions.
HALF_CHEETAH_PARTS: dict[str, tuple[str, ...]] = {
    "Foot": ("ffoot", "bfoot"),
    "Leg": ("fshin", "bshin"),
    "Thigh": ("fthigh", "bthigh"),
    "Torso": ("torso",),
    "Head": ("head",),
}

#: All ten HalfCheetah variants, by name.
VARIANTS: dict[str, MorphologyVariant] = part_variants("HalfCheetah", HALF_CHEETAH_PARTS)
#: The six variants the paper trains on, in the paper's order.
PAPER_TASKS: tuple[str, ...] = (
    "HalfCheetahSmallFoot-v0",
    "HalfCheetahBigFoot-v0",
    "HalfCheetahSmallLeg-v0",
    "HalfCheetahSmallThigh-v0",
    "HalfCheetahSmallTorso-v0",
    "HalfCheetahBigTorso-v0",
)
#: Variants the paper never trains on: natural held-out tasks.
HELD_OUT_TASKS: tuple[str, ...] = tuple(v for v in VARIANTS if v not in PAPER_TASKS)


def base_model_path() -> str:
    """Path of gymnasium's half_cheetah.xml."""
    return RUNNERS["HalfCheetah"].xml_path
