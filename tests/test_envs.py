"""The ten HalfCheetah variants: geometry, mass semantics, spaces, registration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import mtrl_ray  # noqa: F401  (registers the variants)
from mtrl_ray.envs import (
    HELD_OUT_TASKS,
    PAPER_TASKS,
    TOTAL_MASS,
    VARIANTS,
    UnknownVariantError,
    get_variant,
    load_model,
    make_env,
)
from mtrl_ray.envs.variants import base_model_path

BASE = "HalfCheetah-v5"
#: How many numbers each named geom's `size` attribute holds in half_cheetah.xml.
SIZE_NUMBERS = {
    g.get("name"): len(g.get("size").split())
    for g in ET.parse(base_model_path()).iter("geom")
    if g.get("name") and g.get("size")
}


@pytest.fixture(scope="module")
def base_model() -> mujoco.MjModel:
    return load_model(BASE)


def test_ten_variants_six_trained_four_held_out():
    assert len(VARIANTS) == 10 and len(PAPER_TASKS) == 6 and len(HELD_OUT_TASKS) == 4
    assert set(PAPER_TASKS) | set(HELD_OUT_TASKS) == set(VARIANTS)
    assert set(HELD_OUT_TASKS) == {
        "HalfCheetahBigLeg-v0",
        "HalfCheetahBigThigh-v0",
        "HalfCheetahSmallHead-v0",
        "HalfCheetahBigHead-v0",
    }


@pytest.mark.parametrize("name", list(VARIANTS))
def test_scaled_geoms_and_masses(name, base_model):
    variant = VARIANTS[name]
    model = make_env(name).unwrapped.model
    bigger = variant.scale > 1
    for g in range(base_model.ngeom):
        geom = base_model.geom(g).name
        # Only the numbers the XML's `size` holds are scaled (a fromto capsule's
        # half-length comes from its endpoints and stays).
        n = SIZE_NUMBERS.get(geom, 0) if geom in variant.geoms else 0
        expected = base_model.geom_size[g].copy()
        expected[:n] *= variant.scale
        np.testing.assert_allclose(model.geom_size[g], expected, rtol=1e-12, err_msg=geom)
    # The bodies holding scaled geoms get heavier (Big) or lighter (Small), even after
    # the total is renormalized; the total stays 14 kg.
    for geom in variant.geoms:
        body = model.geom_bodyid[model.geom(geom).id]
        ratio = model.body_mass[body] / base_model.body_mass[body]
        assert (ratio > 1.0) if bigger else (ratio < 1.0), (geom, ratio)
    assert model.body_mass.sum() == pytest.approx(TOTAL_MASS, rel=1e-9)
    # Renormalization moves the unscaled parts the other way.
    untouched = {model.geom_bodyid[g] for g in range(model.ngeom)} - {
        model.geom_bodyid[model.geom(geom).id] for geom in variant.geoms
    }
    untouched.discard(0)  # world
    for body in untouched:
        ratio = model.body_mass[body] / base_model.body_mass[body]
        assert (ratio < 1.0) if bigger else (ratio > 1.0), (model.body(body).name, ratio)


REFERENCE_SCRIPT = """
import json, sys, mujoco
from mtrl_ray.envs.families import scaled_model_xml
model = mujoco.MjModel.from_xml_string(scaled_model_xml(sys.argv[1], keep_settotalmass=True))
print(json.dumps({k: getattr(model, k).tolist()
                  for k in ("body_mass", "body_inertia", "body_subtreemass")}))
"""


@pytest.mark.parametrize("name", ["HalfCheetahSmallFoot-v0", "HalfCheetahBigTorso-v0", BASE])
def test_explicit_renormalization_equals_mujocos_settotalmass(name, tmp_path):
    """Our explicit mj_setTotalmass gives what the deprecated XML attribute gives."""
    # MuJoCo itself compiles the attribute in a subprocess started in tmp_path, where
    # its deprecation warning writes MUJOCO_LOG.TXT.
    done = subprocess.run(
        [sys.executable, "-c", REFERENCE_SCRIPT, name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    reference = json.loads(done.stdout.strip().splitlines()[-1])
    ours = load_model(name)
    for key, values in reference.items():
        np.testing.assert_allclose(getattr(ours, key), values, rtol=1e-12, err_msg=key)


def test_spaces_match_across_variants_and_halfcheetah_v5():
    # HalfCheetah-v5's spaces (not made with gym.make, which would compile gymnasium's
    # model with the deprecated attribute and write MUJOCO_LOG.TXT here).
    obs_space = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64)
    act_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
    for name in VARIANTS:
        env = gym.make(name)
        assert env.observation_space == obs_space, name
        assert env.action_space == act_space, name


def test_registration_namespaced_ids_and_time_limit(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    env = gym.make("HalfCheetahBigFoot-v0")
    namespaced = gym.make("mtrl_ray/HalfCheetahBigFoot-v0")
    assert (
        env.unwrapped.variant
        == namespaced.unwrapped.variant
        == get_variant("HalfCheetahBigFoot-v0")
    )
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        assert not terminated
    assert steps == 1000
    # No deprecation warning, no MUJOCO_LOG.TXT left behind.
    assert "settotalmass" not in capfd.readouterr().err
    assert not os.path.exists(tmp_path / "MUJOCO_LOG.TXT")


def test_unknown_variant_lists_valid_names():
    with pytest.raises(UnknownVariantError) as err:
        make_env("HalfCheetahHugeFoot-v0")
    message = str(err.value)
    assert "HalfCheetahSmallFoot-v0" in message and "HalfCheetahBigHead-v0" in message
    assert len(message.splitlines()) == 1
    with pytest.raises(UnknownVariantError):
        get_variant("mtrl_ray/HalfCheetahHugeFoot-v0")


def test_any_registered_gymnasium_id_is_a_task():
    assert make_env("Pendulum-v1").action_space.shape == (1,)
    assert make_env("mtrl_ray/PointMass-v0").observation_space.shape == (2,)
