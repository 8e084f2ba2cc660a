"""Transfer and new heads of a cross-family A2C checkpoint (real local Ray and MuJoCo).

The checkpoint is the session's two-iteration HalfCheetah + Walker2d + Hopper run of
the cross-family example (tests/conftest.py `cross_family_checkpoint`); `rllib evaluate
--transfer` then runs each head on the held-out variants of its sizes only, and a new
head for a held-out Hopper variant trains alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import CROSS_FAMILY_TASKS

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.complete_checkpoints import learner_weights
from mtrl_ray.checkpoints import read_checkpoint
from mtrl_ray.cli import main

TASKS = CROSS_FAMILY_TASKS


def _config() -> A2CConfig:
    return (
        A2CConfig()
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=5)
        .debugging(seed=1)
    )


@pytest.fixture(scope="module")
def checkpoint(ray_module, cross_family_checkpoint) -> Path:
    """Two small iterations on three families via `rllib train` (the session's run of
    the cross-family example, tests/conftest.py; its checks: test_cross_family_training.py)."""
    read_checkpoint(cross_family_checkpoint)  # an mtrl-ray checkpoint
    return cross_family_checkpoint


@pytest.mark.slow
def test_transfer_where_sizes_allow(checkpoint, tmp_path):
    """--transfer runs each head on the variants of its sizes, the other cells stay empty;
    with --deterministic, acting with the mean action, into a file of its own."""
    out = tmp_path / "transfer"
    variants = "HopperBigFoot-v0,Walker2dSmallLeg-v0"
    argv = ["evaluate", str(checkpoint), "--transfer", "--tasks", variants, "--episodes", "1",
            "--out", str(out), "--deterministic"]  # fmt: skip
    assert main(argv) == 0
    assert not (out / "transfer.json").exists()
    written = json.loads((out / "transfer_deterministic.json").read_text())
    assert written["deterministic"] is True
    assert "mean action" in (out / "transfer_deterministic.md").read_text().splitlines()[0]
    results = written["results"]
    assert {(r["head"], r["task"]) for r in results} == {
        ("HalfCheetahSmallFoot-v0", "Walker2dSmallLeg-v0"),  # 17/6 both: sizes allow
        ("Walker2dBigTorso-v0", "Walker2dSmallLeg-v0"),
        ("HopperSmallFoot-v0", "HopperBigFoot-v0"),
    }
    assert all(r["episodes"] == 1 for r in results)


def test_transfer_defaults_to_the_variants_of_the_checkpoint_bodies():
    from types import SimpleNamespace

    from mtrl_ray.envs import FAMILIES, VARIANTS
    from mtrl_ray.transfer import default_transfer_variants

    bodies = default_transfer_variants(SimpleNamespace(tasks=TASKS))
    assert bodies == [*FAMILIES["HalfCheetah"], *FAMILIES["Walker2d"], *FAMILIES["Hopper"]]
    cheetah = default_transfer_variants(SimpleNamespace(tasks=("HalfCheetahBigFoot-v0",)))
    assert cheetah == list(VARIANTS) and len(cheetah) == 10
    assert default_transfer_variants(SimpleNamespace(tasks=("PointMass-v0",))) == cheetah


@pytest.mark.slow
def test_new_heads_of_held_out_variants_train_alone(checkpoint):
    """New Hopper and Walker2d heads train in one run; the old heads' rows and the
    trunks stay bit-identical. The Hopper head starts from its sibling's rows (chosen
    in `source_heads`), the Walker2d head fresh."""
    source = torch.load(read_checkpoint(checkpoint).weights_path, weights_only=True)
    tasks = ["HopperBigFoot-v0", "Walker2dSmallLeg-v0"]
    config = _config().new_head(checkpoint, tasks, source_heads={tasks[0]: "HopperSmallFoot-v0"})
    assert config.num_env_runners == 2  # one per new task: the old tasks are not sampled
    algo = config.build_algo()
    try:
        start = {k: torch.as_tensor(v) for k, v in learner_weights(algo).items()}
        algo.train()
        after = {k: torch.as_tensor(v) for k, v in learner_weights(algo).items()}
    finally:
        algo.stop()
    for name, value in source.items():
        value = value.to(after[name].dtype)
        if name.startswith(("actor.trunk", "critic_trunk")):
            assert torch.equal(after[name], value), name
        else:  # per task (the input layers too, with input_layer="task")
            assert torch.equal(after[name][:3], value[:3]), f"old heads' {name} changed"
            assert torch.equal(start[name][3], value[2]), f"{name}: not HopperSmallFoot's"
    for new in (3, 4):
        for name in ("actor.encoder.weight", "actor.heads.out.weight", "actor.log_std"):
            assert not torch.equal(after[name][new], start[name][new]), f"new {name} still"
        assert float(after["obs_normalizer.count"][new]) > 0
    assert float(start["obs_normalizer.count"][4]) == 0.0  # Walker2dSmallLeg: fresh


@pytest.mark.slow
def test_new_head_refuses_a_task_the_checkpoint_has(cross_family_checkpoint):
    from mtrl_ray.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="already has a head for HopperSmallFoot-v0"):
        _config().new_head(cross_family_checkpoint, ["HopperBigFoot-v0", "HopperSmallFoot-v0"])


@pytest.mark.slow
def test_policy_and_export_take_each_task_own_sizes(checkpoint, tmp_path):
    """`Policy` and a TorchScript export act on a Hopper's 11 dims with 3 actions, alike."""
    import numpy as np

    from mtrl_ray import Policy
    from mtrl_ray.envs import make_env
    from mtrl_ray.export import export_policy

    policy = Policy.load(checkpoint)
    env = make_env("HopperSmallFoot-v0")
    obs, _ = env.reset(seed=0)
    env.close()
    assert policy.sizes("HopperSmallFoot-v0") == (11, 3)
    action = policy.act(obs, "HopperSmallFoot-v0")
    assert action.shape == (3,)
    with pytest.raises(ValueError, match="this policy takes"):
        policy.act(np.zeros(17), "HopperSmallFoot-v0")
    export_policy(checkpoint, "torchscript", tmp_path)
    graph = torch.jit.load(str(tmp_path / "HopperSmallFoot-v0.pt"))
    exported, mean, _ = graph(torch.as_tensor(obs[None], dtype=torch.float32))
    np.testing.assert_allclose(mean.numpy()[0], policy.gaussian(obs, "HopperSmallFoot-v0")[0],
                               atol=1e-5)  # fmt: skip
    assert exported.shape == (1, 3)
