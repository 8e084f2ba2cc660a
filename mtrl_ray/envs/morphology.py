"""The one mechanism behind every gym-extensions variant: scaled geoms, total mass, gravity.

A variant is a runner's gymnasium v5 model with
- the `size` of some named geoms multiplied by a scale (0.75 "Small", 1.25 "Big"),
  masses following from the geom volumes;
- or its gravity (`model.opt.gravity`) multiplied by a factor.

Which numbers of `size` are scaled follows what gym-extensions scaled in gym's model
files of 2017 (the `Runner.scale_lengths` field): every number for HalfCheetah (its
capsules held their half-length in `size` then as now) and Humanoid (its capsules are
`fromto`, whose half-length MuJoCo takes from the endpoints, so only the radius
changes); the radius only for Hopper and Walker2d, whose 2017 files set every
capsule's length with `fromto` while gymnasium's files hold it in `size`.

Total mass: gymnasium's (and gym's 2017) `half_cheetah.xml` carries
`<compiler settotalmass="14">`, so after scaling a HalfCheetah the total is
renormalized to 14 kg and the unscaled parts change mass too. MuJoCo 4.0 deprecates
the attribute (a warning and a `MUJOCO_LOG.TXT` in the working directory), so it is
removed from the XML and the renormalization is done explicitly with `mj_setTotalmass`
and `mj_setConst`, which is what the attribute did. `hopper.xml`, `walker2d_v5.xml`
and `humanoid.xml` carry no such attribute (nor did gym's 2017 files): a bigger part
adds mass, and the unscaled parts keep theirs exactly.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache

import gymnasium as gym
import gymnasium.envs.mujoco
import mujoco


@dataclass(frozen=True)
class Runner:
    """A gymnasium v5 runner whose model the variants modify.

    Attributes:
        name: Name prefix of its variants, e.g. "Hopper".
        base_id: Gymnasium id of the unmodified env, e.g. "Hopper-v5".
        xml_file: The v5 env's model file in gymnasium's MuJoCo assets.
        entry_point: "module:Class" of the variant env (a string, so specs serialize).
        total_mass: Kilograms the model is renormalized to after scaling (the file's
            `settotalmass`), or None: masses follow from the geom volumes alone.
        scale_lengths: Scale every number in a geom's `size`; False scales the radius
            (the first number) only.
    """

    name: str
    base_id: str
    xml_file: str
    entry_point: str
    total_mass: float | None
    scale_lengths: bool

    @property
    def xml_path(self) -> str:
        """Path of the model file in gymnasium's assets."""
        return os.path.join(os.path.dirname(gym.envs.mujoco.__file__), "assets", self.xml_file)


_ENVS = "mtrl_ray.envs.families"
RUNNERS: dict[str, Runner] = {
    r.name: r
    for r in (
        Runner("HalfCheetah", "HalfCheetah-v5", "half_cheetah.xml",
               f"{_ENVS}:HalfCheetahVariantEnv", 14.0, scale_lengths=True),
        Runner("Hopper", "Hopper-v5", "hopper.xml",
               f"{_ENVS}:HopperVariantEnv", None, scale_lengths=False),
        Runner("Walker2d", "Walker2d-v5", "walker2d_v5.xml",
               f"{_ENVS}:Walker2dVariantEnv", None, scale_lengths=False),
        Runner("Humanoid", "Humanoid-v5", "humanoid.xml",
               f"{_ENVS}:HumanoidVariantEnv", None, scale_lengths=True),
    )
}  # fmt: skip


@dataclass(frozen=True)
class MorphologyVariant:
    """One variant of a runner (the unmodified base model when nothing is scaled).

    Attributes:
        name: Gymnasium id, e.g. "HalfCheetahBigFoot-v0".
        runner: Name of the runner in `RUNNERS`, e.g. "HalfCheetah".
        geoms: Names of the geoms whose `size` is scaled.
        scale: Factor applied to those geoms' `size` (see `Runner.scale_lengths`).
        gravity: Factor applied to the model's gravity vector.
    """

    name: str
    runner: str
    geoms: tuple[str, ...] = ()
    scale: float = 1.0
    gravity: float = 1.0


#: Size prefixes and scales, as gym-extensions names them.
SIZES: dict[str, float] = {"Small": 0.75, "Big": 1.25}
#: Gravity suffixes and factors on g, as gym-extensions names them.
GRAVITIES: dict[str, float] = {
    "Half": 0.5,
    "ThreeQuarters": 0.75,
    "OneAndQuarter": 1.25,
    "OneAndHalf": 1.5,
}


def part_variants(runner: str, parts: dict[str, tuple[str, ...]]) -> dict[str, MorphologyVariant]:
    """Small and Big variants of each body part, e.g. "HopperSmallFoot-v0", by name."""
    variants = (
        MorphologyVariant(f"{runner}{size}{part}-v0", runner, geoms, scale)
        for part, geoms in parts.items()
        for size, scale in SIZES.items()
    )
    return {v.name: v for v in variants}


def gravity_variants(runner: str) -> dict[str, MorphologyVariant]:
    """The four gravity variants, e.g. "HopperGravityHalf-v0", by name."""
    variants = (
        MorphologyVariant(f"{runner}Gravity{suffix}-v0", runner, gravity=factor)
        for suffix, factor in GRAVITIES.items()
    )
    return {v.name: v for v in variants}


def base_variant(runner: str) -> MorphologyVariant:
    """The runner's unmodified model, named by its base id (e.g. "Hopper-v5")."""
    return MorphologyVariant(RUNNERS[runner].base_id, runner)


@cache
def model_xml(variant: MorphologyVariant, keep_settotalmass: bool = False) -> str:
    """The variant's model XML: geoms scaled, `settotalmass` removed (unless kept).

    Args:
        variant: The variant.
        keep_settotalmass: Keep MuJoCo's deprecated attribute (only to compare
            against MuJoCo's own renormalization in tests).

    Raises:
        RuntimeError: if a named geom is not in the runner's model file.
    """
    runner = RUNNERS[variant.runner]
    tree = ET.parse(runner.xml_path)
    found = set()
    for geom in tree.iter("geom"):
        if geom.get("name") in variant.geoms:
            size = geom.get("size")
            if size is None:
                raise RuntimeError(f"geom {geom.get('name')!r} has no size in {runner.xml_path}")
            sizes = [float(x) for x in size.split()]
            n = len(sizes) if runner.scale_lengths else 1
            sizes[:n] = [s * variant.scale for s in sizes[:n]]
            geom.set("size", " ".join(repr(s) for s in sizes))
            found.add(geom.get("name"))
    if found != set(variant.geoms):
        raise RuntimeError(f"geoms {set(variant.geoms) - found} not in {runner.xml_path}")
    if not keep_settotalmass:
        for compiler in tree.iter("compiler"):
            compiler.attrib.pop("settotalmass", None)
    return ET.tostring(tree.getroot(), encoding="unicode")


def compile_model(variant: MorphologyVariant) -> mujoco.MjModel:
    """Compiles a variant: scaled geoms, total mass renormalized if the runner's is, gravity."""
    model = mujoco.MjModel.from_xml_string(model_xml(variant))
    total_mass = RUNNERS[variant.runner].total_mass
    if total_mass is not None:
        mujoco.mj_setTotalmass(model, total_mass)
        mujoco.mj_setConst(model, mujoco.MjData(model))  # recompute mass-derived constants
    model.opt.gravity[:] = model.opt.gravity * variant.gravity
    return model
