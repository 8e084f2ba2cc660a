"""Checkpoints saved before the actor was one submodule still load, tensor for tensor.

The committed checkpoints under results/ name the actor's tensors as the module did
then (`actor_trunk.*`, `actor_heads.*`, `log_std`); loading renames them
(`mtrl_ray.legacy_keys`). No Ray: the weights files, and RLlib's module files read
the way `RLModule.from_checkpoint` reads them.
"""

from __future__ import annotations

import pickle
import subprocess
from dataclasses import asdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import cross_family_model_config
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import TARGET_NETWORK_ACTION_DIST_INPUTS
from ray.rllib.core.rl_module.rl_module import RLModule

from mtrl_ray.algorithms.appo.multi_task_appo_rl_module import MultiTaskAPPOModule
from mtrl_ray.checkpoints import read_checkpoint, read_weights
from mtrl_ray.columns import TASK_ID
from mtrl_ray.envs import task_shapes
from mtrl_ray.legacy_keys import current_names
from mtrl_ray.policy import build_module

REPO = Path(__file__).resolve().parents[1]
OLD_ACTOR_NAMES = ("log_std", "actor_trunk.0.weight", "actor_heads.out.weight")


def _committed_checkpoints() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [REPO / Path(p).parent for p in listed if p.endswith("/mtrl_ray.json")]


def _old_names(path: Path) -> bool:
    """Whether a checkpoint's RLlib module file names its tensors the old way."""
    module_file = read_checkpoint(path).module_path / "module_state.pkl"
    if not module_file.is_file():
        return False
    with module_file.open("rb") as f:
        return set(OLD_ACTOR_NAMES) <= set(pickle.load(f))  # the repository's own files


CHECKPOINTS = _committed_checkpoints()
#: One RLlib checkpoint per algorithm, saved before the rename (newer ones use the new
#: names: the Table 2 runs resumed after it).
RLLIB_CHECKPOINTS = list(
    {read_checkpoint(p).algorithm: p for p in reversed(CHECKPOINTS) if _old_names(p)}.values()
)


def test_the_committed_checkpoints_use_the_old_names():
    """Otherwise the tests below would not exercise the renaming."""
    assert len(CHECKPOINTS) >= 30 and len(RLLIB_CHECKPOINTS) >= 3
    weights_files = [read_checkpoint(p).weights_path for p in CHECKPOINTS]
    old = [w for w in weights_files if w.is_file() and
           set(OLD_ACTOR_NAMES) <= set(torch.load(w, weights_only=True))]  # fmt: skip
    assert len(old) >= 3


def test_weights_files_load_every_actor_tensor():
    """Policy, evaluation and teachers load through `read_weights` + `build_module`."""
    loaded = 0
    for path in CHECKPOINTS:
        info = read_checkpoint(path)
        if not info.weights_path.is_file():  # older still: `rllib upgrade-checkpoint`
            continue
        raw = torch.load(info.weights_path, map_location="cpu", weights_only=True)
        module = build_module(info, read_weights(info))
        state = module.state_dict()
        renamed = current_names(raw)
        assert len(renamed) == len(raw)
        assert "actor.log_std" in state
        for name, tensor in state.items():
            assert torch.equal(tensor, renamed[name]), (path, name)
        # The numpy path reads the same tensors.
        obs = np.random.default_rng(0).normal(size=(5, module.observation_space.shape[0]))
        task = len(info.tasks) - 1
        batch = {Columns.OBS: torch.as_tensor(obs), TASK_ID: torch.full((5,), task)}
        with torch.no_grad():
            torch_out = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].numpy()
        np.testing.assert_allclose(module.numpy_policy(task)(obs), torch_out, atol=1e-5)
        loaded += 1
    assert loaded >= 30


@pytest.mark.parametrize("path", RLLIB_CHECKPOINTS, ids=lambda p: read_checkpoint(p).algorithm)
def test_rllib_module_files_load_every_tensor_in_the_optimizers_order(path):
    """RLlib's restore (`set_state`, strict=False) must not skip a renamed tensor."""
    info = read_checkpoint(path)
    with (info.module_path / "module_state.pkl").open("rb") as f:
        raw = pickle.load(f)  # the repository's own files (trusted)
    assert set(OLD_ACTOR_NAMES) <= set(raw)
    module = RLModule.from_checkpoint(str(info.module_path))
    state = module.state_dict()
    renamed = current_names(raw)
    assert set(renamed) == set(state)
    for name, tensor in state.items():
        np.testing.assert_array_equal(tensor.numpy(), np.asarray(renamed[name]), err_msg=name)
    # Optimizer states are lists in parameter order: the old order, renamed. (The
    # old module's state dict listed its parameters in that order, buffers between.)
    parameters = [name for name, _ in module.named_parameters()]
    assert [n for n in renamed if n in parameters] == parameters


def _appo_module(seed: int) -> MultiTaskAPPOModule:
    tasks = ("HalfCheetahSmallFoot-v0", "Walker2dBigLeg-v0", "HopperSmallTorso-v0")
    shapes = task_shapes(tasks)
    config = cross_family_model_config(tasks, input_layer="family")
    torch.manual_seed(seed)
    module = MultiTaskAPPOModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (shapes.obs_dim,)),
        action_space=gym.spaces.Box(-1.0, 1.0, (shapes.act_dim,)),
        model_config=asdict(config),
    )
    module.make_target_networks()
    return module


def _old_appo_name(name: str) -> str:
    """The name the APPO module gave a tensor before the actor was one submodule."""
    for new, old in (
        ("actor.", "actor_"),
        ("actor_log_std", "log_std"),
        ("_target_obs_normalizer.", "_target_policy.obs_normalizer."),
        ("_target_actor.", "_target_policy."),
    ):
        if name.startswith(new):
            name = old + name[len(new) :]
    return name


def test_an_older_appo_state_restores_its_target_policy():
    saved = _appo_module(seed=0)
    with torch.no_grad():  # the target differs from the main policy: weights, statistics
        for p in saved.actor.parameters():
            p.add_(0.1 * torch.randn_like(p))
        saved.obs_normalizer.mean.add_(1.0)
    old_state = {_old_appo_name(k): v.numpy() for k, v in saved.state_dict().items()}
    assert {"log_std", "actor_encoder.weight", "_target_policy.trunk.0.weight"} <= set(old_state)
    assert "_target_policy.obs_normalizer.mean" in old_state

    restored = _appo_module(seed=1)
    restored.set_state(old_state)
    batch = {Columns.OBS: torch.randn(6, 17), TASK_ID: torch.tensor([0, 1, 2] * 2)}
    with torch.no_grad():
        for key, forward in (
            (TARGET_NETWORK_ACTION_DIST_INPUTS, "forward_target"),
            (Columns.ACTION_DIST_INPUTS, "forward_train"),
        ):
            expected = getattr(saved, forward)(batch)[key]
            torch.testing.assert_close(getattr(restored, forward)(batch)[key], expected)
        target = saved.forward_target(batch)[TARGET_NETWORK_ACTION_DIST_INPUTS]
        assert not torch.allclose(target, saved.forward_train(batch)[Columns.ACTION_DIST_INPUTS])
