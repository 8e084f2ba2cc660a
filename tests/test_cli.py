"""`rllib train | evaluate` as a user runs them: checkpoints, evaluation, resume, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ACT_SPACE, OBS_SPACE
from ray.tune.utils import flatten_dict

from mtrl_ray.checkpoints import read_checkpoint
from mtrl_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tuned_examples" / "a2c" / "halfcheetah_vanilla_multitask.py"
TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]


def train_args(tmp_path: Path, name: str, stop: int, *extra: str) -> list[str]:
    return [
        "train", "file", str(EXAMPLE),
        "--tasks", ",".join(TASKS),
        "--envs-per-runner", "2",
        "--updates-per-iteration", "10",
        "--stop-timesteps", str(stop),
        "--checkpoint-every", "1",
        "--storage-path", str(tmp_path),
        "--name", name,
        *extra,
    ]  # fmt: skip


def trial_dir(experiment: Path) -> Path:
    """The folder of an experiment's one trial (`seed0`, ...)."""
    (trial,) = [p for p in experiment.iterdir() if (p / "result.json").is_file()]
    return trial


def results(experiment: Path) -> list[dict]:
    """The flattened results of an experiment's one trial, one per iteration."""
    lines = (trial_dir(experiment) / "result.json").read_text().splitlines()
    return [flatten_dict(json.loads(line), delimiter="/") for line in lines]


@contextlib.contextmanager
def inspected_runners(inspect):
    """Inside, each group of evaluation runners (the real ones `rllib evaluate` builds)
    is passed to `inspect` once built and again as it stops; yields what it returned."""
    from mtrl_ray import evaluation_runners

    real = evaluation_runners.make_evaluation_runners
    seen = []

    def make(*args, **kwargs):
        group = real(*args, **kwargs)
        seen.append(inspect(group))
        stop = group.stop

        def stop_after_inspecting():
            try:
                seen.append(inspect(group))
            finally:
                stop()

        group.stop = stop_after_inspecting
        return group

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation_runners, "make_evaluation_runners", make)
        yield seen


def action_modes(runner) -> list[tuple[bool, bool]]:
    """(normalize_actions, clip_actions) of a runner's module-to-env connectors."""
    return [(c.normalize_actions, c.clip_actions) for c in runner._module_to_env.connectors]


@pytest.mark.slow
def test_train_checkpoint_evaluate_resume(ray_local, tmp_path, capsys):
    from mtrl_ray.cli.ray_init import cluster_running

    # A Ray some program started with ray.init() (this test's) is not one `rllib`
    # would join, so it must not be taken for one (it would size its own Ray wrong).
    assert not cluster_running()
    assert main(train_args(tmp_path, "run", 400)) == 0
    out = capsys.readouterr().out
    assert "iter    2  steps       400" in out and "SmallFoot=" in out and "BigFoot=" in out
    run = results(tmp_path / "run")
    per_task = {
        k: v for k, v in run[-1].items() if "per_task" in k and k.endswith("sampled_lifetime")
    }
    assert per_task == {
        f"env_runners/per_task/{t}/num_env_steps_sampled_lifetime": 200 for t in TASKS
    }
    checkpoints = sorted(trial_dir(tmp_path / "run").glob("checkpoint_*"))
    assert [c.name for c in checkpoints] == ["checkpoint_000000", "checkpoint_000001"]
    last = read_checkpoint(checkpoints[-1])
    assert last.tasks == tuple(TASKS)
    assert last.actions_for_env == {"normalize_actions": False, "clip_actions": False}

    # Evaluation: 2 episodes per task, with the checkpoint's normalization frozen: the
    # runners `rllib evaluate` builds, seen before their episodes and as they stop.
    def counts_and_modes(group):
        counts = group.foreach_env_runner(
            lambda r: r.module.obs_normalizer.count.tolist(), local_env_runner=False
        )
        return counts, group.foreach_env_runner(action_modes, local_env_runner=False)

    with inspected_runners(counts_and_modes) as seen:
        argv = ["evaluate", str(last.path), "--episodes", "2", "--out", str(tmp_path / "ev")]
        assert main(argv) == 0
    # The training statistics on every runner; evaluation does not update them; raw
    # actions, as in training.
    assert seen == [([[200.0, 200.0]] * 2, [[(False, False)]] * 2)] * 2
    table = capsys.readouterr().out
    assert "| HalfCheetahSmallFoot-v0 | HalfCheetahSmallFoot-v0 | 2 |" in table
    evaluation = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert [r["task"] for r in evaluation["results"]] == TASKS
    for r in evaluation["results"]:
        assert len(r["returns"]) == 2 and np.isfinite(r["returns"]).all()
        assert r["mean"] == pytest.approx(np.mean(r["returns"]))
        assert r["std"] == pytest.approx(np.std(r["returns"]))
    assert (tmp_path / "ev" / "evaluation.md").read_text().count("HalfCheetah") >= 4

    # A checkpoint from before the manifest recorded the mapping was trained with
    # RLlib's default (rescale and clip): evaluation sends actions the same way. (From
    # here on the checkpoint is such a one; the transfer runner below checks it.)
    manifest = last.path / "mtrl_ray.json"
    data = json.loads(manifest.read_text())
    del data["actions_for_env"]
    manifest.write_text(json.dumps(data))
    legacy = read_checkpoint(last.path)

    # Zero-shot transfer: the SmallFoot head on the held-out BigLeg variant.
    def inside(group):
        where = group.foreach_env_runner(
            lambda r: (
                r.task_name,
                r.task_id,
                float(r.env.unwrapped.envs[0].unwrapped.model.geom("fshin").size[0]),
            ),
            local_env_runner=False,
        )
        return where, group.foreach_env_runner(action_modes, local_env_runner=False)

    argv = ["evaluate", str(legacy.path), "--head", TASKS[0], "--tasks", "HalfCheetahBigLeg-v0"]
    argv += ["--deterministic"]  # mean actions: a file of their own
    with inspected_runners(inside) as seen:
        assert main([*argv, "--episodes", "1", "--out", str(tmp_path / "tr")]) == 0
    where, modes = seen[0]
    assert where == [("HalfCheetahBigLeg-v0", 0, pytest.approx(0.046 * 1.25))]
    assert modes == [[(True, False)]]  # the legacy checkpoint's mapping
    assert not (tmp_path / "tr" / "evaluation.json").exists()
    written = json.loads((tmp_path / "tr" / "evaluation_deterministic.json").read_text())
    assert written["deterministic"] is True
    transfer = written["results"]
    assert [(r["task"], r["head"]) for r in transfer] == [("HalfCheetahBigLeg-v0", TASKS[0])]
    assert f"| HalfCheetahBigLeg-v0 | {TASKS[0]} | 1 |" in capsys.readouterr().out

    # The head x environment matrix.
    matrix = ["evaluate", str(last.path), "--transfer", "--tasks", "HalfCheetahBigLeg-v0"]
    assert main([*matrix, "--episodes", "1", "--out", str(tmp_path / "tm")]) == 0
    cells = json.loads((tmp_path / "tm" / "transfer.json").read_text())["results"]
    assert [(r["head"], r["task"]) for r in cells] == [(t, "HalfCheetahBigLeg-v0") for t in TASKS]
    rows = (tmp_path / "tm" / "transfer.md").read_text().splitlines()
    assert rows[2].startswith("| head \\ environment | HalfCheetahBigLeg-v0 |")
    assert [r.split(" | ")[0] for r in rows[4:]] == [f"| {t}" for t in TASKS]

    # Resume: step counts continue from the checkpoint. The run is the example's YAML
    # form (test_yaml_and_python_tuned_examples_agree): a YAML tuned example trains.
    capsys.readouterr()
    resume = train_args(tmp_path, "resumed", 800, "--restore", str(last.path))
    resume[resume.index(str(EXAMPLE))] = str(EXAMPLE.with_suffix(".yaml"))
    assert main(resume) == 0
    assert "BigFoot=" in capsys.readouterr().out
    resumed = results(tmp_path / "resumed")
    steps = [r["env_runners/num_env_steps_sampled_lifetime"] for r in resumed]
    assert steps[0] == 600 and steps[-1] == 800
    final = next(trial_dir(tmp_path / "resumed").glob("checkpoint_*"))
    assert read_checkpoint(final).tasks == tuple(TASKS)

    # A checkpoint from another task set: one-line error, nothing written.
    bad = train_args(tmp_path, "other", 400, "--restore", str(last.path))
    bad[bad.index("--tasks") + 1] = "HalfCheetahSmallLeg-v0"
    capsys.readouterr()  # drop what Ray printed while stopping the last run
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert "was trained on tasks" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "other").exists()
    # A task the checkpoint has no head for.
    assert main(["evaluate", str(last.path), "--tasks", "HalfCheetahBigLeg-v0"]) == 2
    assert "no head for HalfCheetahBigLeg-v0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "HalfCheetahHugeFoot-v0"], "unknown task 'HalfCheetahHugeFoot-v0'"),
        (["--envs-per-runner", "0"], "--envs-per-runner must be >= 1"),
        (["--restore", "/no/such/checkpoint"], "checkpoint not found"),
        (["--config", "{normalize_rewards: true"], "--config is not valid JSON"),
        (["--config", '{"multi_task_update": "sideways"}'], "multi_task_update must be one of"),
    ],
)
def test_bad_train_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    argv = ["train", "file", str(EXAMPLE), "--storage-path", str(tmp_path / "runs"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_malformed_tuned_examples(tmp_path, capsys):
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("exp: [\n")
    broken_py = tmp_path / "broken.py"
    broken_py.write_text("config = A2CConfig(\n")
    no_run = tmp_path / "no_run.yaml"
    no_run.write_text("exp:\n  config: {}\n")
    for path, message in [
        (broken_yaml, "invalid YAML"),
        (broken_py, "SyntaxError"),
        (no_run, "needs `run:`"),
        (tmp_path / "missing.py", "tuned example not found"),
    ]:
        assert main(["train", "file", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_foreign_checkpoint(tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "rllib_checkpoint.json").write_text("{}")
    assert main(["evaluate", str(tmp_path / "ckpt")]) == 2
    assert "not an mtrl-ray checkpoint" in capsys.readouterr().err


def test_console_script_exit_code_and_help():
    done = subprocess.run(
        [sys.executable, "-m", "mtrl_ray.cli", "train", "file", "nope.py"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "rllib train: error: tuned example not found: nope.py"
    helped = subprocess.run(
        [sys.executable, "-m", "mtrl_ray.cli", "--help"], capture_output=True, text=True
    )
    assert "train" in helped.stdout and "evaluate" in helped.stdout


def test_yaml_and_python_tuned_examples_agree():
    from mtrl_ray.tuned_example import load_tuned_example

    for stem in ("halfcheetah_vanilla_multitask", "halfcheetah_scratch"):
        py = load_tuned_example(EXAMPLE.parent / f"{stem}.py")
        yml = load_tuned_example(EXAMPLE.parent / f"{stem}.yaml")
        assert py.stop == yml.stop and py.pass_criteria == yml.pass_criteria
        for key in (
            "env_config",
            "num_env_runners",
            "num_envs_per_env_runner",
            "lr",
            "gamma",
            "rollout_fragment_length",
            "multi_task_update",
            "entropy_coeff",
            "grad_clip",
            "model_shape",
        ):
            assert getattr(py.config, key) == getattr(yml.config, key), (stem, key)


def test_config_override(tmp_path):
    from mtrl_ray.cli import build_parser
    from mtrl_ray.cli.train import apply_command_line
    from mtrl_ray.tuned_example import load_tuned_example

    example = load_tuned_example(EXAMPLE)
    args = build_parser().parse_args(
        ["train", "file", str(EXAMPLE), "--config", '{"normalize_rewards": true, "lr": 0.001}']
    )
    apply_command_line(example, args)
    assert example.config.normalize_rewards is True and example.config.lr == 0.001


@pytest.mark.parametrize("address", [None, "local"])
def test_a_local_ray_gets_the_cpus_the_experiment_asks_for(monkeypatch, address):
    """Else Ray waits forever for runner CPUs a 2-core machine never has."""
    import ray

    from mtrl_ray.cli import ray_init

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(ray_init, "cluster_running", lambda: False)
    monkeypatch.setattr(ray_init, "probe_address", lambda address: None)  # no cluster listens
    wanted = (os.cpu_count() or 1) + 5
    ray_init.init_ray(address, cpus_wanted=wanted)
    assert calls[0]["address"] == address and calls[0]["num_cpus"] == wanted
    # Joining a cluster: its CPUs are what they are.
    ray_init.init_ray("127.0.0.1:6390", cpus_wanted=wanted)
    assert calls[1]["num_cpus"] is None


def test_model_config_override_reaches_the_module(tmp_path, capsys):
    """`--config '{"model_config": ...}'` updates the example's module shape; a key the
    module does not take is a one-line error before anything is written."""
    from mtrl_ray.cli import build_parser
    from mtrl_ray.cli.train import apply_command_line
    from mtrl_ray.tuned_example import load_tuned_example

    example = load_tuned_example(EXAMPLE)
    overrides = '{"model_config": {"initial_log_std": -1.5, "actor_hiddens": [32, 32]}}'
    args = build_parser().parse_args(["train", "file", str(EXAMPLE), "--config", overrides])
    apply_command_line(example, args)
    shape = example.config.model_shape
    assert shape.initial_log_std == -1.5 and shape.actor_hiddens == (32, 32)
    assert shape.tasks == example.config.task_set.names
    spec = example.config.get_rl_module_spec()
    spec.observation_space, spec.action_space = OBS_SPACE, ACT_SPACE
    module = spec.build()
    assert torch.all(module.actor.log_std == -1.5)
    assert module.actor.trunk(torch.zeros(1, 17)).shape == (1, 32)

    argv = ["train", "file", str(EXAMPLE), "--storage-path", str(tmp_path / "runs")]
    assert main([*argv, "--config", '{"model_config": {"fcnet_hiddens": [8]}}']) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown model_config key(s) fcnet_hiddens" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()
