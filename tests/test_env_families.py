"""All gym-extensions variant families: names, geometry, masses, gravity, pickling, rendering.

MuJoCo only (no Ray). Expected values come from gym-extensions' own table (copied
below), gymnasium's model files compiled directly, and the volume formulas of
capsules and spheres, not from the code under test.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import xml.etree.ElementTree as ET

# Headless rendering: set before gymnasium's renderer imports mujoco's GL backend.
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mtrl_ray  # noqa: E402, F401  (registers the variants)
from mtrl_ray.envs import (  # noqa: E402
    ALL_VARIANTS,
    FAMILIES,
    RUNNERS,
    VARIANTS,
    HopperVariantEnv,
    UnknownVariantError,
    get_variant,
    make_env,
)

ASSETS = os.path.join(os.path.dirname(gym.envs.mujoco.__file__), "assets")
#: gym-extensions' geoms per body part (gym_extensions/continuous/mujoco/__init__.py).
GYM_EXTENSIONS_PARTS = {
    "HalfCheetah": {
        "Torso": {"torso"}, "Thigh": {"fthigh", "bthigh"}, "Leg": {"fshin", "bshin"},
        "Foot": {"ffoot", "bfoot"}, "Head": {"head"},
    },
    "Hopper": {
        "Torso": {"torso_geom"}, "Thigh": {"thigh_geom"}, "Leg": {"leg_geom"},
        "Foot": {"foot_geom"},
    },
    "Walker2d": {
        "Torso": {"torso_geom"}, "Thigh": {"thigh_geom", "thigh_left_geom"},
        "Leg": {"leg_geom", "leg_left_geom"}, "Foot": {"foot_geom", "foot_left_geom"},
    },
    "Humanoid": {
        "Torso": {"torso1", "uwaist", "lwaist"},
        "Thigh": {"right_thigh1", "left_thigh1", "butt"},
        "Leg": {"right_shin1", "left_shin1"}, "Foot": {"left_foot", "right_foot"},
        "Head": {"head"}, "Arm": {"right_uarm1", "right_larm", "left_uarm1", "left_larm"},
        "Hand": {"left_hand", "right_hand"},
    },
}  # fmt: skip
GYM_EXTENSIONS_GRAVITY = {  # m/s^2, as gym-extensions sets it
    "Half": -4.905, "ThreeQuarters": -7.3575, "OneAndQuarter": -12.2625, "OneAndHalf": -14.715,
}  # fmt: skip
XML_FILES = {
    "HalfCheetah": "half_cheetah.xml",
    "Hopper": "hopper.xml",
    "Walker2d": "walker2d_v5.xml",
    "Humanoid": "humanoid.xml",
}
#: Runners whose capsules keep their length (gym's 2017 files set it with fromto).
RADIUS_ONLY = {"Hopper", "Walker2d"}
SIZE = {"Small": 0.75, "Big": 1.25}
PART_VARIANTS = [
    (f"{runner}{size}{part}-v0", runner, geoms, scale)
    for runner, parts in GYM_EXTENSIONS_PARTS.items()
    for part, geoms in parts.items()
    for size, scale in SIZE.items()
]
GRAVITY_VARIANTS = [
    (f"{runner}Gravity{suffix}-v0", runner, g)
    for runner in XML_FILES
    for suffix, g in GYM_EXTENSIONS_GRAVITY.items()
]


def xml_geoms(runner: str) -> dict[str, ET.Element]:
    path = os.path.join(ASSETS, XML_FILES[runner])
    return {g.get("name"): g for g in ET.parse(path).iter("geom") if g.get("name")}


def raw_model(runner: str, tmp_path_factory) -> mujoco.MjModel:
    """gymnasium's own model file, compiled by MuJoCo (HalfCheetah's settotalmass included)."""
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("mujoco_log"))  # the deprecation log lands here
    try:
        return mujoco.MjModel.from_xml_path(os.path.join(ASSETS, XML_FILES[runner]))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def raw_models(tmp_path_factory) -> dict[str, mujoco.MjModel]:
    return {runner: raw_model(runner, tmp_path_factory) for runner in XML_FILES}


def volume_masses(model: mujoco.MjModel) -> np.ndarray:
    """Body masses from capsule and sphere volumes at density 1000 (every geom here)."""
    masses = np.zeros(model.nbody)
    for g in range(model.ngeom):
        r, h = model.geom_size[g][:2]
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
            masses[model.geom_bodyid[g]] += 1000 * (np.pi * r * r * 2 * h + 4 / 3 * np.pi * r**3)
        elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE:
            masses[model.geom_bodyid[g]] += 1000 * 4 / 3 * np.pi * r**3
    return masses


def test_names_are_gym_extensions_names():
    expected = {name for name, *_ in PART_VARIANTS} | {name for name, *_ in GRAVITY_VARIANTS}
    assert set(ALL_VARIANTS) == expected
    assert len(ALL_VARIANTS) == 10 + 8 + 8 + 14 + 4 * 4
    # VARIANTS keeps meaning the ten HalfCheetah morphology variants.
    assert set(VARIANTS) == {n for n, r, *_ in PART_VARIANTS if r == "HalfCheetah"}
    assert FAMILIES["HalfCheetah"] is VARIANTS
    for family, variants in FAMILIES.items():
        assert all(name.startswith(family) for name in variants), family


def test_total_mass_convention_is_the_model_files():
    for runner, xml_file in XML_FILES.items():
        compiler = ET.parse(os.path.join(ASSETS, xml_file)).find("compiler")
        declared = compiler.get("settotalmass")
        assert RUNNERS[runner].total_mass == (None if declared is None else float(declared))
    assert RUNNERS["HalfCheetah"].total_mass == 14.0


@pytest.mark.parametrize(("name", "runner", "geoms", "scale"), PART_VARIANTS)
def test_part_geometry_and_masses(name, runner, geoms, scale, raw_models):
    base = raw_models[runner]
    model = make_env(name).unwrapped.model
    assert set(get_variant(name).geoms) == geoms
    xml = xml_geoms(runner)
    for g in range(base.ngeom):
        geom = base.geom(g).name
        expected = base.geom_size[g].copy()
        if geom in geoms:
            # Lengths stay where gym-extensions left them: fromto capsules always,
            # Hopper and Walker2d capsules too; otherwise every number of `size`.
            radius_only = runner in RADIUS_ONLY or xml[geom].get("fromto") is not None
            expected[: 1 if radius_only else len(xml[geom].get("size").split())] *= scale
        np.testing.assert_allclose(model.geom_size[g], expected, rtol=1e-12, err_msg=geom)
    np.testing.assert_array_equal(model.geom_pos, base.geom_pos)
    np.testing.assert_array_equal(model.body_pos, base.body_pos)
    np.testing.assert_array_equal(model.opt.gravity, base.opt.gravity)

    # Masses follow from the geom volumes; HalfCheetah's are renormalized to 14 kg.
    masses = volume_masses(model)
    if runner == "HalfCheetah":
        masses *= 14.0 / masses.sum()
    np.testing.assert_allclose(model.body_mass, masses, rtol=1e-12, atol=1e-12)
    scaled_bodies = {model.geom_bodyid[model.geom(geom).id] for geom in geoms}
    for body in range(1, model.nbody):
        ratio = model.body_mass[body] / base.body_mass[body]
        if body in scaled_bodies:  # the bigger part, the heavier its body
            assert (ratio > 1.0) if scale > 1 else (ratio < 1.0), (model.body(body).name, ratio)
        elif runner == "HalfCheetah":  # renormalization moves the others the other way
            assert (ratio < 1.0) if scale > 1 else (ratio > 1.0), (model.body(body).name, ratio)
        else:
            assert ratio == pytest.approx(1.0, rel=1e-12), model.body(body).name
    total_ratio = model.body_mass.sum() / base.body_mass.sum()
    if runner == "HalfCheetah":
        assert total_ratio == pytest.approx(1.0, rel=1e-12)
    else:
        assert (total_ratio > 1.0) if scale > 1 else (total_ratio < 1.0)


@pytest.mark.parametrize(("name", "runner", "g"), GRAVITY_VARIANTS)
def test_gravity_scaled_and_nothing_else(name, runner, g, raw_models):
    base = raw_models[runner]
    model = make_env(name).unwrapped.model
    np.testing.assert_array_equal(base.opt.gravity, [0.0, 0.0, -9.81])
    np.testing.assert_allclose(model.opt.gravity, [0.0, 0.0, g], rtol=1e-15)
    np.testing.assert_array_equal(model.geom_size, base.geom_size)
    np.testing.assert_allclose(model.body_mass, base.body_mass, rtol=1e-12)


@pytest.mark.parametrize("name", list(ALL_VARIANTS))
def test_steps_pickles_deepcopies_and_serializes(name):
    env = gym.make(name)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(3)]
    for action in actions:
        obs, reward, *_ = env.step(action)
    assert np.all(np.isfinite(obs)) and np.isfinite(reward)

    unpickled = pickle.loads(pickle.dumps(env.unwrapped))
    copied = copy.deepcopy(env)
    for other in (unpickled, copied.unwrapped):
        assert type(other) is type(env.unwrapped) and other.variant == get_variant(name)
        np.testing.assert_array_equal(other.model.geom_size, env.unwrapped.model.geom_size)
        np.testing.assert_array_equal(other.model.body_mass, env.unwrapped.model.body_mass)
        np.testing.assert_array_equal(other.model.opt.gravity, env.unwrapped.model.opt.gravity)
    # The copy is a working env that replays the original's trajectory.
    env_obs, copy_obs = env.reset(seed=1)[0], copied.reset(seed=1)[0]
    for action in actions:
        env_obs, copy_obs = env.step(action)[0], copied.step(action)[0]
    np.testing.assert_array_equal(copy_obs, env_obs)

    spec = json.loads(gym.spec(name).to_json())
    assert spec["entry_point"] == RUNNERS[get_variant(name).runner].entry_point
    assert spec["kwargs"] == {"variant": name} and spec["max_episode_steps"] == 1000
    assert gym.spec(f"mtrl_ray/{name}").kwargs == {"variant": name}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_renders_headless(family):
    name = next(iter(FAMILIES[family]))
    env = gym.make(name, render_mode="rgb_array", width=64, height=48)
    try:
        env.reset(seed=0)
        frame = env.render()
    finally:
        env.close()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert frame.std() > 0  # a scene, not a blank buffer


def test_bad_names_and_arguments():
    with pytest.raises(UnknownVariantError) as err:
        get_variant("HopperHugeFoot-v0")
    message = str(err.value)
    assert "HopperSmallFoot-v0" in message and "HopperGravityOneAndHalf-v0" in message
    assert "HalfCheetahSmallFoot-v0" not in message and len(message.splitlines()) == 1
    with pytest.raises(ValueError, match="not a Hopper variant"):
        HopperVariantEnv(variant="Walker2dBigFoot-v0")
    with pytest.raises(TypeError, match="xml_file"):
        HopperVariantEnv(variant="HopperBigFoot-v0", xml_file="hopper.xml")
