"""RLlib's PPO learner plus the per-task observation statistics update."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
)
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY, Learner
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from mtrl_ray.algorithms.multi_task_learner import (
    on_rows,
    rllib_loss_with_task_metrics,
    rllib_terms_per_task,
    task_rows,
)
from mtrl_ray.algorithms.pcgrad import PCGradLearner
from mtrl_ray.modules.observation_normalizer import update_observation_statistics

#: What RLlib's PPO loss logs; each is also logged per task.
PPO_TERMS = (
    POLICY_LOSS_KEY,
    VF_LOSS_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    ENTROPY_KEY,
    LEARNER_RESULTS_KL_KEY,
)


class MultiTaskPPOTorchLearner(PCGradLearner, PPOTorchLearner):
    """PPO's loss and update, unchanged; then the normalizer learns from the batch.

    The module's per-task normalizer statistics are updated once per train batch,
    after all epochs and minibatches: every minibatch's loss, the GAE values and the
    old log-probabilities (computed on the runners) all used the statistics the
    runners sampled this batch with, so the first epoch's probability ratio is
    exactly 1. The new statistics then reach the runners with the weights.

    With `pcgrad` or `task_loss_weights`, PPO's loss is computed per task on each
    minibatch (RLlib's loss, on the task's rows) and combined by row share and weight.
    Without, RLlib's loss on the whole minibatch trains, and the per-task losses
    (without gradient) give the metrics: every term RLlib's PPO logs (`policy_loss`,
    `vf_loss`, `entropy`, ...) as `per_task/<task>/<term>`, and at the top level
    the mean over the minibatch's tasks (of the last minibatch, as RLlib logs).
    `total_loss` is the loss the optimizer saw.
    """

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        self._train_batch: MultiAgentBatch | None = None
        self.task_losses = {}  # per-task loss shares, for PCGrad

    @override(PPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        ppo_loss = super().compute_loss_for_module
        tasks = self.module[module_id].unwrapped().cfg.tasks
        if not (config.pcgrad or config.task_loss_weights):
            return rllib_loss_with_task_metrics(
                self.metrics,
                ppo_loss,
                PPO_TERMS,
                module_id=module_id,
                config=config,
                batch=batch,
                fwd_out=fwd_out,
                task_names=tasks,
            )
        rows = task_rows(batch, loss_mask=False)  # RLlib's loss applies the mask itself
        loss_on_rows = on_rows(ppo_loss, module_id=module_id, config=config, batch=batch,
                               fwd_out=fwd_out)  # fmt: skip
        # PPO's own loss on each task's rows of the minibatch, weighted by the task's
        # share of the (unmasked) rows: the shares sum to PPO's loss on the whole
        # minibatch, or to its per-task-weighted version.
        losses = rllib_terms_per_task(self.metrics, module_id, tasks, PPO_TERMS, loss_on_rows, rows)
        keep = batch.get(Columns.LOSS_MASK)
        keep = torch.ones_like(rows[next(iter(rows))]) if keep is None else keep.bool()
        weights = config.task_loss_weights or {}
        shares = []
        for task, loss in losses.items():
            share = (keep & rows[task]).sum() / keep.sum().clamp(min=1)
            shares.append(float(weights.get(tasks[task], 1.0)) * share * loss)
        if config.pcgrad:
            self.task_losses[module_id] = shares
        return sum(shares)

    @override(Learner)
    def _make_batch_if_necessary(self, training_data: Any) -> Any:
        # The train batch is only built inside `update()` (by the learner connector);
        # keep it for `after_gradient_based_update`. Minibatch shuffling permutes it in
        # place, which leaves the per-task moments unchanged.
        batch = super()._make_batch_if_necessary(training_data)
        self._train_batch = batch
        return batch

    @override(PPOTorchLearner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        batch, self._train_batch = self._train_batch, None
        if isinstance(batch, MultiAgentBatch):
            update_observation_statistics(self.module, batch.policy_batches)
