"""One module across body families: padded spaces, masked Gaussians, no padded dim in a loss.

Everything here runs without Ray: real MuJoCo envs, the real module, the real A2C and
distillation losses (the learners' loss methods on a stand-in holding the module).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import cross_family_model_config
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.a2c.a2c_torch_learner import A2CTorchLearner
from mtrl_ray.algorithms.distill.distill_torch_learner import DistillTorchLearner
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.lean_gaussian import SampleDiagGaussian
from mtrl_ray.connectors.teacher_targets import TEACHER_LOG_STD, TEACHER_MEAN
from mtrl_ray.envs import PadSpaces, make_env, task_shapes
from mtrl_ray.modules.fine_tuning import encoder_sources, head_sources, load_fine_tune_start
from mtrl_ray.modules.masked_gaussian import MaskedDiagGaussian
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic
from mtrl_ray.tasks import make_pinned_env

REPO = Path(__file__).resolve().parents[1]
CHEETAH_CHECKPOINT = REPO / "results/vanilla_multitask_seed0/checkpoint/checkpoint_000250"
TASKS = ("HalfCheetahSmallFoot-v0", "Walker2dBigLeg-v0", "HopperSmallTorso-v0")
OWN = {0: (17, 6), 1: (17, 6), 2: (11, 3)}  # HalfCheetah, Walker2d, Hopper


def _module(tasks=TASKS, input_layer="task", seed=0, **kwargs) -> MultiTaskActorCritic:
    shapes = task_shapes(tasks)
    config = cross_family_model_config(tasks, input_layer=input_layer, **kwargs)
    torch.manual_seed(seed)
    return MultiTaskActorCritic(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (shapes.obs_dim,)),
        action_space=gym.spaces.Box(-1.0, 1.0, (shapes.act_dim,)),
        model_config=asdict(config),
    )


def _batch(n_per_task=4, seed=1) -> dict:
    """Padded observations (0 past a task's own dims) and actions with garbage padding."""
    gen = torch.Generator().manual_seed(seed)
    task_id = torch.arange(3).repeat_interleave(n_per_task)
    obs = torch.randn(len(task_id), 17, generator=gen)
    actions = torch.randn(len(task_id), 6, generator=gen)
    for t, (o, a) in OWN.items():
        obs[task_id == t, o:] = 0.0
        actions[task_id == t, a:] = 1e3  # never read: a wrong mask would blow the loss up
    return {
        Columns.OBS: obs,
        Columns.ACTIONS: actions,
        TASK_ID: task_id,
        Columns.ADVANTAGES: torch.randn(len(task_id), generator=gen),
        Columns.VALUE_TARGETS: torch.randn(len(task_id), generator=gen),
    }


def test_task_shapes_and_padding_wrapper():
    """Mixed families pad; the padded action dims never reach MuJoCo."""
    shapes = task_shapes(TASKS)
    assert shapes.mixed and (shapes.obs_dim, shapes.act_dim) == (17, 6)
    assert not task_shapes(("HalfCheetahSmallFoot-v0", "HalfCheetahGravityHalf-v0")).mixed
    padded, plain = PadSpaces(make_env("HopperSmallTorso-v0"), 17, 6), make_env(
        "HopperSmallTorso-v0"
    )
    obs_p, _ = padded.reset(seed=3)
    obs_o, _ = plain.reset(seed=3)
    assert obs_p.shape == (17,) and np.array_equal(obs_p[:11], obs_o) and not obs_p[11:].any()
    for _ in range(5):
        own = plain.action_space.sample()
        step_p = padded.step(np.concatenate([own, [9.0, -9.0, 9.0]]).astype(np.float32))
        step_o = plain.step(own)
        assert np.array_equal(step_p[0][:11], step_o[0]) and not step_p[0][11:].any()
        assert step_p[1] == step_o[1]  # the control cost saw the own dims only
    # A pinned runner's env is padded only when the task set mixes families.
    assert make_pinned_env({"tasks": list(TASKS)}).observation_space.shape == (17,)
    cheetahs = make_pinned_env({"tasks": ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]})
    assert not isinstance(cheetahs.env, PadSpaces)


def test_masked_gaussian_equals_the_own_dims_gaussian():
    """logp, entropy and KL (values and gradients) are those of the own dims alone."""
    gen = torch.Generator().manual_seed(0)
    loc = torch.randn(5, 6, generator=gen, requires_grad=True)
    log_std = torch.randn(5, 6, generator=gen, requires_grad=True)
    other = torch.randn(5, 12, generator=gen)
    value = torch.randn(5, 6, generator=gen)
    own = torch.tensor([6, 3, 3, 6, 1])
    mask = (torch.arange(6) < own.unsqueeze(1)).float()
    dist = MaskedDiagGaussian.from_logits(torch.cat([loc, log_std, mask], -1))
    other_dist = MaskedDiagGaussian.from_logits(torch.cat([other, mask], -1))
    got = dist.logp(value) + dist.entropy() + dist.kl(other_dist)
    expected = []
    for i, n in enumerate(own.tolist()):
        ref = TorchDiagGaussian(loc[i, :n], log_std[i, :n].exp())
        ref_other = TorchDiagGaussian(other[i, :n], other[i, 6 : 6 + n].exp())
        expected.append(ref.logp(value[i, :n]) + ref.entropy() + ref.kl(ref_other))
    expected = torch.stack(expected)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    grads = torch.autograd.grad(got.sum(), [loc, log_std])
    ref_grads = torch.autograd.grad(expected.sum(), [loc, log_std])
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-6)
        assert not g[mask == 0].any()
    assert not dist.sample()[mask == 0].any()


@pytest.mark.parametrize("input_layer", ["task", "family", "shared"])
def test_a2c_loss_and_gradients_are_the_own_dims_ones(input_layer):
    """The learner's A2C loss equals the loss on each task's own dims, gradients too.

    The reference evaluates each task's own head with plain Gaussians on its own
    action dims; padded observation and action dims carry garbage they must not read.
    """
    module = _module(input_layer=input_layer)
    batch = _batch()
    config = A2CConfig()
    learner = SimpleNamespace(module={"p": module})
    fwd = module.forward_train(batch)
    loss = A2CTorchLearner.per_task_losses(
        learner, module_id="p", config=config, batch=batch, fwd_out=fwd
    ).total
    params = [p for _, p in module.named_parameters()]
    grads = torch.autograd.grad(loss, params, retain_graph=True)

    rows = []
    for i, t in enumerate(batch[TASK_ID].tolist()):
        act = OWN[t][1]
        mean = fwd[Columns.ACTION_DIST_INPUTS][i, :act]
        log_std = module.actor.log_std[t, :act]
        pi = torch.distributions.Normal(mean, log_std.exp())
        logp = pi.log_prob(batch[Columns.ACTIONS][i, :act]).sum()
        vf = (batch[Columns.VALUE_TARGETS][i] - fwd[Columns.VF_PREDS][i]) ** 2
        entropy = pi.entropy().sum()
        pg = -batch[Columns.ADVANTAGES][i] * logp
        rows.append(pg + config.vf_loss_coeff * vf - config.entropy_coeff * entropy)
    expected = torch.stack(rows).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    for (name, _), g, r in zip(
        module.named_parameters(), grads, torch.autograd.grad(expected, params), strict=True
    ):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7, msg=name)
    named = dict(zip([n for n, _ in module.named_parameters()], grads, strict=True))
    # No padded dim gets a gradient: Hopper's log-std and output columns past 3, and
    # (per-task input layer) the weights reading its padded observation dims.
    assert not named["actor.log_std"][2, 3:].any()
    assert not named["actor.heads.out.weight"][2][:, 3:].any()
    if input_layer == "task":
        assert not named["actor.encoder.weight"][2][11:].any()
        assert not named["critic_encoder.weight"][2][11:].any()


def test_distillation_kl_ignores_padded_dims():
    """The distillation loss equals KL on each task's own dims (teacher targets padded 0)."""
    module = _module(critic=False)
    batch = _batch()
    gen = torch.Generator().manual_seed(5)
    n = len(batch[TASK_ID])
    mu_t, log_std_t = torch.randn(n, 6, generator=gen), torch.randn(n, 6, generator=gen) * 0.3
    for t, (_, a) in OWN.items():
        mu_t[batch[TASK_ID] == t, a:] = 0.0
        log_std_t[batch[TASK_ID] == t, a:] = 0.0
    batch.update({TEACHER_MEAN: mu_t, TEACHER_LOG_STD: log_std_t,
                  Columns.LOSS_MASK: torch.ones(n, dtype=torch.bool)})  # fmt: skip
    config = SimpleNamespace(kl_coeff=1.0, mse_coeff=0.0)
    fwd = module.forward_train(batch)
    learner = SimpleNamespace(module={"p": module})
    loss = DistillTorchLearner.per_task_losses(
        learner, module_id="p", config=config, batch=batch, fwd_out=fwd
    ).total
    kls = []
    for i, t in enumerate(batch[TASK_ID].tolist()):
        act = OWN[t][1]
        student = torch.distributions.Normal(
            fwd[Columns.ACTION_DIST_INPUTS][i, :act], module.actor.log_std[t, :act].exp()
        )
        teacher = torch.distributions.Normal(mu_t[i, :act], log_std_t[i, :act].exp())
        kls.append(torch.distributions.kl_divergence(teacher, student).sum())
    torch.testing.assert_close(loss, torch.stack(kls).mean(), rtol=1e-6, atol=1e-6)


def test_runner_actor_matches_the_module_and_sends_zero_padded_actions():
    """numpy_policy = torch forward; sampled actions are 0 past the task's own dims."""
    module = _module(input_layer="family")
    module.obs_normalizer.update(_batch()[Columns.OBS], _batch()[TASK_ID])
    batch = _batch(seed=2)
    out = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].detach().numpy()
    space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
    samplers = []
    for _ in range(2):  # twins: the same generator state
        np.random.seed(0)
        samplers.append(SampleDiagGaussian(input_action_space=space, normalize_actions=False))
    sampler, twin = samplers
    for t, (_, act) in OWN.items():
        rows = (batch[TASK_ID] == t).numpy()
        params = module.numpy_policy(t)(batch[Columns.OBS][rows].numpy())
        np.testing.assert_allclose(params, out[rows], atol=1e-5)
        to_env = sampler(rl_module=module, batch={Columns.ACTION_DIST_INPUTS: params,
                         TASK_ID: np.full(rows.sum(), t)}, episodes=None, explore=True)  # fmt: skip
        assert not to_env[Columns.ACTIONS][:, act:].any()
        dist = MaskedDiagGaussian.from_logits(torch.from_numpy(params))
        logp = dist.logp(torch.from_numpy(to_env[Columns.ACTIONS])).numpy()
        np.testing.assert_allclose(to_env[Columns.ACTION_LOGP], logp, rtol=1e-5, atol=1e-5)

        # The runners' loop (`FragmentSampler`): the mean alone per step, the task's
        # log-std row and mask broadcast, the inputs built afterwards: the same.
        head = module.numpy_head(t)
        mean = head.mean(batch[Columns.OBS][rows].numpy())
        np.testing.assert_array_equal(head.dist_inputs(mean), params)
        actions, _, head_logp = twin.draw(mean, head.log_std, head.mask > 0.5, explore=True)
        np.testing.assert_allclose(actions, to_env[Columns.ACTIONS], atol=1e-6)
        np.testing.assert_allclose(head_logp, to_env[Columns.ACTION_LOGP], atol=1e-5)


def test_normalizer_leaves_padded_dims_at_zero():
    """Padded observation dims are 0 after normalization, before and after updates."""
    module = _module()
    batch = _batch()
    for _ in range(2):
        normalized = module.obs_normalizer(batch[Columns.OBS], batch[TASK_ID])
        assert not normalized[batch[TASK_ID] == 2][:, 11:].any()
        module.obs_normalizer.update(batch[Columns.OBS] * 3.0, batch[TASK_ID])


def test_single_family_module_is_unchanged():
    """One family: no input layers, no masks, RLlib's Gaussian, two-part inputs."""
    config = A2CConfig().multi_task(["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"])
    shape = config.model_shape
    assert not shape.mixed and shape.families is None
    module = MultiTaskActorCritic(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (17,)),
        action_space=gym.spaces.Box(-1.0, 1.0, (6,)),
        model_config=asdict(shape),
    )
    assert not any(n.startswith(("actor.encoder", "critic_encoder")) for n in module.state_dict())
    assert module.get_train_action_dist_cls() is TorchDiagGaussian
    out = module.forward_inference({Columns.OBS: torch.zeros(2, 17), TASK_ID: torch.tensor([0, 1])})
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 12)
    mixed = A2CConfig().multi_task(list(TASKS)).model_shape
    assert mixed.families == ("HalfCheetah", "Walker2d", "Hopper")
    assert (mixed.task_obs_dims, mixed.task_act_dims) == ((17, 17, 11), (6, 6, 3))


def test_new_bigger_body_head_keeps_the_old_heads():
    """A module with one more task of a bigger body, loaded from a smaller cross-family
    module's tensors, acts on the old tasks exactly as before (leading blocks copied)."""
    old_tasks = ("HalfCheetahSmallFoot-v0", "HopperSmallTorso-v0")
    new_tasks = (*old_tasks, "HumanoidSmallArm-v0")
    old, new = _module(old_tasks, seed=0), _module(new_tasks, seed=1)
    old.obs_normalizer.update(torch.randn(40, 17), torch.randint(0, 2, (40,)))
    sources = head_sources(old_tasks, new_tasks, None)
    rows = encoder_sources(old.cfg.encoder_rows, new.cfg.encoder_rows, sources)
    load_fine_tune_start(new, old.state_dict(), sources, rows)
    for t, size in enumerate((17, 11)):
        obs = torch.randn(5, 17)
        obs[:, size:] = 0.0
        before = old.forward_inference({Columns.OBS: obs, TASK_ID: torch.full((5,), t)})
        wide = torch.nn.functional.pad(obs, (0, new.observation_space.shape[0] - 17))
        after = new.forward_inference({Columns.OBS: wide, TASK_ID: torch.full((5,), t)})
        a_old, a_new = old.action_space.shape[0], new.action_space.shape[0]
        own = old.cfg.task_act_dims[t]
        b, a = before[Columns.ACTION_DIST_INPUTS], after[Columns.ACTION_DIST_INPUTS]
        torch.testing.assert_close(a[:, :own], b[:, :own], rtol=0, atol=1e-6)
        torch.testing.assert_close(
            a[:, a_new : a_new + own], b[:, a_old : a_old + own], rtol=0, atol=0
        )


def test_bad_cross_family_input_is_one_line_before_ray(tmp_path, capsys, monkeypatch):
    """An unknown input layer, or a HalfCheetah-only checkpoint taking a Hopper head."""
    import ray

    from mtrl_ray.checkpoints import CheckpointError
    from mtrl_ray.cli import main

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started")

    monkeypatch.setattr(ray, "init", no_ray)
    example = REPO / "tuned_examples" / "a2c" / "cross_family_multitask.py"
    argv = ["train", "file", str(example), "--storage-path", str(tmp_path / "runs"),
            "--config", '{"model_config": {"input_layer": "bogus"}}']  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "input_layer must be one of" in err and "\n" not in err
    assert not (tmp_path / "runs").exists()

    # The committed checkpoint's first layer is shared over HalfCheetah's observations.
    config = A2CConfig().new_head(CHEETAH_CHECKPOINT, "HopperSmallFoot-v0")
    with pytest.raises(CheckpointError, match="input layer 'shared', this experiment 'task'"):
        config.validate()
    # With a shared input layer it fits (the Hopper head reads the padded observation).
    config.rl_module(model_config={"input_layer": "shared"}).validate()
