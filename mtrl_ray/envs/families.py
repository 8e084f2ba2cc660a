"""Every gym-extensions MuJoCo variant family, their envs and their registration.

Body-part families (Small = 0.75, Big = 1.25 times the named geoms' `size`), with the
geoms gym-extensions names for each part:

- HalfCheetah (10): see `mtrl_ray.envs.variants`.
- Hopper (8): Foot, Leg, Thigh, Torso: one geom each (`foot_geom`, ...).
- Walker2d (8): Foot, Leg, Thigh (both sides: `foot_geom` and `foot_left_geom`, ...),
  Torso (`torso_geom`).
- Humanoid (14): Foot (left_foot, right_foot), Leg (the two shins), Thigh (the two
  thighs and `butt`), Torso (torso1, uwaist, lwaist), Head, Arm (upper and lower
  arms), Hand.

Gravity families (4 each, for all four runners): g times 0.5, 0.75, 1.25, 1.5, named
`<Runner>GravityHalf-v0`, `ThreeQuarters`, `OneAndQuarter`, `OneAndHalf`.

Differences from gym-extensions: the models are gymnasium's v5 files (gym-extensions
used gym's 2017 ones; Walker2d-v5's model gives both feet the same friction);
Hopper and Walker2d scale the capsules' radius only, because gymnasium's files hold
the lengths in `size` where gym's 2017 files set them with `fromto`, which
gym-extensions left alone (see `mtrl_ray.envs.morphology`).
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.utils import EzPickle

from mtrl_ray.envs.morphology import (
    RUNNERS,
    MorphologyVariant,
    base_variant,
    compile_model,
    gravity_variants,
    model_xml,
    part_variants,
)
from mtrl_ray.envs.variants import NAMESPACE, VARIANTS, UnknownVariantError

_LEGS = {
    "Foot": ("foot_geom", "foot_left_geom"),
    "Leg": ("leg_geom", "leg_left_geom"),
    "Thigh": ("thigh_geom", "thigh_left_geom"),
    "Torso": ("torso_geom",),
}
#: The geoms each body part covers, per runner, as in gym-extensions.
BODY_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "Hopper": {part: geoms[:1] for part, geoms in _LEGS.items()},
    "Walker2d": _LEGS,
    "Humanoid": {
        "Torso": ("torso1", "uwaist", "lwaist"),
        "Thigh": ("right_thigh1", "left_thigh1", "butt"),
        "Leg": ("right_shin1", "left_shin1"),
        "Foot": ("left_foot", "right_foot"),
        "Head": ("head",),
        "Arm": ("right_uarm1", "right_larm", "left_uarm1", "left_larm"),
        "Hand": ("left_hand", "right_hand"),
    },
}

#: Every family's variants by name: "HalfCheetah" (`VARIANTS`), "Hopper", "Walker2d",
#: "Humanoid", and "<Runner>Gravity" for each runner.
FAMILIES: dict[str, dict[str, MorphologyVariant]] = {
    "HalfCheetah": VARIANTS,
    **{runner: part_variants(runner, parts) for runner, parts in BODY_PARTS.items()},
    **{f"{runner}Gravity": gravity_variants(runner) for runner in RUNNERS},
}
#: All variants of all families, by name.
ALL_VARIANTS: dict[str, MorphologyVariant] = {
    name: variant for family in FAMILIES.values() for name, variant in family.items()
}


def get_variant(name: str) -> MorphologyVariant:
    """Returns the variant `name` (plain or `mtrl_ray/`-namespaced) of any family.

    Raises:
        UnknownVariantError: with the valid names of the runner `name` starts with
            (HalfCheetah's if none).
    """
    plain = name.removeprefix(f"{NAMESPACE}/")
    if plain not in ALL_VARIANTS:
        runner = next((r for r in RUNNERS if plain.startswith(r)), "HalfCheetah")
        valid = [n for n in ALL_VARIANTS if ALL_VARIANTS[n].runner == runner]
        raise UnknownVariantError(
            f"unknown {runner} variant {name!r}; valid: {', '.join(valid)} "
            f"(families: {', '.join(FAMILIES)})"
        )
    return ALL_VARIANTS[plain]


def _resolve(name: str) -> MorphologyVariant:
    """A variant, or a runner's base model by its base id (e.g. "HalfCheetah-v5")."""
    for runner in RUNNERS.values():
        if name == runner.base_id:
            return base_variant(runner.name)
    return get_variant(name)


def scaled_model_xml(name: str, keep_settotalmass: bool = False) -> str:
    """The model XML of a variant or base id (see `morphology.model_xml`)."""
    return model_xml(_resolve(name), keep_settotalmass)


def load_model(name: str) -> mujoco.MjModel:
    """Compiles a variant or a base id ("HalfCheetah-v5": total mass set to 14 kg)."""
    return compile_model(_resolve(name))


class _VariantEnv:
    """Mixin that builds a gymnasium v5 runner env on a variant's model.

    Constructor arguments are keyword-only, and are what pickle and deepcopy replay
    (the v5 env's own EzPickle records its positional arguments, which this class's
    constructor does not take).
    """

    runner: str
    #: Offscreen render size, set by the runner's MujocoEnv constructor.
    width: int
    height: int

    def __init__(self, *, variant: str, **kwargs):
        if "xml_file" in kwargs:
            raise TypeError("a variant env builds its own model: xml_file is not accepted")
        self.variant = get_variant(variant)
        if self.variant.runner != self.runner:
            raise ValueError(f"{variant!r} is not a {self.runner} variant")
        super().__init__(**kwargs)
        assert isinstance(self, EzPickle)  # mixed into a v5 runner env (an EzPickle)
        EzPickle.__init__(self, variant=self.variant.name, **kwargs)

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        model = compile_model(self.variant)
        model.vis.global_.offwidth = self.width
        model.vis.global_.offheight = self.height
        return model, mujoco.MjData(model)


class HalfCheetahVariantEnv(_VariantEnv, HalfCheetahEnv):
    """HalfCheetah-v5 on a variant's model (all v5 options kept)."""

    runner = "HalfCheetah"


class HopperVariantEnv(_VariantEnv, HopperEnv):
    """Hopper-v5 on a variant's model (all v5 options kept)."""

    runner = "Hopper"


class Walker2dVariantEnv(_VariantEnv, Walker2dEnv):
    """Walker2d-v5 on a variant's model (all v5 options kept)."""

    runner = "Walker2d"


class HumanoidVariantEnv(_VariantEnv, HumanoidEnv):
    """Humanoid-v5 on a variant's model (all v5 options kept)."""

    runner = "Humanoid"


def register_variants() -> None:
    """Registers every variant as `<name>` and `mtrl_ray/<name>` (idempotent)."""
    for name, variant in ALL_VARIANTS.items():
        runner = RUNNERS[variant.runner]
        for env_id in (name, f"{NAMESPACE}/{name}"):
            if env_id not in gym.envs.registry:
                gym.register(
                    env_id,
                    entry_point=runner.entry_point,
                    kwargs={"variant": name},
                    max_episode_steps=gym.spec(runner.base_id).max_episode_steps,
                )


def canonical_task_name(name: str) -> str:
    """Returns the plain variant name (any family) for a namespaced one; other ids unchanged.

    Raises:
        UnknownVariantError: if `name` is neither a variant nor a registered gymnasium id.
    """
    plain = name.removeprefix(f"{NAMESPACE}/")
    if plain in ALL_VARIANTS:
        return plain
    if name in gym.envs.registry:
        return name
    raise UnknownVariantError(
        f"unknown task {name!r}; valid variants: {', '.join(VARIANTS)} "
        f"(and the families {', '.join(FAMILIES)}; or any registered gymnasium id)"
    )


def make_env(name: str, **kwargs) -> gym.Env:
    """`gymnasium.make` of a variant (plain or namespaced) or any registered id.

    Raises:
        UnknownVariantError: if `name` is neither; the message lists the variants.
    """
    return gym.make(canonical_task_name(name), **kwargs)
