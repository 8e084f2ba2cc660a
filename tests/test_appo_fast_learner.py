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
    batch[Columns.ACTION_LOGP] = pi.logp(batch[Columns.ACTIONS]) + 0.5 * torch.randn(
        n, generator=g
    )
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
        {},
        {"entropy_coeff": 0.01, "grad_clip": 0.5, "vf_loss_coeff": 2.0},
        {"vtrace_clip_rho_threshold": 0.8, "vtrace_clip_pg_rho_threshold": 0.6, "gamma": 0.9},
        {"use_kl_loss": True, "kl_coeff": 0.3, "kl_target": 1e-4},
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
