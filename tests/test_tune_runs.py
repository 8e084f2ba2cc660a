"""`rllib train` on Ray Tune: trials per seed, TensorBoard, recovery, resume, pass criteria."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray.tune.utils import flatten_dict

from mtrl_ray.checkpoints import checkpoints_by_env_steps, read_checkpoint
from mtrl_ray.cli import main
from mtrl_ray.envs.point_mass import HEAVY_POINT_MASS_ID, POINT_MASS_ID
from mtrl_ray.provenance import code_version
from mtrl_ray.teachers import load_teacher
from mtrl_ray.tuned_example import load_tuned_example

ROOT = Path(__file__).resolve().parents[1]
POINT_MASS = ROOT / "tuned_examples" / "a2c" / "point_mass_multitask.py"
TASKS = (POINT_MASS_ID, HEAVY_POINT_MASS_ID)
RETURN_KEY = "env_runners/per_task/{}/episode_return_mean"
STEPS_KEY = "env_runners/per_task/{}/num_env_steps_sampled_lifetime"
#: One PointMass iteration: 100 updates x 5 steps x 8 envs x 2 tasks.
ITERATION_STEPS = 8000
SHORT_STEPS = ITERATION_STEPS // 10


def rows(trial: Path) -> list[dict]:
    lines = (trial / "result.json").read_text().splitlines()
    return [flatten_dict(json.loads(line), delimiter="/") for line in lines]


def event_tags(trial: Path) -> set[str]:
    """The scalar tags of a trial's TensorBoard events (a restarted trial process
    writes a file of its own)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in trial.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


@pytest.fixture(scope="module")
def seeds_run(ray_module, point_mass_seeds_run):
    """The session's `--seeds 0,1 --as-test` run (tests/conftest.py), for the module's
    checks of it: seed 1's trial process was SIGKILLed right after iteration 5, one
    past its first checkpoint (test_a_killed_trial_recovers_...)."""
    return point_mass_seeds_run


@pytest.mark.slow
def test_seeds_run_as_trials_with_tensorboard_and_pass(seeds_run, tmp_path, capsys, monkeypatch):
    """--seeds 0,1: two trial folders, per-task TensorBoard curves, --as-test passes
    (seed 1's trial among them, restarted mid-run); then a run that --as-test fails,
    logging to --wandb (offline) and --mlflow."""
    assert seeds_run.code == 0, seeds_run.out[-2000:]
    out = seeds_run.out
    assert "seed0: passed" in out and "seed1: passed" in out
    assert "seed1: iter    8  steps     64000" in out
    experiment = seeds_run.experiment
    for seed in (0, 1):
        trial = experiment / f"seed{seed}"
        assert json.loads((trial / "params.json").read_text())["seed"] == seed
        tags = event_tags(trial)
        for task in TASKS:
            assert f"ray/tune/{RETURN_KEY.format(task)}" in tags
        header = (trial / "progress.csv").read_text().splitlines()[0].split(",")
        assert RETURN_KEY.format(TASKS[1]) in header  # a key that appears after iteration 1
        results = rows(trial)
        assert [r["training_iteration"] for r in results] == list(range(1, 9))
        checkpoints = sorted(trial.glob("checkpoint_*"))
        assert [c.name for c in checkpoints] == ["checkpoint_000000", "checkpoint_000001"]
        info = read_checkpoint(checkpoints[-1])
        assert info.tasks == TASKS and info.provenance["env_steps"] == 64000
        milestones = dict(zip((32000, 64000), checkpoints, strict=True))
        assert checkpoints_by_env_steps(trial) == milestones
        assert info.provenance["command"].startswith("rllib train file")
    # Seeds differ: the two trials did not train the same thing.
    first = [rows(experiment / f"seed{s}")[0][RETURN_KEY.format(TASKS[0])] for s in (0, 1)]
    assert first[0] != first[1]

    # A Tune checkpoint evaluates and serves as a teacher.
    capsys.readouterr()
    checkpoint = sorted((experiment / "seed0").glob("checkpoint_*"))[-1]
    assert main(["evaluate", str(checkpoint), "--episodes", "2"]) == 0
    assert "PointMassHeavy" in capsys.readouterr().out
    assert load_teacher(checkpoint, TASKS[1]).task == TASKS[1]

    # --as-test fails where a trial falls short (a return above 0 cannot be had).
    impossible = tmp_path / "impossible.py"
    impossible.write_text(
        f"from importlib.machinery import SourceFileLoader\n"
        f"_base = SourceFileLoader('base', {str(POINT_MASS)!r}).load_module()\n"
        f"config = _base.config.training(updates_per_iteration=10)\n"
        f"stop = {{'training_iteration': 1}}\n"
        f"pass_criteria = {{'{RETURN_KEY.format(TASKS[0])}': 1.0}}\n"
    )
    # (One Tune run less in the suite: this one also checks the trackers.)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    argv = ["train", "file", str(impossible), "--as-test", "--storage-path", str(tmp_path)]
    argv += ["--wandb", "mtrl-test", "--mlflow", str(tmp_path / "mlruns")]
    assert main(argv) == 1
    assert "seed0: FAILED env_runners/per_task/mtrl_ray/PointMass-v0" in capsys.readouterr().out
    # The trackers received the per-task curves: W&B's offline run, MLflow's local folder.
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    assert any(offline.glob("run-*.wandb"))
    (history,) = (tmp_path / "mlruns").glob(f"*/*/metrics/{STEPS_KEY.format(TASKS[0])}")
    assert float(history.read_text().split()[-2]) == SHORT_STEPS // 2  # its one iteration


@pytest.mark.slow
def test_a_checkpoint_saved_outside_tune_is_complete(ray_local, tmp_path, capsys):
    config = load_tuned_example(POINT_MASS).config.training(updates_per_iteration=2)
    # As if another commit had started the run (a resumed experiment): the
    # checkpoint names the code that saved it and the one that started it.
    config.provenance = {"git_commit": "0" * 40, "git_dirty": False, "command": "rllib x"}
    algo = config.build_algo()
    try:
        algo.train()
        path = Path(algo.save_to_path(tmp_path / "saved"))
    finally:
        algo.stop()
    info = read_checkpoint(path)
    assert info.tasks == TASKS and info.provenance["env_steps"] == 2 * 5 * 8 * 2
    assert info.provenance["git_commit"] == code_version()["git_commit"] != "0" * 40
    assert info.provenance["started_at_commit"] == "0" * 40
    assert info.provenance["command"] == "rllib x"
    assert load_teacher(path, TASKS[0]).task == TASKS[0]
    assert main(["evaluate", str(path), "--episodes", "1"]) == 0


@pytest.mark.slow
def test_a_killed_trial_recovers_from_its_checkpoint(seeds_run):
    """Tune restarts the trial from iteration 4's checkpoint; the run ends exactly."""
    assert seeds_run.killer.killed
    results = rows(seeds_run.experiment / "seed1")
    assert [r["training_iteration"] for r in results] == list(range(1, 9))
    pids = [r["pid"] for r in results]
    # Iterations 5-8 ran in a new process, started from iteration 4's checkpoint.
    assert len(set(pids[:4])) == len(set(pids[4:])) == 1 and pids[3] != pids[4]
    for task in TASKS:
        steps = [r[STEPS_KEY.format(task)] for r in results]
        assert steps == [ITERATION_STEPS // 2 * i for i in range(1, 9)]
    assert results[-1]["num_env_steps_sampled_lifetime"] == 8 * ITERATION_STEPS
    # Seed 0's trial was not touched.
    assert len({r["pid"] for r in rows(seeds_run.experiment / "seed0")}) == 1


@pytest.mark.slow
def test_resume_finishes_an_experiment_whose_driver_was_killed(ray_local, tmp_path, capsys):
    """The driver is SIGKILLed mid-run; `--resume` completes the run: the trial cut off
    continues from its checkpoint, the seed not yet started starts. (The driver joins
    the shared Ray, a Ray start less: its trial's processes die with it, as they would
    with a Ray of its own. The resume runs in this process: it needs nothing of the dead
    driver's, only the experiment's folder.)"""
    argv = [sys.executable, "-m", "mtrl_ray.cli", "train", "file", str(POINT_MASS)]
    argv += ["--storage-path", str(tmp_path), "--checkpoint-every", "1", "--name", "cut"]
    # Short iterations (10 updates, 800 steps), a checkpoint after each: the kill comes
    # after the third, before the 8th (checked); seed 1 waits for seed 0.
    first = ["--stop-timesteps", str(8 * SHORT_STEPS), "--seeds", "0,1"]
    first += ["--max-concurrent", "1", "--config", json.dumps({"updates_per_iteration": 10})]
    # Tune saves its experiment state every second (default: every 10 s or more).
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    env["RAY_ADDRESS"] = ray_local.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [*argv, *first],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    trial = tmp_path / "cut" / "seed0"
    deadline = time.time() + 240
    while len(list(trial.glob("checkpoint_*"))) < 3 and time.time() < deadline:
        time.sleep(0.2)
    assert driver.poll() is None, "the run ended before the kill"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    wait_until_cpus_free(ray_local)  # Ray ends the dead driver's actors
    assert len(list(trial.glob("checkpoint_*"))) >= 3, driver.stdout.read().decode()[-2000:]
    assert len(list(trial.glob("checkpoint_*"))) < 8, "seed 0 finished before the kill"
    # As if an older mtrl_ray had started it, whose config lacked a field this one
    # has (`metrics_tags`): Tune would refuse the search space; the resume drops it.
    forget_recorded_key(tmp_path / "cut", "metrics_tags")

    capsys.readouterr()
    assert main([*argv[3:], "--resume"]) == 0
    out = capsys.readouterr().out
    for seed in (0, 1):
        results = rows(tmp_path / "cut" / f"seed{seed}")
        assert [r["training_iteration"] for r in results] == list(range(1, 9))
        assert results[-1]["num_env_steps_sampled_lifetime"] == 8 * SHORT_STEPS
    # (The progress lines name the trial once the run knows of more than one.)
    assert out.count("iter    8  steps      6400") == 2, out[-2000:]


def wait_until_cpus_free(ray, seconds: float = 60.0) -> None:
    """Waits until no actor holds a CPU of the shared Ray."""
    deadline = time.monotonic() + seconds
    while ray.available_resources().get("CPU", 0.0) < ray.cluster_resources()["CPU"]:
        assert time.monotonic() < deadline, "the killed driver's actors still hold CPUs"
        time.sleep(0.2)


def forget_recorded_key(experiment: Path, key: str) -> None:
    """Removes `key` from the search-space keys Tune recorded in `tuner.pkl`."""
    state = pickle.loads((experiment / "tuner.pkl").read_bytes())
    recorded = state["__flattened_param_space_keys"]
    assert key in recorded
    state["__flattened_param_space_keys"] = [k for k in recorded if k != key]
    (experiment / "tuner.pkl").write_bytes(pickle.dumps(state))


def test_resuming_an_experiment_of_a_config_field_since_removed_is_one_line(tmp_path, capsys):
    import ray

    experiment = tmp_path / "runs" / "old"
    experiment.mkdir(parents=True)
    state = {"__flattened_param_space_keys": ["gamma", "lr", "tree_backup_lambda"]}
    (experiment / "tuner.pkl").write_bytes(pickle.dumps(state))
    argv = ["train", "file", str(POINT_MASS), "--storage-path", str(tmp_path / "runs")]
    assert main([*argv, "--name", "old", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "old was started by an mtrl_ray whose config had tree_backup_lambda" in err
    assert not ray.is_initialized()
    assert sorted(p.name for p in experiment.iterdir()) == ["tuner.pkl"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1"),
        (["--config", '{"no_such_key": {"grid_search": [1, 2]}}'], "unknown config key"),
        (["--config", '{"lr": {"grid_search": []}}'], "must be a non-empty list"),
        (["--config", '{"gamma": "x"}'], "takes a float"),
        (
            ["--config", '{"multi_task_update": {"grid_search": ["cycle", "sideways"]}}'],
            "multi_task_update must be one of ('cycle', 'joint'), got 'sideways' "
            "(trial multi_task_update=sideways)",
        ),
        (["--seeds", "0,x"], "--seeds takes comma-separated integers"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_bad_run_input_is_one_line_before_ray(tmp_path, capsys, args, message):
    import ray

    argv = ["train", "file", str(POINT_MASS), "--storage-path", str(tmp_path / "runs"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not ray.is_initialized()
    assert not (tmp_path / "runs").exists()


def test_an_unknown_stop_key_is_refused(tmp_path, capsys):
    example = tmp_path / "typo.yaml"
    example.write_text(
        "typo:\n  run: A2C\n  stop:\n    timesteps_total: 1000\n"
        "  config:\n    env_config: {tasks: [mtrl_ray/PointMass-v0]}\n"
    )
    assert main(["train", "file", str(example), "--storage-path", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown result key 'timesteps_total'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_tracker_without_a_login_is_refused(tmp_path, capsys, monkeypatch):
    for var in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    argv = ["train", "file", str(POINT_MASS), "--storage-path", str(tmp_path), "--wandb", "p"]
    assert main(argv) == 2
    assert "--wandb needs WANDB_API_KEY" in capsys.readouterr().err


def test_relative_paths_are_taken_from_where_the_user_ran(tmp_path, monkeypatch):
    """Tune runs trials in their own folders: paths are made absolute before it starts."""
    from mtrl_ray.algorithms.distill import DistillConfig

    monkeypatch.chdir(tmp_path)
    config = DistillConfig().distillation(teachers={TASKS[0]: "teachers/a"})
    config.fine_tune("ckpt", trainable="all").resolve_paths()
    assert config.teachers == {TASKS[0]: str(tmp_path / "teachers" / "a")}
    assert config.fine_tune_from == str(tmp_path / "ckpt")
    assert config.restore("runs/x/seed0/checkpoint_000001").restore_from == str(
        tmp_path / "runs" / "x" / "seed0" / "checkpoint_000001"
    )
