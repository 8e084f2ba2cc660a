"""Loss metrics per task, and the top level as their mean over the update's tasks.

Every learner is built in this process (no Ray) and fed a two-task batch whose
tasks' losses differ; the per-task terms are computed by hand (numpy) where the
loss is the project's, and the top level is checked to be their mean.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import ACT_SPACE, OBS_SPACE
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.multi_task_learner import PER_TASK
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.teacher_targets import TEACHER_LOG_STD, TEACHER_MEAN

TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]
SPACES = {DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)}
N = 12  # rows: 6 of task 0, then 6 of task 1 (the last row of each masked out)


def _peek(learner, *key):
    value = learner.metrics.peek((DEFAULT_MODULE_ID, *key))
    return float(value.detach()) if torch.is_tensor(value) else float(value)


def _assert_mean_over_tasks(learner, terms):
    for term in terms:
        per_task = [_peek(learner, PER_TASK, task, term) for task in TASKS]
        assert per_task[0] != pytest.approx(per_task[1], rel=1e-3), term  # tasks differ
        assert _peek(learner, term) == pytest.approx(np.mean(per_task), rel=1e-6), term


def _gaussian(mean, log_std, actions):
    """Hand-computed log-density and entropy of a diagonal Gaussian, per row."""
    std = np.exp(log_std)
    log_prob = -((actions - mean) ** 2) / (2 * std**2) - log_std - 0.5 * math.log(2 * math.pi)
    entropy = 0.5 + 0.5 * math.log(2 * math.pi) + log_std
    return log_prob.sum(1), entropy.sum(1)


def _rows():
    rng = np.random.default_rng(0)
    task = np.repeat([0, 1], N // 2)
    keep = np.ones(N, bool)
    keep[[N // 2 - 1, N - 1]] = False  # each task's bootstrap row carries no loss
    # Task 1's advantages and returns are much larger: its terms differ from task 0's.
    scale = np.where(task == 1, 10.0, 1.0)
    return {
        "task": task,
        "keep": keep,
        "obs": rng.normal(size=(N, 17)),
        "actions": rng.normal(size=(N, 6)),
        "advantages": rng.normal(size=N) * scale,
        "returns": rng.normal(size=N) * scale,
    }


def _t(x):
    return torch.as_tensor(x, dtype=torch.float32)


def _a2c_batch(rows):
    return {
        Columns.OBS: _t(rows["obs"]),
        TASK_ID: torch.as_tensor(rows["task"]),
        Columns.ACTIONS: _t(rows["actions"]),
        Columns.ADVANTAGES: _t(rows["advantages"]),
        Columns.VALUE_TARGETS: _t(rows["returns"]),
        Columns.LOSS_MASK: torch.as_tensor(rows["keep"]),
    }


def _a2c_by_hand(learner, rows, task):
    """pg_loss, vf_loss, entropy of `task`'s rows, from the module's outputs by numpy."""
    module = learner.module[DEFAULT_MODULE_ID]
    with torch.no_grad():
        out = module.forward_train(_a2c_batch(rows))
    inputs = out[Columns.ACTION_DIST_INPUTS].numpy().astype(np.float64)
    values = out[Columns.VF_PREDS].numpy().astype(np.float64)
    log_prob, entropy = _gaussian(inputs[:, :6], inputs[:, 6:], rows["actions"])
    sel = rows["keep"] & (rows["task"] == task)
    return {
        "pg_loss": -(rows["advantages"] * log_prob)[sel].mean(),
        "vf_loss": ((rows["returns"] - values) ** 2)[sel].mean(),
        "entropy": entropy[sel].mean(),
    }


def test_a2c_joint_logs_each_task_and_their_mean():
    config = A2CConfig().multi_task(TASKS).training(multi_task_update="joint")
    learner = config.build_learner(spaces=SPACES)
    rows = _rows()
    expected = [_a2c_by_hand(learner, rows, task) for task in (0, 1)]
    batch = _a2c_batch(rows)
    fwd_out = learner.module[DEFAULT_MODULE_ID].forward_train(batch)
    learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=config, batch=batch, fwd_out=fwd_out
    )
    for task, terms in zip(TASKS, expected, strict=True):
        for term, value in terms.items():
            assert _peek(learner, PER_TASK, task, term) == pytest.approx(value, rel=1e-4), term
    for term in ("pg_loss", "vf_loss", "entropy"):
        mean = (expected[0][term] + expected[1][term]) / 2
        assert _peek(learner, term) == pytest.approx(mean, rel=1e-4), term
    _assert_mean_over_tasks(learner, ["pg_loss", "vf_loss", "total_loss"])


def test_a2c_cycle_top_level_is_the_mean_not_the_last_task():
    """The cycle steps once per task; the top level must not be the last task's."""
    config = A2CConfig().multi_task(TASKS).training(multi_task_update="cycle", lr=0.05)
    learner = config.build_learner(spaces=SPACES)
    rows = _rows()
    first = _a2c_by_hand(learner, rows, 0)  # task 0 steps first, on the initial weights
    learner._update({DEFAULT_MODULE_ID: _a2c_batch(rows)})
    for term, value in first.items():
        assert _peek(learner, PER_TASK, TASKS[0], term) == pytest.approx(value, rel=1e-4)
    _assert_mean_over_tasks(learner, ["pg_loss", "vf_loss", "total_loss"])
    last = _peek(learner, PER_TASK, TASKS[1], "vf_loss")
    assert _peek(learner, "vf_loss") != pytest.approx(last, rel=1e-3)


@pytest.mark.parametrize("restored", [False, True], ids=["new", "restored-from-window-1"])
def test_a2c_metrics_of_an_iteration_are_the_mean_over_its_rounds(restored):
    """The algorithm reduces once per iteration: each term is the mean over its rounds.

    Also after restoring a learner whose metrics were logged with window 1 (as before
    the learners reduced once per iteration): their windows do not come back with it.
    """
    config = A2CConfig().multi_task(TASKS).training(multi_task_update="cycle", lr=0.05)
    learner = config.build_learner(spaces=SPACES)
    if restored:
        old = config.build_learner(spaces=SPACES)
        for term in ("pg_loss", "vf_loss", "entropy", "total_loss"):
            old.metrics.log_value((DEFAULT_MODULE_ID, PER_TASK, TASKS[0], term), 0.0, window=1)
            old.metrics.log_value((DEFAULT_MODULE_ID, term), 0.0, window=1)
        old.metrics.reduce()
        learner.set_state(old.get_state())
    rows = _rows()
    rounds = []
    for _ in range(2):  # the weights move between the rounds: their terms differ
        rounds.append(_a2c_by_hand(learner, rows, 0))  # task 0 steps first in each round
        _, losses, _ = learner._update({DEFAULT_MODULE_ID: _a2c_batch(rows)})
        rounds[-1]["total_loss"] = float(losses[DEFAULT_MODULE_ID])
    results = learner.metrics.reduce()[DEFAULT_MODULE_ID]
    assert rounds[0]["vf_loss"] != pytest.approx(rounds[1]["vf_loss"], rel=1e-3)
    for term in ("pg_loss", "vf_loss", "entropy"):
        expected = (rounds[0][term] + rounds[1][term]) / 2
        assert float(results[PER_TASK][TASKS[0]][term]) == pytest.approx(expected, rel=1e-4)
    # The top level's total: the mean over the rounds of the loss each round returned.
    expected = (rounds[0]["total_loss"] + rounds[1]["total_loss"]) / 2
    assert float(results["total_loss"]) == pytest.approx(expected, rel=1e-5)


def test_distill_logs_kl_and_mse_per_task_and_their_mean(monkeypatch):
    from mtrl_ray.algorithms.distill import DistillConfig
    from mtrl_ray.algorithms.distill.distill_torch_learner import diagonal_gaussian_kl

    config = DistillConfig().multi_task(TASKS).training(multi_task_update="joint")
    learner = config.build_learner(spaces=SPACES)
    rows = _rows()
    rng = np.random.default_rng(1)
    teacher_mean = rng.normal(size=(N, 6)) * np.where(rows["task"] == 1, 3.0, 0.3)[:, None]
    teacher_log_std = rng.normal(size=(N, 6)) * 0.3
    batch = _a2c_batch(rows)
    batch[TEACHER_MEAN], batch[TEACHER_LOG_STD] = _t(teacher_mean), _t(teacher_log_std)
    fwd_out = learner.module[DEFAULT_MODULE_ID].forward_train(batch)
    learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=config, batch=batch, fwd_out=fwd_out
    )
    student = fwd_out[Columns.ACTION_DIST_INPUTS].detach().numpy().astype(np.float64)
    mu_s, log_std_s = student[:, :6], student[:, 6:]
    kl = diagonal_gaussian_kl(
        *(torch.as_tensor(x) for x in (teacher_mean, teacher_log_std, mu_s, log_std_s))
    ).numpy()
    mse = ((mu_s - teacher_mean) ** 2).mean(1) + (
        (np.exp(log_std_s) - np.exp(teacher_log_std)) ** 2
    ).mean(1)
    for task_id, task in enumerate(TASKS):
        sel = rows["keep"] & (rows["task"] == task_id)
        assert _peek(learner, PER_TASK, task, "kl") == pytest.approx(kl[sel].mean(), rel=1e-4)
        assert _peek(learner, PER_TASK, task, "mse") == pytest.approx(mse[sel].mean(), rel=1e-4)
    _assert_mean_over_tasks(learner, ["kl", "mse"])


def _ppo_batch(rows, old_log_prob):
    from ray.rllib.evaluation.postprocessing import Postprocessing

    batch = _a2c_batch(rows)
    batch[Postprocessing.ADVANTAGES] = batch.pop(Columns.ADVANTAGES)
    batch[Postprocessing.VALUE_TARGETS] = batch.pop(Columns.VALUE_TARGETS)
    batch[Columns.ACTION_LOGP] = _t(old_log_prob)
    return batch


@pytest.mark.parametrize("weights", [None, {TASKS[1]: 2.0}], ids=["plain", "task-weights"])
def test_ppo_logs_each_task_and_their_mean(weights):
    from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

    config = MultiTaskPPOConfig().multi_task(TASKS).training(task_loss_weights=weights)
    learner = config.build_learner(spaces=SPACES)
    module = learner.module[DEFAULT_MODULE_ID]
    rows = _rows()
    old_log_prob = np.random.default_rng(2).normal(size=N) * 0.1 - 8.0
    batch = _ppo_batch(rows, old_log_prob)
    batch[Columns.ACTION_DIST_INPUTS] = module.forward_train(batch)[
        Columns.ACTION_DIST_INPUTS
    ].detach()
    fwd_out = module.forward_train(batch)
    learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=learner.config, batch=batch, fwd_out=fwd_out
    )
    # By hand: the clipped surrogate, the (unclipped at 1e6) value error, the entropy.
    inputs = fwd_out[Columns.ACTION_DIST_INPUTS].detach().numpy().astype(np.float64)
    values = fwd_out[Columns.VF_PREDS].detach().numpy().astype(np.float64)
    log_prob, entropy = _gaussian(inputs[:, :6], inputs[:, 6:], rows["actions"])
    ratio = np.exp(log_prob - old_log_prob)
    adv = rows["advantages"]
    surrogate = np.minimum(adv * ratio, adv * np.clip(ratio, 0.8, 1.2))
    for task_id, task in enumerate(TASKS):
        sel = rows["keep"] & (rows["task"] == task_id)
        expected = {
            "policy_loss": -surrogate[sel].mean(),
            "vf_loss": ((values - rows["returns"]) ** 2)[sel].mean(),
            "entropy": entropy[sel].mean(),
        }
        for term, value in expected.items():
            assert _peek(learner, PER_TASK, task, term) == pytest.approx(value, rel=1e-4), term
    _assert_mean_over_tasks(learner, ["policy_loss", "vf_loss"])  # (equal log-stds: equal entropy)


def test_appo_logs_each_task_as_its_own_loss_would_and_their_mean():
    """APPO's v-trace loss per task equals RLlib's loss on that task's batch alone."""
    from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig

    config = (
        MultiTaskAPPOConfig()
        .multi_task(TASKS)
        .env_runners(rollout_fragment_length=N // 2)
        .training(train_batch_size_per_task=N // 2)
    )
    learner = config.build_learner(spaces=SPACES)
    module = learner.module[DEFAULT_MODULE_ID]
    rows = _rows()
    batch = _a2c_batch(rows)
    del batch[Columns.ADVANTAGES], batch[Columns.VALUE_TARGETS]
    batch[Columns.ACTION_LOGP] = _t(np.random.default_rng(3).normal(size=N) * 0.1 - 8.0)
    batch[Columns.REWARDS] = _t(rows["returns"])
    batch[Columns.TERMINATEDS] = torch.zeros(N, dtype=torch.bool)
    learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID,
        config=learner.config,
        batch=batch,
        fwd_out=module.forward_train(batch),
    )
    logged = {t: _peek(learner, PER_TASK, t, "policy_loss") for t in TASKS}
    _assert_mean_over_tasks(learner, ["policy_loss", "vf_loss"])
    # RLlib's own APPO loss on one task's rows logs what we logged for the task
    # (given the bootstrap rows' rewards our loss gives them: appo_loss's docstring).
    from ray.rllib.algorithms.appo.torch.appo_torch_learner import APPOTorchLearner

    from mtrl_ray.algorithms.appo.appo_loss import bootstrap_rewards

    for task_id, task in enumerate(TASKS):
        sel = torch.as_tensor(rows["task"] == task_id)
        task_batch = {k: v[sel] for k, v in batch.items()}
        with torch.no_grad():
            values = module.unwrapped().compute_values(task_batch)
        task_batch[Columns.REWARDS] = bootstrap_rewards(
            task_batch[Columns.REWARDS], values, task_batch[Columns.LOSS_MASK]
        )
        APPOTorchLearner.compute_loss_for_module(
            learner,
            module_id=DEFAULT_MODULE_ID,
            config=learner.config,
            batch=task_batch,
            fwd_out=module.forward_train(task_batch),
        )
        assert _peek(learner, "policy_loss") == pytest.approx(logged[task], rel=1e-5)


def test_ppo_adaptive_kl_reads_the_whole_minibatchs_kl():
    """With use_kl_loss, the top-level mean_kl_loss (the KL coefficient's input) stays
    the whole minibatch's; per task it is logged as for every term."""
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

    from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

    config = MultiTaskPPOConfig().multi_task(TASKS).training(use_kl_loss=True)
    learner = config.build_learner(spaces=SPACES)
    module = learner.module[DEFAULT_MODULE_ID]
    rows = _rows()
    rows["keep"][: N // 2 - 3] = False  # unequal rows: 2 of task 0, 5 of task 1
    batch = _ppo_batch(rows, np.zeros(N))
    # Old policy: the module's own outputs shifted per task, so the KLs differ by task.
    old = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS].detach().clone()
    old[:, :6] += torch.as_tensor(rows["task"] * 0.5 + 0.1, dtype=torch.float32)[:, None]
    batch[Columns.ACTION_DIST_INPUTS] = old
    kwargs = {"module_id": DEFAULT_MODULE_ID, "config": learner.config, "batch": batch}
    PPOTorchLearner.compute_loss_for_module(learner, **kwargs, fwd_out=module.forward_train(batch))
    whole = _peek(learner, "mean_kl_loss")
    learner.compute_loss_for_module(**kwargs, fwd_out=module.forward_train(batch))
    assert _peek(learner, "mean_kl_loss") == pytest.approx(whole, rel=1e-6)
    per_task = [_peek(learner, PER_TASK, task, "mean_kl_loss") for task in TASKS]
    assert per_task[0] < per_task[1] and whole != pytest.approx(np.mean(per_task), rel=1e-3)
