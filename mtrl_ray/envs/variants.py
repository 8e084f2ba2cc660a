"""The HalfCheetah morphology variants of gym-extensions (Henderson et al., 2017).

Each variant multiplies every number in the `size` of some named geoms of
gymnasium's HalfCheetah-v5 model by a scale. Masses follow from geom volumes,
and then, as in gym's model file of the paper's time (`settotalmass="14"`), the
total mass is renormalized to 14 kg, so parts that were not scaled change mass
too. MuJoCo 4.0 deprecates that XML attribute (with a warning and a
`MUJOCO_LOG.TXT` in the working directory), so it is removed from the XML and the
renormalization is done explicitly on the compiled model with `mj_setTotalmass`
and `mj_setConst`, which is what the attribute did.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache

import gymnasium as gym
import mujoco
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

#: Total mass (kg) of the HalfCheetah model after renormalization.
TOTAL_MASS = 14.0
NAMESPACE = "mtrl_ray"


class UnknownVariantError(ValueError):
    """A variant or task name that does not exist."""


@dataclass(frozen=True)
class MorphologyVariant:
    """One morphology variant.

    Attributes:
        name: Gymnasium id, e.g. "HalfCheetahBigFoot-v0".
        geoms: Names of the geoms whose `size` is scaled.
        scale: Factor applied to every number in those geoms' `size`.
    """

    name: str
    geoms: tuple[str, ...]
    scale: float


_PARTS = {
    "Foot": ("ffoot", "bfoot"),
    "Leg": ("fshin", "bshin"),
    "Thigh": ("fthigh", "bthigh"),
    "Torso": ("torso",),
    "Head": ("head",),
}
_SIZES = {"Small": 0.75, "Big": 1.25}

#: All ten variants, by name.
VARIANTS: dict[str, MorphologyVariant] = {
    f"HalfCheetah{size}{part}-v0": MorphologyVariant(f"HalfCheetah{size}{part}-v0", geoms, scale)
    for part, geoms in _PARTS.items()
    for size, scale in _SIZES.items()
}
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


def get_variant(name: str) -> MorphologyVariant:
    """Returns the variant `name` (plain or `mtrl_ray/`-namespaced).

    Raises:
        UnknownVariantError: with the list of valid names.
    """
    plain = name.removeprefix(f"{NAMESPACE}/")
    if plain not in VARIANTS:
        raise UnknownVariantError(
            f"unknown HalfCheetah variant {name!r}; valid: {', '.join(VARIANTS)}"
        )
    return VARIANTS[plain]


def base_model_path() -> str:
    """Path of gymnasium's half_cheetah.xml."""
    return os.path.join(os.path.dirname(gym.envs.mujoco.__file__), "assets", "half_cheetah.xml")


@cache
def scaled_model_xml(name: str, keep_settotalmass: bool = False) -> str:
    """The variant's model XML: geoms scaled, `settotalmass` removed (unless kept).

    Args:
        name: Variant name; "HalfCheetah-v5" gives the unscaled base model.
        keep_settotalmass: Keep MuJoCo's deprecated attribute (only to compare
            against MuJoCo's own renormalization in tests).
    """
    tree = ET.parse(base_model_path())
    if name != "HalfCheetah-v5":
        variant = get_variant(name)
        found = set()
        for geom in tree.iter("geom"):
            if geom.get("name") in variant.geoms:
                sizes = (float(x) * variant.scale for x in geom.get("size").split())
                geom.set("size", " ".join(repr(s) for s in sizes))
                found.add(geom.get("name"))
        if found != set(variant.geoms):
            raise RuntimeError(f"geoms {set(variant.geoms) - found} not in {base_model_path()}")
    if not keep_settotalmass:
        for compiler in tree.iter("compiler"):
            compiler.attrib.pop("settotalmass", None)
    return ET.tostring(tree.getroot(), encoding="unicode")


def load_model(name: str) -> mujoco.MjModel:
    """Compiles a variant (or "HalfCheetah-v5") with its total mass set to 14 kg."""
    model = mujoco.MjModel.from_xml_string(scaled_model_xml(name))
    mujoco.mj_setTotalmass(model, TOTAL_MASS)
    mujoco.mj_setConst(model, mujoco.MjData(model))  # recompute mass-derived constants
    return model


class HalfCheetahVariantEnv(HalfCheetahEnv):
    """HalfCheetah-v5 with a morphology variant's model (all v5 options kept)."""

    def __init__(self, variant: str, **kwargs):
        self.variant = get_variant(variant)
        super().__init__(**kwargs)

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        model = load_model(self.variant.name)
        model.vis.global_.offwidth = self.width
        model.vis.global_.offheight = self.height
        return model, mujoco.MjData(model)


def register_variants() -> None:
    """Registers every variant as `<name>` and `mtrl_ray/<name>` (idempotent)."""
    for name in VARIANTS:
        for env_id in (name, f"{NAMESPACE}/{name}"):
            if env_id not in gym.envs.registry:
                gym.register(
                    env_id,
                    entry_point=HalfCheetahVariantEnv,
                    kwargs={"variant": name},
                    max_episode_steps=1000,
                )


def canonical_task_name(name: str) -> str:
    """Returns the plain variant name for a namespaced one; other ids unchanged.

    Raises:
        UnknownVariantError: if `name` is neither a variant nor a registered gymnasium
            id; the message lists the variants.
    """
    plain = name.removeprefix(f"{NAMESPACE}/")
    if plain in VARIANTS:
        return plain
    if name in gym.envs.registry:
        return name
    raise UnknownVariantError(
        f"unknown task {name!r}; valid variants: {', '.join(VARIANTS)} "
        "(or any registered gymnasium id)"
    )


def make_env(name: str, **kwargs) -> gym.Env:
    """`gymnasium.make` of a variant (plain or namespaced) or any registered id.

    Raises:
        UnknownVariantError: if `name` is neither; the message lists the variants.
    """
    return gym.make(canonical_task_name(name), **kwargs)
