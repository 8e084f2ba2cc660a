"""RLlib's PPO learner plus the per-task observation statistics update."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from mtrl_ray.algorithms.a2c.a2c_torch_learner import select_rows
from mtrl_ray.algorithms.pcgrad import PCGradLearner
from mtrl_ray.columns import TASK_ID
from mtrl_ray.modules.observation_normalizer import update_observation_statistics


class MultiTaskPPOTorchLearner(PCGradLearner, PPOTorchLearner):
    """PPO's loss and update, unchanged; then the normalizer learns from the batch.

    The module's per-task normalizer statistics are updated once per train batch,
    after all epochs and minibatches: every minibatch's loss, the GAE values and the
    old log-probabilities (computed on the runners) all used the statistics the
    runners sampled this batch with, so the first epoch's probability ratio is
    exactly 1. The new statistics then reach the runners with the weights.

    With `pcgrad` or `task_loss_weights`, PPO's loss is computed per task on each
    minibatch (RLlib's loss, on the task's rows) and combined by row share and weight.
    """

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        self._train_batch: MultiAgentBatch | None = None
        self.task_losses = {}  # per-task loss shares, for PCGrad

    @override(PPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        if not (config.pcgrad or config.task_loss_weights):
            return super().compute_loss_for_module(
                module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
            )
        # PPO's own loss on each task's rows of the minibatch, weighted by the task's
        # share of the (unmasked) rows: the shares sum to PPO's loss on the whole
        # minibatch, or to its per-task-weighted version.
        task_ids = batch[TASK_ID].reshape(-1).long()
        keep = batch.get(Columns.LOSS_MASK)
        keep = torch.ones_like(task_ids, dtype=torch.bool) if keep is None else keep.bool()
        weights = config.task_loss_weights or {}
        tasks = self.module[module_id].unwrapped().cfg.tasks
        shares = []
        for task in torch.unique(task_ids).tolist():
            rows = task_ids == task
            loss = super().compute_loss_for_module(
                module_id=module_id,
                config=config,
                batch={k: select_rows(v, rows) for k, v in batch.items()},
                fwd_out={k: select_rows(v, rows) for k, v in fwd_out.items()},
            )
            share = (keep & rows).sum() / keep.sum().clamp(min=1)
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
