"""RLlib's PPO learner plus the per-task observation statistics update."""

from __future__ import annotations

import torch
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
)
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.utils.annotations import override

from mtrl_ray.algorithms.multi_task_learner import (
    StatisticsAfterUpdate,
    TaskLosses,
    log_per_task,
    on_rows,
    rllib_loss_with_task_metrics,
    rllib_terms_per_task,
    task_rows,
    task_weights,
)
from mtrl_ray.algorithms.pcgrad import pcgrad_loss, shared_parameters

#: What RLlib's PPO loss logs; each is also logged per task.
PPO_TERMS = (
    POLICY_LOSS_KEY,
    VF_LOSS_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    ENTROPY_KEY,
    LEARNER_RESULTS_KL_KEY,
)


class MultiTaskPPOTorchLearner(StatisticsAfterUpdate, PPOTorchLearner):
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
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        module = self.module[module_id].unwrapped()
        if not (config.pcgrad or config.task_loss_weights):
            return rllib_loss_with_task_metrics(
                self.metrics,
                super().compute_loss_for_module,
                PPO_TERMS,
                module_id=module_id,
                config=config,
                batch=batch,
                fwd_out=fwd_out,
                task_names=module.cfg.tasks,
            )
        losses = self.per_task_losses(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        log_per_task(self.metrics, module_id, module.cfg.tasks, losses.terms)
        if config.pcgrad:
            shares = list(losses.shares.values())
            return pcgrad_loss(losses.total, shares, shared_parameters(module))
        return losses.total

    def per_task_losses(self, *, module_id, config, batch, fwd_out) -> TaskLosses:
        """PPO's own loss on each task's rows, as shares of the minibatch's loss.

        Each task's loss is weighted by its share of the (unmasked) rows and its task
        weight: the shares sum to PPO's loss on the whole minibatch, or to its
        per-task-weighted version. (RLlib's loss logs its terms as it runs; `terms`
        holds each task's.)
        """
        rows = task_rows(batch, loss_mask=False)  # RLlib's loss applies the mask itself
        loss_on_rows = on_rows(super().compute_loss_for_module, module_id=module_id,
                               config=config, batch=batch, fwd_out=fwd_out)  # fmt: skip
        losses, terms = rllib_terms_per_task(self.metrics, module_id, PPO_TERMS, loss_on_rows, rows)
        keep = batch.get(Columns.LOSS_MASK)
        keep = torch.ones_like(rows[next(iter(rows))]) if keep is None else keep.bool()
        weights = task_weights(
            self.module[module_id].unwrapped().cfg.tasks, config.task_loss_weights
        )
        shares = {}
        for task, loss in losses.items():
            share = (keep & rows[task]).sum() / keep.sum().clamp(min=1)
            shares[task] = weights[task] * share * loss
        total = sum(shares.values())
        assert isinstance(total, torch.Tensor)  # a minibatch has rows of some task
        return TaskLosses(total=total, shares=shares, terms=terms)
