"""Shared fixtures: small spaces, a local Ray that is always shut down."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Ray's token auth would write ~/.ray/auth_token; tests run their own throwaway Ray.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64)
ACT_SPACE = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)


def cross_family_model_config(tasks, **kwargs):
    """The module config of `tasks` of several body families: their sizes, their families."""
    from mtrl_ray.envs import task_shapes
    from mtrl_ray.modules.model_config import MultiTaskModelConfig

    shapes = task_shapes(tasks)
    return MultiTaskModelConfig(
        tasks=tasks,
        families=shapes.families,
        task_obs_dims=shapes.obs_dims,
        task_act_dims=shapes.act_dims,
        **kwargs,
    )


def train_outside_tune(config, path, iterations: int):
    """Trains `config` for `iterations` in this process and saves a checkpoint at `path`
    (Ray already started); returns the checkpoint's path.

    For tests that need a trained checkpoint, not a Tune run: a Tune trial would start
    an Algorithm process of its own (importing torch and RLlib again) and Tune's
    bookkeeping, ~10-20 s of the suite each. Such checkpoints are complete
    (test_tune_runs.py::test_a_checkpoint_saved_outside_tune_is_complete).
    """
    algo = config.build_algo()
    try:
        for _ in range(iterations):
            algo.train()
        return Path(algo.save_to_path(path))
    finally:
        algo.stop()


RAY_FIXTURES = ("ray_local", "ray_module", "point_mass_seeds_run", "cross_family_checkpoint")


@contextlib.contextmanager
def local_ray(temp_dir):
    """A private local Ray (own temp dir), shut down even if the body fails.

    4 logical CPUs on the 2 cores, as `rllib train` sizes a local Ray: a Tune trial
    takes one for its Algorithm process besides its runners'.
    """
    import ray

    _start_ray(temp_dir)
    try:
        yield ray
    finally:
        ray.shutdown()


def _start_ray(temp_dir) -> None:
    import ray

    # Runner-side helper functions defined in test modules must import on the workers:
    # the workers inherit the environment of the Ray this process starts. (Not a
    # `runtime_env`: with one, Ray does not use its prestarted workers and every actor
    # waits ~10 s for a worker of its own environment.)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if tests_dir not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, *paths) if p)
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        _temp_dir=str(temp_dir),
        log_to_driver=False,
        configure_logging=False,
    )


def _left_clean(ray, seconds: float = 10.0) -> bool:
    """Whether a test left the shared Ray as it found it: every CPU free again (actors
    a test stopped release theirs within moments) and no named actor."""
    deadline = time.monotonic() + seconds
    while True:
        free = ray.available_resources().get("CPU", 0.0) >= ray.cluster_resources()["CPU"]
        if free and not ray.util.list_named_actors(all_namespaces=True):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


@contextlib.contextmanager
def _shared_ray(tmp_path_factory):
    """The session's local Ray, started on first use (a start costs ~5 s, ~30 tests use
    one); a test that leaves anything running in it gets it shut down, and the next
    test a fresh one."""
    import ray

    if not ray.is_initialized():
        _start_ray(tmp_path_factory.mktemp("ray"))
    try:
        yield ray
    finally:
        if ray.is_initialized() and not _left_clean(ray):
            # A restart costs the suite ~15 s (the wait above, a new Ray): say why.
            left = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
            free, total = ray.available_resources().get("CPU", 0.0), ray.cluster_resources()["CPU"]
            warnings.warn(
                f"the test left {total - free:g} CPUs in use and named actors {left} in the "
                "shared Ray: restarting it",
                stacklevel=1,
            )
            ray.shutdown()


@pytest.fixture
def ray_local(tmp_path_factory):
    """A local Ray for one test (shared with the session's other Ray tests)."""
    with _shared_ray(tmp_path_factory) as ray:
        yield ray


@pytest.fixture(scope="module")
def ray_module(tmp_path_factory):
    """A local Ray kept across a module's tests (e.g. around a trained checkpoint)."""
    with _shared_ray(tmp_path_factory) as ray:
        yield ray


POINT_MASS_EXAMPLE = (
    Path(__file__).resolve().parents[1] / "tuned_examples" / "a2c" / "point_mass_multitask.py"
)


@pytest.fixture(scope="session")
def point_mass_seeds_run(tmp_path_factory):
    """`rllib train point_mass_multitask.py --seeds 0,1 --as-test` once for the session
    (trial processes start in ~20 s each; the run trains 64k steps per seed).

    Its checks are in test_tune_runs.py; seed 0's last checkpoint, well past random on
    both tasks (the pass criteria), is the teacher of test_distill.py. Seed 1's trial
    process is SIGKILLed right after iteration 5, one past its first checkpoint
    (iteration 4): Tune restarts it from that checkpoint. Tests that use it also take
    `ray_module` or `ray_local` (the check that nothing is left running).
    """
    import io

    import ray

    from mtrl_ray.cli import main
    from mtrl_ray.training import trackers

    if not ray.is_initialized():
        _start_ray(tmp_path_factory.mktemp("ray"))
    storage = tmp_path_factory.mktemp("seeds")
    argv = ["train", "file", str(POINT_MASS_EXAMPLE), "--seeds", "0,1", "--as-test"]
    argv += ["--storage-path", str(storage), "--checkpoint-every", "4"]
    killer = _kill_trial_once(at=5, seed=1)
    real = trackers.tracker_callbacks
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(trackers, "tracker_callbacks", lambda *a: (*real(*a), killer))
        code = main(argv)
    experiment = storage / "point_mass_multitask"
    return SimpleNamespace(code=code, out=out.getvalue(), experiment=experiment, killer=killer)


#: Three of the cross-family example's tasks, one per body family.
CROSS_FAMILY_TASKS = ("HalfCheetahSmallFoot-v0", "Walker2dBigTorso-v0", "HopperSmallFoot-v0")


@pytest.fixture(scope="session")
def cross_family_checkpoint(tmp_path_factory) -> Path:
    """Two small iterations of tuned_examples/a2c/cross_family_multitask.py on
    CROSS_FAMILY_TASKS via `rllib train`, once for the session: its last checkpoint.

    test_cross_family_training.py checks the run, test_cross_family_transfer.py
    transfers its heads and adds one. Tests that use it also take `ray_module`.
    """
    import ray

    from mtrl_ray.checkpoints import newest_checkpoint
    from mtrl_ray.cli import main

    if not ray.is_initialized():
        _start_ray(tmp_path_factory.mktemp("ray"))
    root = tmp_path_factory.mktemp("xfam")
    example = POINT_MASS_EXAMPLE.with_name("cross_family_multitask.py")
    argv = ["train", "file", str(example), "--tasks", ",".join(CROSS_FAMILY_TASKS)]
    argv += ["--stop-iters", "2", "--storage-path", str(root), "--name", "xfam"]
    argv += ["--envs-per-runner", "2", "--updates-per-iteration", "5", "--seed", "0"]
    assert main(argv) == 0
    found = newest_checkpoint(root / "xfam")
    assert found is not None
    return found


def _kill_trial_once(at: int, seed: int):
    """A Tune callback that SIGKILLs the process of the trial of seed `seed` right after
    it reports iteration `at`, once (`.killed` says whether it did)."""
    import signal

    from ray.tune import Callback

    class KillTrialOnce(Callback):
        killed = False

        def on_trial_result(self, iteration, trials, trial, result, **info):
            mine = trial.config.get("seed") == seed
            if mine and not self.killed and result["training_iteration"] == at:
                self.killed = True
                os.kill(result["pid"], signal.SIGKILL)

    return KillTrialOnce()


def pytest_collection_modifyitems(items):
    """Tests that use the shared Ray run last, module by module: the tests before them
    run without a Ray in the process (some check that none was started)."""
    def uses_ray(item) -> bool:
        return any(f in item.fixturenames for f in RAY_FIXTURES)

    items[:] = [i for i in items if not uses_ray(i)] + [i for i in items if uses_ray(i)]


def pytest_sessionfinish(session, exitstatus):
    import ray

    if ray.is_initialized():
        ray.shutdown()
