"""A2C's loss against a hand computation, and n-step returns on truncation vs termination."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import ACT_SPACE, OBS_SPACE
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.columns import TASK_ID
from mtrl_ray.modules.observation_normalizer import update_observation_statistics

GAMMA = 0.9
TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]


def build_learner(**training):
    config = A2CConfig().multi_task(TASKS).training(gamma=GAMMA, **training)
    return config, config.build_learner(spaces={DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)})


def test_loss_matches_hand_computation():
    config, learner = build_learner(entropy_coeff=0.01, vf_loss_coeff=0.5)
    mean = np.array([[0.1, -0.2, 0.0, 0.3, 0.5, -0.5], [0.0, 0.0, 0.2, -0.1, 0.4, 0.1]])
    log_std = np.array([[0.0, -0.5, 0.2, 0.1, -1.0, 0.3], [0.5, 0.0, -0.3, 0.0, 0.0, 0.2]])
    actions = np.array([[0.2, -0.1, 0.4, 0.0, 0.3, -0.6], [-0.3, 0.2, 0.1, 0.0, 0.9, 0.0]])
    advantages = np.array([1.5, -0.7])
    returns = np.array([2.0, -1.0])
    values = np.array([0.5, -0.3])

    # Hand computation: diagonal Gaussian log-density and entropy, summed over dims.
    std = np.exp(log_std)
    log_prob = (
        -((actions - mean) ** 2) / (2 * std**2) - log_std - 0.5 * math.log(2 * math.pi)
    ).sum(1)
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(1)
    pg_loss = -(advantages * log_prob).mean()
    vf_loss = ((returns - values) ** 2).mean()
    expected = pg_loss + 0.5 * vf_loss - 0.01 * entropy.mean()

    t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    batch = {
        Columns.ACTIONS: t(actions),
        Columns.ADVANTAGES: t(advantages),
        Columns.VALUE_TARGETS: t(returns),
        Columns.LOSS_MASK: torch.tensor([True, True]),
    }
    fwd_out = {
        Columns.ACTION_DIST_INPUTS: t(np.concatenate([mean, log_std], axis=1)),
        Columns.VF_PREDS: t(values),
    }
    loss = learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=config, batch=batch, fwd_out=fwd_out
    )
    assert abs(loss.item() - expected) < 1e-5

    # The masked (bootstrap) row does not count.
    batch[Columns.LOSS_MASK] = torch.tensor([True, False])
    masked = learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=config, batch=batch, fwd_out=fwd_out
    )
    expected_first = (
        -advantages[0] * log_prob[0] + 0.5 * (returns[0] - values[0]) ** 2 - 0.01 * entropy[0]
    )
    assert abs(masked.item() - expected_first) < 1e-5

    # Per-task loss weights multiply each task's samples' losses.
    config, learner = build_learner(
        entropy_coeff=0.01, vf_loss_coeff=0.5, task_loss_weights={TASKS[1]: 3.0}
    )
    batch[Columns.LOSS_MASK] = torch.tensor([True, True])
    batch[TASK_ID] = torch.tensor([0, 1])
    weighted = learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=config, batch=batch, fwd_out=fwd_out
    )
    per_sample = -advantages * log_prob + 0.5 * (returns - values) ** 2 - 0.01 * entropy
    assert abs(weighted.item() - (per_sample[0] + 3.0 * per_sample[1]) / 2) < 1e-5


def test_pcgrad_projects_conflicting_gradients():
    """Hand-computed case: g1 = (1, 0) and g2 = (-1, 1) conflict (g1 . g2 = -1)."""
    from mtrl_ray.algorithms.pcgrad import project_conflicting

    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    # g1 - (-1 / 2) g2 = (0.5, 0.5); g2 - (-1 / 1) g1 = (0, 1); their sum:
    torch.testing.assert_close(project_conflicting([g1, g2]), torch.tensor([0.5, 1.5]))
    # Without conflict the plain sum is returned.
    g3 = torch.tensor([1.0, 1.0])
    torch.testing.assert_close(project_conflicting([g1, g3]), g1 + g3)
    # The order of the tasks does not matter for two tasks.
    torch.testing.assert_close(project_conflicting([g2, g1]), torch.tensor([0.5, 1.5]))


SEED = 3


def test_pcgrad_learner_replaces_the_shared_gradient_only():
    """In the learner: trunk gradients = PCGrad of per-task ones; heads keep their own."""
    from mtrl_ray.algorithms.pcgrad import project_conflicting

    # Seeded: the module's initial weights decide whether the two tasks' gradients
    # conflict; with this seed (and the pinned torch) they do, which is asserted.
    torch.manual_seed(SEED)
    config, learner = build_learner(multi_task_update="joint", pcgrad=True)
    plain_config, plain = build_learner(multi_task_update="joint")
    plain.module[DEFAULT_MODULE_ID].load_state_dict(learner.module[DEFAULT_MODULE_ID].state_dict())
    g = torch.Generator().manual_seed(0)
    n = 16
    batch = {
        Columns.OBS: torch.randn(n, 17, generator=g),
        TASK_ID: torch.tensor([0] * 8 + [1] * 8),
        Columns.ACTIONS: torch.randn(n, 6, generator=g),
        Columns.ADVANTAGES: torch.randn(n, generator=g) * 5,
        Columns.VALUE_TARGETS: torch.randn(n, generator=g) * 5,
        Columns.LOSS_MASK: torch.ones(n, dtype=torch.bool),
    }

    def grads(lrn, cfg):
        module = lrn.module[DEFAULT_MODULE_ID]
        fwd = module.forward_train(batch)
        loss = lrn.compute_loss_for_module(
            module_id=DEFAULT_MODULE_ID, config=cfg, batch=batch, fwd_out=fwd
        )
        parts = lrn.per_task_losses(
            module_id=DEFAULT_MODULE_ID, config=cfg, batch=batch, fwd_out=fwd
        ).shares
        shares = list((parts or {}).values())
        shared = [p for name, p in module.named_parameters() if "trunk" in name]
        per_task = [
            torch.cat([x.reshape(-1) for x in torch.autograd.grad(s, shared, retain_graph=True)])
            for s in shares
        ]
        lrn.compute_gradients({DEFAULT_MODULE_ID: loss})
        named = {name: p.grad.clone() for name, p in module.named_parameters()}
        return loss, per_task, named

    loss, per_task, ours = grads(learner, config)
    plain_loss, _, theirs = grads(plain, plain_config)
    assert len(per_task) == 2 and torch.allclose(loss, plain_loss)
    assert torch.dot(per_task[0], per_task[1]) < 0, "the constructed batch must conflict"
    expected = project_conflicting(per_task)
    trunk = torch.cat([ours[k].reshape(-1) for k in ours if "trunk" in k])
    torch.testing.assert_close(trunk, expected)
    assert not torch.allclose(trunk, per_task[0] + per_task[1])
    for name in ours:
        if "trunk" not in name:
            torch.testing.assert_close(ours[name], theirs[name])


def _episode(rewards, *, terminated=False, truncated=False, task=0) -> SingleAgentEpisode:
    obs = [np.full(17, float(i), np.float64) for i in range(len(rewards) + 1)]
    n = len(rewards)
    return SingleAgentEpisode(
        observations=obs,
        actions=[np.zeros(6, np.float32)] * n,
        rewards=list(rewards),
        extra_model_outputs={
            TASK_ID: [np.int64(task)] * n,
            Columns.ACTION_LOGP: [np.float32(0.0)] * n,
            Columns.ACTION_DIST_INPUTS: [np.zeros(12, np.float32)] * n,
        },
        terminated=terminated,
        truncated=truncated,
        observation_space=OBS_SPACE,
        action_space=ACT_SPACE,
        len_lookback_buffer=0,
    )


@pytest.mark.parametrize("lean", [True, False], ids=["lean-pipeline", "rllib-pipeline"])
def test_n_step_returns_bootstrap_on_cut_and_time_limit_but_not_on_termination(lean):
    _, learner = build_learner(lean_connectors=lean)
    module = learner.module[DEFAULT_MODULE_ID]
    # Make V(s) = c for every state and task: zero output weights, bias c.
    c = 10.0
    with torch.no_grad():
        module.critic_heads.out.weight.zero_()
        module.critic_heads.out.bias.fill_(c)
    r = [1.0, 2.0, 3.0]
    cut = _episode(r)  # a t_max fragment cut mid-episode: bootstrap V(s_3)
    time_limit = _episode(r, truncated=True, task=1)  # time limit: bootstrap V(s_3) too
    terminal = _episode(r, terminated=True)  # terminal: no bootstrap

    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=[cut, time_limit, terminal], shared_data={}
    )[DEFAULT_MODULE_ID]
    mask = batch[Columns.LOSS_MASK].bool()
    targets = batch[Columns.VALUE_TARGETS][mask].numpy()
    advantages = batch[Columns.ADVANTAGES][mask].numpy()

    g = GAMMA
    boot = [r[0] + g * r[1] + g**2 * r[2] + g**3 * c, r[1] + g * r[2] + g**2 * c, r[2] + g * c]
    term = [r[0] + g * r[1] + g**2 * r[2], r[1] + g * r[2], r[2]]
    np.testing.assert_allclose(targets, boot + boot + term, rtol=1e-5)
    np.testing.assert_allclose(advantages, np.array(boot + boot + term) - c, rtol=1e-5)
    # The task id travels into the train batch, one per sample.
    assert batch[TASK_ID][mask].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    # Observations and actions line up with the steps they belong to.
    assert batch[Columns.OBS][mask][:, 0].tolist() == [0.0, 1.0, 2.0] * 3


def test_learning_rate_schedule_drives_rmsprop():
    """`lr` as RLlib's [[timestep, lr], ...] schedule: linear in sampled env steps."""
    from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

    _, learner = build_learner(lr=[[0, 7e-4], [6_000_000, 0.0]])
    (optimizer,) = learner._named_optimizers.values()
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(7e-4)
    learner.after_gradient_based_update(timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 4_500_000})
    assert optimizer.param_groups[0]["lr"] == pytest.approx(7e-4 / 4)
    _, constant = build_learner()
    (optimizer,) = constant._named_optimizers.values()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(7e-4)
    assert optimizer.defaults["alpha"] == 0.99 and optimizer.defaults["eps"] == 1e-5


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0, float("inf")])
def test_fused_gradient_clipping_matches_rllibs(scale):
    from ray.rllib.utils.torch_utils import clip_gradients as rllib_clip_gradients

    from mtrl_ray.algorithms.a2c.a2c_torch_learner import clip_gradients

    g = torch.Generator().manual_seed(0)
    shapes = [(64, 17), (64,), (6, 64), (6,)]
    grads = {str(i): torch.randn(s, generator=g) * 0.5 for i, s in enumerate(shapes)}
    grads["0"][0, 0] = scale  # one large (or infinite) entry
    ours = {k: v.clone() for k, v in grads.items()}
    expected_norm = rllib_clip_gradients(grads, grad_clip=0.5, grad_clip_by="global_norm")
    norm = clip_gradients(ours, grad_clip=0.5, grad_clip_by="global_norm")
    torch.testing.assert_close(norm, expected_norm)
    for key in grads:
        torch.testing.assert_close(ours[key], grads[key], equal_nan=True)
    if scale == 100.0:  # clipped: the global norm of the result is the clip value
        assert torch.linalg.vector_norm(torch.cat([v.flatten() for v in ours.values()])) == (
            pytest.approx(0.5, rel=1e-4)
        )


@pytest.mark.parametrize("poison", [False, True], ids=["finite", "infinite-reward"])
def test_cycle_update_equals_rllibs_update_per_task(poison):
    """The cycle's own step loop = RLlib's `TorchLearner._update` on each task's rows in turn.

    Same parameters and RMSprop state after two cycles (gradients large enough to be
    clipped); with an infinite reward the gradients are not finite and both zero the
    NaNs the same way.
    """
    from ray.rllib.core.learner.torch.torch_learner import TorchLearner

    from mtrl_ray.algorithms.a2c.a2c_torch_learner import select_rows

    _, ours = build_learner(lr=0.05)
    _, rllib = build_learner(lr=0.05)
    rllib.module.set_state(ours.module.get_state())
    rng = np.random.default_rng(0)
    episodes = [_episode(rng.normal(scale=50.0, size=5), task=t) for t in (1, 0, 1, 0)]
    if poison:
        episodes[2] = _episode([1.0, float("inf"), 1.0, 1.0, 1.0], task=1)
    for _ in range(2):
        batch = ours._learner_connector(
            rl_module=ours.module, batch={}, episodes=episodes, shared_data={}
        )
        ours._update(batch)
        update_observation_statistics(ours.module, batch)  # what `update()` adds
        module_batch = batch[DEFAULT_MODULE_ID]
        task_ids = module_batch[TASK_ID]
        for task in (0, 1):
            rows = task_ids == task
            task_batch = {k: select_rows(v, rows) for k, v in module_batch.items()}
            TorchLearner._update(rllib, {DEFAULT_MODULE_ID: task_batch})
        update_observation_statistics(rllib.module, batch)
    for (name, p), q in zip(
        ours.module[DEFAULT_MODULE_ID].named_parameters(),
        rllib.module[DEFAULT_MODULE_ID].parameters(),
        strict=True,
    ):
        torch.testing.assert_close(p, q, msg=name)
    assert any(p.grad is not None for p in ours.module[DEFAULT_MODULE_ID].parameters())
    if not poison:
        norm = ours.metrics.peek((DEFAULT_MODULE_ID, "gradients_default_optimizer_global_norm"))
        assert norm > 0.5  # the last step was clipped


def _independent_learner(tasks, **training):
    config = A2CConfig().multi_task(tasks).training(gamma=GAMMA, lr=0.05, **training)
    config.rl_module(model_config={"actor_shared_layers": 0, "critic_shared_layers": 0})
    return config.build_learner(spaces={DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)})


@pytest.mark.parametrize("per_task", [True, False], ids=["optimizer-per-task", "one-optimizer"])
def test_independent_heads_train_as_single_task_runs(per_task):
    """No shared layer and one RMSprop per task: task 0 of a two-task run = a one-task run.

    Task 0's parameters after two cycles equal those of a single-task learner that
    started from the same values and saw only task 0's fragments (to float rounding:
    the batched per-task matmuls sum in another order, ~2e-6). With one optimizer
    the two differ (~1e-3): on task 1's steps task 0's running averages decay (its
    slices of the per-task weight tensors get zero gradients), so its next step is larger.
    """
    two = _independent_learner(TASKS, optimizer_per_task=per_task)
    one = _independent_learner(TASKS[:1], optimizer_per_task=per_task)
    module_two, module_one = two.module[DEFAULT_MODULE_ID], one.module[DEFAULT_MODULE_ID]
    start = {k: v.clone() for k, v in module_two.state_dict().items()}  # not live views
    assert all(v.shape[0] == len(TASKS) for v in start.values())  # nothing shared
    module_one.load_state_dict({k: v[:1].clone() for k, v in start.items()})
    rng = np.random.default_rng(0)
    for _ in range(2):
        rewards = [rng.normal(scale=5.0, size=5) for _ in range(4)]
        episodes = [_episode(r, task=i % 2) for i, r in enumerate(rewards)]
        for learner, eps in ((two, episodes), (one, episodes[::2])):
            batch = learner._learner_connector(
                rl_module=learner.module, batch={}, episodes=eps, shared_data={}
            )
            learner._update(batch)
            update_observation_statistics(learner.module, batch)
    after_two, after_one = module_two.state_dict(), module_one.state_dict()
    assert not torch.equal(after_one["actor.log_std"], start["actor.log_std"][:1])  # it trained
    close = [torch.allclose(after_two[k][:1], after_one[k], rtol=0, atol=2e-5) for k in after_one]
    assert all(close) if per_task else not all(close)
