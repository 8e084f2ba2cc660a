"""A cross-family A2C run (HalfCheetah, Walker2d, Hopper) trains, checkpoints and evaluates.

Real local Ray and MuJoCo: the tuned example `cross_family_multitask.py` with three of
its tasks for two small iterations through `rllib train`; then `rllib evaluate` runs
each head on its own env, and a head on a body of other sizes is a one-line error.
(Transfer and new heads: test_cross_family_transfer.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import CROSS_FAMILY_TASKS

from mtrl_ray import metrics
from mtrl_ray.checkpoints import read_checkpoint
from mtrl_ray.cli import main

TASKS = CROSS_FAMILY_TASKS


@pytest.fixture(scope="module")
def checkpoint(ray_module, cross_family_checkpoint) -> Path:
    """Two iterations of the cross-family example on three tasks, via `rllib train`
    (the session's run, tests/conftest.py; test_cross_family_transfer.py uses it too)."""
    return cross_family_checkpoint


@pytest.mark.slow
def test_cross_family_run_trains_and_records_each_task_sizes(checkpoint):
    """Every task sampled and updated; the manifest holds each task's own sizes."""
    info = read_checkpoint(checkpoint)
    assert info.tasks == TASKS
    assert (info.observation_shape, info.action_shape) == ((17,), (6,))  # padded
    assert info.task_sizes == dict(zip(TASKS, [(17, 6), (17, 6), (11, 3)], strict=True))
    assert info.model_config["families"] == ["HalfCheetah", "Walker2d", "Hopper"]
    lines = (checkpoint.parent / "result.json").read_text().splitlines()
    result = json.loads(lines[-1])
    per_task = result["env_runners"][metrics.PER_TASK]
    for task in TASKS:
        assert per_task[task][metrics.NUM_ENV_STEPS] > 0, task
    losses = result["learners"]["default_policy"][metrics.PER_TASK]
    assert set(losses) == set(TASKS)
    weights = torch.load(info.weights_path, weights_only=True)
    # Trained: Hopper's own log-std moved from its initial 0, its padded dims did not
    # (they get no gradient).
    assert weights["actor.log_std"][2, :3].abs().min() > 0
    assert not weights["actor.log_std"][2, 3:].any()


@pytest.mark.slow
def test_evaluate_each_head_on_its_own_env(checkpoint, tmp_path, capsys):
    """`rllib evaluate` runs every head on its own (unpadded) body; returns are finite."""
    out = tmp_path / "eval"
    argv = ["evaluate", str(checkpoint), "--episodes", "1", "--out", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "evaluation.json").read_text())["results"]
    assert [r["task"] for r in results] == list(TASKS)
    assert all(r["episodes"] == 1 and abs(r["mean"]) < 1e5 for r in results)


@pytest.mark.slow
def test_head_on_a_body_of_other_sizes_is_one_line_error(checkpoint, tmp_path, capsys):
    """`--head` on a variant of other observation/action sizes: exit 2, one line, no Ray."""
    argv = ["evaluate", str(checkpoint), "--head", "HopperSmallFoot-v0", "--tasks",
            "HalfCheetahBigFoot-v0", "--out", str(tmp_path / "no")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "sizes differ" in err and "\n" not in err
    assert not (tmp_path / "no").exists()
