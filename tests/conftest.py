"""Shared fixtures: small spaces, a local Ray that is always shut down."""

from __future__ import annotations

import contextlib
import os

import gymnasium as gym
import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Ray's token auth would write ~/.ray/auth_token; tests run their own throwaway Ray.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64)
ACT_SPACE = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)


@contextlib.contextmanager
def local_ray(temp_dir):
    """A private local Ray (own temp dir), shut down even if the body fails.

    4 logical CPUs on the 2 cores, as `rllib train` sizes a local Ray: a Tune trial
    takes one for its Algorithm process besides its runners'.
    """
    import ray

    # Runner-side helper functions defined in test modules must import on the workers.
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    python_path = os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        runtime_env={"env_vars": {"PYTHONPATH": python_path}},
        num_cpus=4,
        include_dashboard=False,
        _temp_dir=str(temp_dir),
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def ray_local(tmp_path_factory):
    """A local Ray for one test."""
    with local_ray(tmp_path_factory.mktemp("ray")) as ray:
        yield ray


@pytest.fixture(scope="module")
def ray_module(tmp_path_factory):
    """A local Ray shared by a module's tests (e.g. around a trained checkpoint)."""
    with local_ray(tmp_path_factory.mktemp("ray")) as ray:
        yield ray
