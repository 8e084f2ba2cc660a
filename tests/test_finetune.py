"""Fine-tuning and new heads: what trains, what stays bit-identical, what the optimizer holds."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import train_outside_tune
from ray.rllib.core.columns import Columns

from mtrl_ray import metrics
from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.complete_checkpoints import learner_weights
from mtrl_ray.checkpoints import read_checkpoint
from mtrl_ray.cli import main
from mtrl_ray.columns import TASK_ID
from mtrl_ray.envs.point_mass import HEAVY_POINT_MASS_ID, POINT_MASS_ID
from mtrl_ray.modules.fine_tuning import (
    head_sources,
    load_fine_tune_start,
    trainable_parameter_names,
)
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic, MultiTaskModelConfig

REPO = Path(__file__).resolve().parents[1]
LAST = {
    "actor.heads.out.weight",
    "actor.heads.out.bias",
    "actor.log_std",
    "critic_heads.out.weight",
    "critic_heads.out.bias",
}


def _module(tasks: tuple[str, ...], seed: int) -> MultiTaskActorCritic:
    torch.manual_seed(seed)
    return MultiTaskActorCritic(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2,)),
        action_space=gym.spaces.Box(-1.0, 1.0, (1,)),
        model_config=vars(MultiTaskModelConfig(tasks=tasks)),
    )


def test_trainable_parameter_names():
    """ "last" is the paper's last layers; "heads" adds the per-task hidden layers."""
    module = _module(("a", "b"), seed=0)
    assert trainable_parameter_names(module, "last") == LAST
    heads = trainable_parameter_names(module, "heads")
    assert heads == LAST | {"critic_heads.hidden.0.weight", "critic_heads.hidden.0.bias"}
    assert trainable_parameter_names(module, "all") == {n for n, _ in module.named_parameters()}
    with pytest.raises(ValueError, match="trainable must be one of"):
        trainable_parameter_names(module, "trunk")


def test_adding_a_head_leaves_existing_heads_outputs_unchanged():
    """A module with one more task, loaded from a checkpoint's tensors, acts as before."""
    old = _module(("a", "b"), seed=0)
    old.obs_normalizer.update(torch.randn(50, 2) * 3 + 1, torch.randint(0, 2, (50,)))
    new = _module(("a", "b", "c"), seed=1)
    fresh_c = new.actor.heads.out.weight[2].clone()
    load_fine_tune_start(new, old.state_dict(), head_sources(("a", "b"), ("a", "b", "c"), None))
    obs = torch.randn(20, 2)
    for head in (0, 1):
        ids = torch.full((20,), head)
        before = old.forward_inference({Columns.OBS: obs, TASK_ID: ids})
        after = new.forward_inference({Columns.OBS: obs, TASK_ID: ids})
        torch.testing.assert_close(
            after[Columns.ACTION_DIST_INPUTS], before[Columns.ACTION_DIST_INPUTS], rtol=0, atol=0
        )
    assert torch.equal(new.actor.heads.out.weight[2], fresh_c)  # the new head is fresh
    assert float(new.obs_normalizer.count[2]) == 0.0
    # With a source head, the new task starts as a copy of it.
    load_fine_tune_start(new, old.state_dict(), head_sources(("a", "b"), ("a", "b", "c"), "b"))
    assert torch.equal(new.actor.heads.out.weight[2], old.actor.heads.out.weight[1])
    assert torch.equal(new.obs_normalizer.mean[2], old.obs_normalizer.mean[1])


def _config() -> A2CConfig:
    return (
        A2CConfig()
        .env_runners(num_envs_per_env_runner=4, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=20, lr=3e-3)
        .debugging(seed=3)
    )


@pytest.fixture(scope="module")
def source_checkpoint(ray_module, tmp_path_factory) -> Path:
    """A single-task A2C checkpoint on PointMass (E1)."""
    config = _config().multi_task([POINT_MASS_ID])
    root = tmp_path_factory.mktemp("source")
    return train_outside_tune(config, root / "source", iterations=2)


@pytest.mark.slow
@pytest.mark.parametrize("trainable", ["last", "heads"])
def test_fine_tune_trains_only_what_it_should(ray_module, source_checkpoint, trainable):
    """E1 -> E2: frozen tensors bit-identical, trainable ones changed, optimizer holds those."""
    source = torch.load(read_checkpoint(source_checkpoint).weights_path, weights_only=True)
    config = (
        _config()
        .multi_task([HEAVY_POINT_MASS_ID])
        .fine_tune(source_checkpoint, trainable=trainable)
    )
    algo = config.build_algo()
    try:
        start = {k: torch.as_tensor(v) for k, v in learner_weights(algo).items()}
        for _ in range(2):
            algo.train()
        after = {k: torch.as_tensor(v) for k, v in learner_weights(algo).items()}
        learner = algo.learner_group._learner
        module = learner.module["default_policy"]
        optimized = {id(p) for opt in learner._named_optimizers.values() for g in opt.param_groups
                     for p in g["params"]}  # fmt: skip
        named = dict(module.named_parameters())
    finally:
        algo.stop()
    expected = trainable_parameter_names(module, trainable)
    # The run started from the source's weights and normalization statistics.
    for name, value in source.items():
        assert torch.equal(start[name], value.to(start[name].dtype)), name
    for name in named:
        if name in expected:
            assert not torch.equal(after[name], start[name]), f"{name} did not train"
        else:
            assert torch.equal(after[name], start[name]), f"frozen {name} changed"
    assert optimized == {id(named[n]) for n in expected}
    # Statistics keep updating from E2's observations, starting from E1's.
    assert float(after["obs_normalizer.count"][0]) > float(source["obs_normalizer.count"][0])


@pytest.mark.slow
def test_new_head_trains_alone(ray_module, source_checkpoint):
    """A held-out task's head is added and trained; the old head and the trunk stay put."""
    source = torch.load(read_checkpoint(source_checkpoint).weights_path, weights_only=True)
    config = _config().new_head(source_checkpoint, HEAVY_POINT_MASS_ID)
    assert config.num_env_runners == 1
    algo = config.build_algo()
    try:
        start = {k: torch.as_tensor(v) for k, v in learner_weights(algo).items()}
        for _ in range(2):
            result = algo.train()
        after = {k: torch.as_tensor(v) for k, v in learner_weights(algo).items()}
    finally:
        algo.stop()
    assert list(result["env_runners"][metrics.PER_TASK]) == [HEAVY_POINT_MASS_ID]
    for name, value in source.items():
        value = value.to(after[name].dtype)
        if name.startswith(("actor.trunk", "critic_trunk")):
            assert torch.equal(after[name], value), name
        else:  # per task: row 0 is the old head, row 1 the new one
            assert torch.equal(after[name][0], value[0]), f"old head's {name} changed"
    assert not torch.equal(after["actor.heads.out.weight"][1], start["actor.heads.out.weight"][1])
    assert float(after["obs_normalizer.count"][1]) > 0


def test_bad_fine_tune_checkpoint_is_one_line_error(tmp_path, capsys):
    """A missing checkpoint stops `rllib train` before Ray starts, in one line."""
    example = REPO / "tuned_examples" / "a2c" / "halfcheetah_finetune.py"
    missing = tmp_path / "nowhere"
    argv = ["train", "file", str(example), "--storage-path", str(tmp_path / "runs")]
    assert main([*argv, "--config", f'{{"fine_tune_from": "{missing}"}}']) == 2
    err = capsys.readouterr().err.strip()
    assert "checkpoint not found" in err and str(missing) in err and "\n" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_fine_tune_needs_the_same_network(source_checkpoint):
    """A checkpoint of another network shape is refused by validation."""
    config = A2CConfig().multi_task([HEAVY_POINT_MASS_ID]).fine_tune(source_checkpoint)
    config.model_shape  # noqa: B018  (the default shape matches)
    config.validate()
    config.fine_tune(source_checkpoint, source_head=HEAVY_POINT_MASS_ID)
    with pytest.raises(ValueError, match="has no head mtrl_ray/PointMassHeavy-v0"):
        config.validate()


@pytest.mark.slow
def test_upgrade_an_older_checkpoint(source_checkpoint, tmp_path, capsys):
    """A checkpoint without a weights file gets one equal to the module's own tensors."""
    import json
    import shutil

    from mtrl_ray.checkpoints import MANIFEST

    old = tmp_path / "old"
    shutil.copytree(source_checkpoint, old)
    (old / "module_weights.pt").unlink()
    manifest = json.loads((old / MANIFEST).read_text())
    del manifest["observation_shape"], manifest["action_shape"]
    (old / MANIFEST).write_text(json.dumps(manifest))
    assert read_checkpoint(old).observation_shape is None
    assert main(["upgrade-checkpoint", str(old)]) == 0
    info = read_checkpoint(old)
    assert (info.observation_shape, info.action_shape) == ((2,), (1,))
    ours = torch.load(info.weights_path, weights_only=True)
    original = torch.load(read_checkpoint(source_checkpoint).weights_path, weights_only=True)
    assert ours.keys() == original.keys()
    assert all(torch.equal(ours[k], original[k]) for k in ours)
