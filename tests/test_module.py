"""The multi-head module: shapes, per-sample routing, gradients, normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ACT_SPACE, OBS_SPACE
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch import TorchRLModule

from mtrl_ray.columns import TASK_ID
from mtrl_ray.modules import MultiTaskActorCritic, TaskLinear, TaskObservationNormalizer
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskModelConfig, module_spec

TASKS = ("HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0", "HalfCheetahSmallLeg-v0")


def build(tasks=TASKS, inference_only=False, **shape) -> MultiTaskActorCritic:
    spec = module_spec(MultiTaskModelConfig(tasks=tasks, **shape))
    spec.observation_space, spec.action_space = OBS_SPACE, ACT_SPACE
    spec.inference_only = inference_only
    return spec.build()


def batch(n: int, task_ids, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        Columns.OBS: torch.randn(n, 17, generator=g),
        TASK_ID: torch.as_tensor(task_ids, dtype=torch.long),
    }


def test_shapes_and_value_api():
    module = build()
    b = batch(12, [0, 1, 2] * 4)
    out = module.forward_train(b)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (12, 12)  # mean + log-std, 6 dims
    assert out[Columns.VF_PREDS].shape == (12,)
    torch.testing.assert_close(module.compute_values(b), out[Columns.VF_PREDS])
    # The task id comes back out of the exploration forward, to be stored per step.
    assert torch.equal(module.forward_exploration(b)[TASK_ID], b[TASK_ID])


def test_each_sample_uses_its_own_tasks_head():
    """A mixed batch gives every sample exactly what a single-task batch gives it."""
    module = build()
    with torch.no_grad():
        for p in module.parameters():  # break the symmetry of the small-gain init
            p.add_(torch.randn_like(p) * 0.3)
    ids = [2, 0, 1, 1, 0, 2]
    mixed = module.forward_train(batch(6, ids))
    for task in range(3):
        rows = [i for i, t in enumerate(ids) if t == task]
        alone = batch(6, [task] * 6)
        out = module.forward_train(alone)
        for key in (Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS):
            torch.testing.assert_close(mixed[key][rows], out[key][rows])
    # ... and the heads really differ.
    a = module.forward_train(batch(6, [0] * 6))[Columns.ACTION_DIST_INPUTS]
    b = module.forward_train(batch(6, [1] * 6))[Columns.ACTION_DIST_INPUTS]
    assert not torch.allclose(a, b)


def test_every_parameter_gets_a_gradient_and_only_from_its_task():
    module = build()
    out = module.forward_train(batch(9, [0, 1, 2] * 3))
    (out[Columns.ACTION_DIST_INPUTS].sum() + out[Columns.VF_PREDS].sum()).backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    module.zero_grad()
    out = module.forward_train(batch(4, [1] * 4))
    (out[Columns.ACTION_DIST_INPUTS].sum() + out[Columns.VF_PREDS].sum()).backward()
    head = module.actor.heads.out.weight.grad
    assert head[1].abs().sum() > 0
    assert head[0].abs().sum() == 0 and head[2].abs().sum() == 0


def test_shared_layer_counts_are_configurable():
    module = build(actor_shared_layers=1, critic_shared_layers=0)
    assert len(module.actor.trunk) == 2  # one Linear + Tanh
    assert len(module.actor.heads.hidden) == 1
    assert len(module.critic_trunk) == 0 and len(module.critic_heads.hidden) == 2
    with pytest.raises(ValueError, match="actor_shared_layers"):
        build(actor_shared_layers=3)


def test_one_task_is_the_plain_network():
    module = build(tasks=("HalfCheetahSmallFoot-v0",))
    b = {Columns.OBS: torch.randn(5, 17)}  # no task column needed with one task
    out = module.forward_train(b)
    lin = module.actor.heads.out
    assert isinstance(lin, TaskLinear) and lin.weight.shape[0] == 1
    assert out[Columns.ACTION_DIST_INPUTS].shape == (5, 12)


def test_inference_only_module_has_no_critic_and_loads_learner_weights():
    learner_module = build()
    runner_module = build(inference_only=True)
    assert not hasattr(runner_module, "critic_heads")
    runner_module.set_state(learner_module.get_state(inference_only=True))
    b = batch(6, [0, 1, 2, 2, 1, 0])
    torch.testing.assert_close(
        runner_module.forward_inference(b)[Columns.ACTION_DIST_INPUTS],
        learner_module.forward_inference(b)[Columns.ACTION_DIST_INPUTS],
    )


def test_set_state_copies_numpy_weights_in_place_and_else_goes_rllibs_way(recwarn):
    """A full numpy state is copied into the module's own tensors (a runner's numpy actor
    keeps viewing them); read-only arrays, tensors and partial states load as RLlib's."""
    learner_module = build()
    with torch.no_grad():
        learner_module.obs_normalizer.update(
            torch.randn(30, 17) + 3.0, torch.zeros(30, dtype=torch.long)
        )
        for p in learner_module.parameters():
            p.normal_(0.0, 0.3)
    state = learner_module.get_state(inference_only=True)
    runner_module = build(inference_only=True)
    before = {k: v for k, v in runner_module.state_dict(keep_vars=True).items()}
    with pytest.MonkeyPatch.context() as patch:  # not through RLlib's load_state_dict
        patch.setattr(TorchRLModule, "set_state", lambda *_: pytest.fail("RLlib's path"))
        runner_module.set_state(state)
    after = runner_module.state_dict(keep_vars=True)
    assert all(after[k] is before[k] for k in before)  # the same tensors, new values
    for name, value in state.items():
        np.testing.assert_array_equal(after[name].detach().numpy(), value)

    # Read-only arrays (from Ray's object store) and tensors: RLlib's path, same values.
    for variant in (
        {k: np.frombuffer(v.tobytes(), v.dtype).reshape(v.shape) for k, v in state.items()},
        {k: torch.as_tensor(v) for k, v in state.items()},
    ):
        other = build(inference_only=True)
        other.set_state(variant)
        for name, value in state.items():
            np.testing.assert_array_equal(other.state_dict()[name].numpy(), value)
    assert not [w for w in recwarn if "not writable" in str(w.message)]

    # A state missing a tensor is RLlib's to refuse (an inference-only module needs all).
    partial = dict(state)
    partial.pop(next(iter(partial)))
    with pytest.raises(ValueError, match="missing keys"):
        build(inference_only=True).set_state(partial)


def test_normalizer_matches_numpy_per_task_over_several_updates():
    norm = TaskObservationNormalizer(num_tasks=2, obs_dim=3, clip=100.0)
    rng = np.random.default_rng(0)
    seen = {0: [], 1: []}
    for step in range(4):
        task = rng.integers(0, 2, size=50)
        obs = rng.normal(loc=task[:, None] * 10.0 + step, scale=1 + task[:, None], size=(50, 3))
        norm.update(torch.as_tensor(obs), torch.as_tensor(task))
        for t in (0, 1):
            seen[t].append(obs[task == t])
    for t in (0, 1):
        data = np.concatenate(seen[t])
        np.testing.assert_allclose(norm.mean[t].numpy(), data.mean(0), rtol=1e-10)
        np.testing.assert_allclose(norm.var[t].numpy(), data.var(0), rtol=1e-10)
        assert norm.count[t].item() == len(data)
    # Normalizing uses each sample's own task statistics, and clips.
    x = torch.tensor([[10.0, 10.0, 10.0]], dtype=torch.float64)
    z0 = norm(x, torch.tensor([0]))
    z1 = norm(x, torch.tensor([1]))
    assert not torch.allclose(z0, z1)
    clipped = TaskObservationNormalizer(1, 3, clip=5.0)(x * 100, torch.tensor([0]))
    assert clipped.max().item() == 5.0


def test_normalization_statistics_are_saved_in_the_module_state():
    module = build()
    module.obs_normalizer.update(torch.randn(30, 17) + 3.0, torch.zeros(30, dtype=torch.long))
    other = build()
    other.set_state(module.get_state())
    torch.testing.assert_close(other.obs_normalizer.mean, module.obs_normalizer.mean)
    torch.testing.assert_close(other.obs_normalizer.count, module.obs_normalizer.count)


@pytest.mark.parametrize(
    "shape",
    [
        {},  # the paper's: 2 shared actor layers
        {"actor_shared_layers": 1},
        {"actor_shared_layers": 0, "normalize_observations": False},
        {"tasks": ("HalfCheetahSmallFoot-v0",)},
    ],
)
def test_numpy_policy_equals_the_torch_forward_and_follows_set_state(shape):
    """A runner's numpy actor gives `_forward`'s Gaussian inputs, also after new weights."""
    shape = {"tasks": TASKS, **shape}
    runner_module = build(inference_only=True, **shape)
    task = len(shape["tasks"]) - 1
    policy = runner_module.numpy_policy(task)  # taken before the new state arrives
    learner_module = build(**shape)
    with torch.no_grad():  # statistics and heads away from their initial values
        learner_module.obs_normalizer.update(3 * torch.randn(64, 17) + 1, torch.full((64,), task))
        for p in learner_module.actor.heads.parameters():
            p.normal_(0.0, 0.3)
        learner_module.actor.log_std.normal_(0.0, 0.3)
    runner_module.set_state(learner_module.get_state(inference_only=True))
    obs = batch(16, [task] * 16, seed=1)
    expected = learner_module.forward_inference(obs)[Columns.ACTION_DIST_INPUTS].numpy()
    got = policy(obs[Columns.OBS].numpy().astype(np.float64))
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(
        got,
        build(inference_only=True, **shape).numpy_policy(task)(
            obs[Columns.OBS].numpy().astype(np.float64)
        ),
        atol=1e-3,
    ), "the policy must see the loaded weights, not its module's initial ones"
