"""APPO's fast-path learner: RLlib's APPO update and its own, the same parameters.

Two learners start from the same weights; one runs RLlib's `APPOTorchLearner`
(`fast_path=False`: its loss, through `compute_loss_for_module` and TorchLearner's
update path), the other the fast path's `appo_loss` and optimizer step, on the
same train batch in the layout both receive (episode chunks, each followed by its
bootstrap row, `LOSS_MASK` False there; the rows cut into `rollout_fragment_length`
columns, the last one padded). Three updates: the target policy syncs after the
second, so the third's ratios read the new target. Every parameter (the target
copies included), the normalizer statistics and the KL coefficient must agree, with
entropy, gradient clipping, binding v-trace clips, the adaptive KL term, and across
body families. (RLlib's update is called as its learner thread calls it.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ACT_SPACE, OBS_SPACE
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME, NUM_ENV_STEPS_TRAINED_LIFETIME

from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.columns import TASK_ID

TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0", "HalfCheetahSmallLeg-v0"]
SPACES = {DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)}
SEQ = 16  # rollout_fragment_length: v-trace's column length
#: Episode chunks (task, timesteps, terminated?): each adds a bootstrap row.
CHUNKS = [(0, 16, False), (0, 9, True), (1, 16, False), (2, 12, False), (2, 5, True),
          (1, 20, False)]  # fmt: skip


def _batch(module, num_tasks: int = len(TASKS)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    task_ids, terminateds, mask = [], [], []
    for task, length, terminated in CHUNKS:
        task = task % num_tasks
        task_ids += [task] * (length + 1)
        terminateds += [False] * (length - 1) + [terminated, False]
        mask += [True] * length + [False]
    n = len(mask)
    batch = {
        Columns.OBS: torch.randn(n, 17, generator=g) * 2,
        TASK_ID: torch.tensor(task_ids),
        Columns.ACTIONS: torch.randn(n, 6, generator=g),
        Columns.REWARDS: torch.randn(n, generator=g) * torch.tensor(mask).float(),
        Columns.TERMINATEDS: torch.tensor(terminateds),
        Columns.TRUNCATEDS: torch.zeros(n, dtype=torch.bool),
        Columns.LOSS_MASK: torch.tensor(mask),
    }
    with torch.no_grad():
        inputs = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    pi = module.get_train_action_dist_cls().from_logits(inputs)
    # The behaviour policy: off the current one, so that the v-trace and
    # surrogate clips bind for some rows.
    batch[Columns.ACTION_LOGP] = pi.logp(batch[Columns.ACTIONS]) + 0.5 * torch.randn(n, generator=g)
    batch[Columns.ACTION_DIST_INPUTS] = inputs
    return batch


def _trained(fast_path: bool, start: dict, batch: dict, tasks=TASKS, **training) -> dict:
    config = (
        MultiTaskAPPOConfig()
        .multi_task(tasks)
        .env_runners(rollout_fragment_length=SEQ)
        .training(fast_path=fast_path, num_epochs=3, target_network_update_freq=1, **training)
    )
    learner = config.build_learner(spaces=SPACES)
    learner.module[DEFAULT_MODULE_ID].load_state_dict(start)
    n = len(batch[Columns.OBS])
    try:
        for trained in (0, 10**6, 10**6):  # the target syncs after the second update
            ma_batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(dict(batch))}, env_steps=n)
            timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: 0, NUM_ENV_STEPS_TRAINED_LIFETIME: trained}
            kwargs = dict(
                batch=ma_batch,
                timesteps=timesteps,
                num_epochs=config.num_epochs,
                minibatch_size=None,
            )
            # RLlib's: as its learner thread runs it; the fast path's is the same call.
            (learner.update if fast_path else lambda **kw: Learner.update(learner, **kw))(**kwargs)
        kl_coeff = float(learner.curr_kl_coeffs_per_module[DEFAULT_MODULE_ID])
        state = learner.module[DEFAULT_MODULE_ID].state_dict()
    finally:
        learner.shutdown()
    return {**state, "kl_coeff": torch.tensor(kl_coeff)}


def _compare(start, rllib, fast) -> None:
    moved = target_moved = 0.0
    for key, value in rllib.items():
        torch.testing.assert_close(fast[key], value, rtol=1e-4, atol=1e-5, msg=key)
        if key in start and value.is_floating_point():
            change = float((value - start[key]).abs().max())
            moved = max(moved, change)
            if key.startswith("_target_actor"):
                target_moved = max(target_moved, change)
    assert moved > 1e-3  # the updates changed the weights (the comparison is not vacuous)
    assert target_moved > 1e-4  # and the target policy synced


@pytest.mark.parametrize(
    "training",
    [
        {},  # the fast lane's case; the variants run in the slow lane
        pytest.param(
            {"entropy_coeff": 0.01, "grad_clip": 0.5, "vf_loss_coeff": 2.0},
            marks=pytest.mark.slow,
        ),
        pytest.param(
            {"vtrace_clip_rho_threshold": 0.8, "vtrace_clip_pg_rho_threshold": 0.6, "gamma": 0.9},
            marks=pytest.mark.slow,
        ),
        pytest.param(
            {"use_kl_loss": True, "kl_coeff": 0.3, "kl_target": 1e-4}, marks=pytest.mark.slow
        ),
    ],
    ids=["plain", "entropy-clip", "vtrace-clips", "kl"],
)
def test_fast_loss_gives_rllibs_parameters(training):
    reference = MultiTaskAPPOConfig().multi_task(TASKS).build_learner(spaces=SPACES)
    module = reference.module[DEFAULT_MODULE_ID]
    start = {k: v.clone() for k, v in module.state_dict().items()}
    reference.shutdown()
    batch = _batch(module)
    rllib = _trained(False, start, batch, **training)
    fast = _trained(True, start, batch, **training)
    _compare(start, rllib, fast)
    assert fast["obs_normalizer.count"].sum() == 3 * batch[Columns.LOSS_MASK].sum()
    if training.get("use_kl_loss"):
        assert float(fast["kl_coeff"]) != training["kl_coeff"]  # the coefficient adapted


@pytest.mark.slow
def test_fast_loss_gives_rllibs_parameters_across_body_families():
    """HalfCheetah + Hopper: padded spaces, per-task input layers, the masked Gaussian."""
    tasks = ("HalfCheetahSmallFoot-v0", "HopperSmallFoot-v0")
    reference = MultiTaskAPPOConfig().multi_task(tasks).build_learner(spaces=SPACES)
    module = reference.module[DEFAULT_MODULE_ID]
    assert module.cfg.mixed
    start = {k: v.clone() for k, v in module.state_dict().items()}
    reference.shutdown()
    batch = _batch(module, num_tasks=len(tasks))
    rllib = _trained(False, start, batch, tasks=tasks, entropy_coeff=0.01)
    fast = _trained(True, start, batch, tasks=tasks, entropy_coeff=0.01)
    _compare(start, rllib, fast)


def test_fast_path_logs_each_tasks_terms_and_their_mean():
    """Per task: the means of the trained loss's per-row terms over the task's rows."""
    config = MultiTaskAPPOConfig().multi_task(TASKS).env_runners(rollout_fragment_length=SEQ)
    learner = config.build_learner(spaces=SPACES)
    try:
        batch = _batch(learner.module[DEFAULT_MODULE_ID])
        n = len(batch[Columns.OBS])
        results = learner.update(
            batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(dict(batch))}, env_steps=n),
            timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 0, NUM_ENV_STEPS_TRAINED_LIFETIME: 0},
            num_epochs=1,
        )
    finally:
        learner.shutdown()
    module_results = results[DEFAULT_MODULE_ID]
    per_task = module_results["per_task"]
    assert set(per_task) == set(TASKS)
    for term in ("policy_loss", "vf_loss", "entropy", "mean_IS", "var_IS"):
        values = [float(np.asarray(per_task[t][term].peek())) for t in TASKS]
        mean = float(np.asarray(module_results[term].peek()))
        assert mean == pytest.approx(np.mean(values), rel=1e-5), term
    assert all(float(np.asarray(per_task[t]["vf_loss"].peek())) > 0 for t in TASKS)


def test_chunk_end_bootstraps_from_the_value_of_the_last_observation():
    """A chunk cut before its episode ends: v_s = r_t + gamma v_s(t+1), ending in V(s_T).

    Hand-computed with rho = c = 1 (behaviour = target = current policy): the value
    targets are the discounted rewards bootstrapped with V of the bootstrap row.
    RLlib 2.60's own layout (reward 0 at that row) gives r_{T-1} alone at the cut.
    """
    from ray.rllib.algorithms.impala.torch.vtrace_torch_v2 import vtrace_torch

    from mtrl_ray.algorithms.appo.appo_loss import appo_loss, bootstrap_rewards

    gamma, rewards, values = 0.9, [1.0, 2.0, 3.0], [0.5, -1.0, 2.0, 10.0]
    mask = torch.tensor([True, True, True, False])
    column = dict(
        target_action_log_probs=torch.zeros(4, 1),
        behaviour_action_log_probs=torch.zeros(4, 1),
        discounts=(gamma * mask.float()).reshape(4, 1),
        values=torch.tensor(values).reshape(4, 1),
        bootstrap_values=torch.zeros(1),
    )
    raw = torch.tensor([*rewards, 0.0])
    rllib_vs, _ = vtrace_torch(rewards=raw.reshape(4, 1), **column)
    assert float(rllib_vs[2, 0]) == pytest.approx(3.0)  # RLlib: the cut bootstraps from 0
    fixed = bootstrap_rewards(raw, torch.tensor(values), mask).reshape(4, 1)
    vs, advantages = vtrace_torch(rewards=fixed, **column)
    expected = [1 + gamma * (2 + gamma * (3 + gamma * 10)), 2 + gamma * (3 + gamma * 10)]
    expected += [3 + gamma * 10, 10.0]
    torch.testing.assert_close(vs[:, 0], torch.tensor(expected))
    torch.testing.assert_close(advantages[2, 0], torch.tensor(3 + gamma * 10 - 2.0))

    # appo_loss end to end: its value loss rows are 0.5 (V - those targets)^2.
    config = (
        MultiTaskAPPOConfig()
        .multi_task(TASKS)
        .env_runners(rollout_fragment_length=SEQ)
        .training(gamma=gamma)
    )
    learner = config.build_learner(spaces=SPACES)
    try:
        module = learner.module[DEFAULT_MODULE_ID].unwrapped()
        g = torch.Generator().manual_seed(0)
        batch = {
            Columns.OBS: torch.randn(4, 17, generator=g),
            TASK_ID: torch.zeros(4, dtype=torch.long),
            Columns.ACTIONS: torch.randn(4, 6, generator=g),
            Columns.REWARDS: raw,
            Columns.TERMINATEDS: torch.zeros(4, dtype=torch.bool),
            Columns.TRUNCATEDS: torch.zeros(4, dtype=torch.bool),
            Columns.LOSS_MASK: mask,
        }
        with torch.no_grad():
            fwd_out = module.forward_train(batch)
            pi = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
            batch[Columns.ACTION_LOGP] = pi.logp(batch[Columns.ACTIONS])  # rho = 1
            v = module.compute_values(batch)
            loss = appo_loss(
                module,
                batch,
                fwd_out,
                learner.config.get_config_for_module(DEFAULT_MODULE_ID),
                entropy_coeff=0.0,
                kl_coeff=0.0,
            )
    finally:
        learner.shutdown()
    targets, ret = [], float(v[3])
    for t in (2, 1, 0):
        ret = rewards[t] + gamma * ret
        targets.insert(0, ret)
    expected_vf = 0.5 * (v[:3] - torch.tensor(targets)) ** 2
    torch.testing.assert_close(loss.rows["vf_loss"][:3], expected_vf, rtol=1e-5, atol=1e-5)
