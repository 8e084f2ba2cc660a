"""RLlib's PPO learner plus the per-task observation statistics update, and the fast path.

With `fast_path` (the default), the train batch arrives from `FragmentBatch` +
`FragmentGAE` (GAE done, bootstrap rows dropped) and one `_update` call runs all
epochs and minibatches in a loop of its own (`minibatch_loop.run_epochs`) with
`fast_loss`, RLlib's PPO loss term for term; without, RLlib's PPO update runs as it is.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
)
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.learner import (
    AddOneTsToEpisodesAndTruncate,
    GeneralAdvantageEstimation,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import (
    DEFAULT_OPTIMIZER,
    ENTROPY_KEY,
    POLICY_LOSS_KEY,
    VF_LOSS_KEY,
)
from ray.rllib.utils.annotations import override
from ray.rllib.utils.torch_utils import explained_variance

from mtrl_ray.algorithms.multi_task_learner import (
    RLLIB_KL,
    StatisticsAfterUpdate,
    TaskLosses,
    log_per_task,
    on_rows,
    per_task_means,
    rllib_loss_with_task_metrics,
    rllib_terms_per_task,
    row_shares,
    task_rows,
    task_weights,
)
from mtrl_ray.algorithms.pcgrad import pcgrad_loss, shared_parameters
from mtrl_ray.algorithms.ppo.minibatch_loop import minibatch_order, run_epochs
from mtrl_ray.algorithms.ppo.ppo_loss import LOSS, ppo_row_terms
from mtrl_ray.columns import TASK_ID

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

    With `fast_path`, the same update (on the batch without bootstrap rows) runs
    in `_update`'s own loop, logging the same terms for the last minibatch; with
    `torch_compile_learner` as well, each minibatch's forward and loss run as one
    compiled graph (`ppo_loss.ppo_row_terms`).
    """

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        if self.config.fast_path and self._learner_connector is not None:
            # `PPOLearner.build` adds RLlib's GAE pieces; the config's fast pipeline
            # (`FragmentBatch` + `FragmentGAE`) does their work on fragments.
            self._learner_connector.remove(AddOneTsToEpisodesAndTruncate)
            self._learner_connector.remove(GeneralAdvantageEstimation)
        self._row_terms = ppo_row_terms
        if self.config.fast_path and self.config.torch_compile_learner:
            # One graph per module and minibatch shape; the config checked the rest.
            self._row_terms = torch.compile(
                ppo_row_terms,
                backend=self.config.torch_compile_learner_dynamo_backend,
                mode=self.config.torch_compile_learner_dynamo_mode,
            )

    @override(PPOTorchLearner)
    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        # RLlib's optimizer (Adam over every parameter, the rate from `lr`), fused:
        # one kernel over all parameter tensors instead of ~10 ops per tensor, which
        # PyTorch picks by default on GPUs only. The same update up to float rounding
        # (~1e-7); a third of the step's cost at PPO's minibatches of 384 on CPU.
        params = self.get_parameters(self._module[module_id])
        self.register_optimizer(
            module_id=module_id,
            optimizer=torch.optim.Adam(params, fused=True),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    @override(PPOTorchLearner)
    def update(
        self,
        *args: Any,
        num_epochs: int = 1,
        minibatch_size: int | None = None,
        shuffle_batch_per_epoch: bool = False,
        **kwargs: Any,
    ) -> Any:
        """RLlib's update; with `fast_path`, one `_update` call runs every epoch."""
        if not self.config.fast_path:
            return super().update(
                *args,
                num_epochs=num_epochs,
                minibatch_size=minibatch_size,
                shuffle_batch_per_epoch=shuffle_batch_per_epoch,
                **kwargs,
            )
        self._epochs = (num_epochs, minibatch_size, shuffle_batch_per_epoch and num_epochs > 1)
        return super().update(*args, **kwargs)  # the whole batch, once, to `_update`

    @override(PPOTorchLearner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _update(self, batch: dict[str, Any], **kwargs) -> tuple[Any, Any, Any]:
        if not self.config.fast_path:
            return super()._update(batch, **kwargs)
        num_epochs, minibatch_size, shuffle = getattr(self, "_epochs", (1, None, False))
        losses = {}
        for module_id, module_batch in batch.items():
            module = self.module[module_id]
            module.train()  # once; the loop calls what `forward_train` wraps
            config = self.config.get_config_for_module(module_id)
            ((_, optimizer),) = self.get_optimizers_for_module(module_id)
            rows = len(module_batch[Columns.OBS])
            order = minibatch_order(rows, minibatch_size, num_epochs, shuffle=shuffle)

            def loss_fn(minibatch, last, module_id=module_id, config=config):
                return self.fast_loss(module_id, config, minibatch, log=last)

            losses[module_id], norm = run_epochs(module_batch, order, loss_fn, optimizer, config)
            if norm is not None and config.grad_clip_by == "global_norm":
                key = (module_id, f"gradients_{DEFAULT_OPTIMIZER}_global_norm")
                self.metrics.log_value(key, norm, window=1)
        return {}, losses, {}

    def fast_loss(
        self, module_id: str, config: Any, batch: dict[str, Any], *, log: bool
    ) -> torch.Tensor:
        """RLlib's PPO loss (`PPOTorchLearner.compute_loss_for_module`) on one minibatch.

        The mean over the rows (those of `LOSS_MASK`, if the batch has one) of
        `ppo_row_terms`' loss; with PCGrad or task weights, the tasks' weighted
        shares of that mean. With `log`, the terms RLlib logs, per task and their
        mean over the tasks. With `torch_compile_learner`, the rows come from the
        compiled `ppo_row_terms`, except on the minibatch that logs (which runs once
        per update, eagerly, so the metrics never add a graph).
        """
        module = self.module[module_id]
        entropy_coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()
        kl_coeff = self.curr_kl_coeffs_per_module[module_id] if config.use_kl_loss else 0.0
        row_terms = ppo_row_terms if log else self._row_terms
        terms = row_terms(
            module,
            batch,
            config,
            torch.as_tensor(entropy_coeff, dtype=torch.float32),
            torch.as_tensor(kl_coeff, dtype=torch.float32).detach(),
        )
        per_row, values = terms.pop(LOSS), terms.pop(Columns.VF_PREDS)
        mask = batch.get(Columns.LOSS_MASK)
        keep = None if mask is None else mask.bool()
        total = per_row.mean() if keep is None else per_row[keep].sum() / keep.sum()
        shares = None
        if config.pcgrad or config.task_loss_weights:
            weights = task_weights(module.unwrapped().cfg.tasks, config.task_loss_weights)
            shares = row_shares(per_row, task_rows(batch), weights)
            total = sum(shares.values())
        if log:
            self._log_fast_terms(module_id, module.unwrapped(), batch, terms, values, keep)
            if config.use_kl_loss and not shares:  # the adaptive coefficient reads it
                kl = terms[LEARNER_RESULTS_KL_KEY]
                mean_kl = kl.mean() if keep is None else kl[keep].sum() / keep.sum()
                self.metrics.log_value((module_id, RLLIB_KL), mean_kl.detach(), window=1)
        if config.pcgrad and shares:
            return pcgrad_loss(total, list(shares.values()), shared_parameters(module.unwrapped()))
        return total

    def _log_fast_terms(self, module_id, module, batch, terms, values, keep) -> None:
        """Each task's PPO terms (and explained variance) on the minibatch, and their mean."""
        task_ids = batch[TASK_ID].reshape(-1) if TASK_ID in batch else None
        per_task = per_task_means(terms, task_ids, keep)
        targets = batch[Columns.VALUE_TARGETS]
        for task, rows in task_rows(batch).items():
            variance = explained_variance(targets[rows], values[rows].detach())
            per_task[task][LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY] = variance
        log_per_task(self.metrics, module_id, module.cfg.tasks, per_task)

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
