"""RLlib's APPO learner plus the per-task observation statistics update, and the fast path.

With `fast_path` (the default), the train batch arrives from `FragmentBatch` (the
runners' fragments, bootstrap rows included), `update` runs in the caller's thread
(the driver's training step, no learner thread or queue), and each of RLlib's
`num_epochs` gradient steps is one `appo_loss` and one `gradient_step` (`_update`);
without, RLlib's APPO update runs as it is.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.appo.appo import (
    LEARNER_RESULTS_CURR_KL_COEFF_KEY,
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_MEAN_IS_KEY,
    LEARNER_RESULTS_VAR_IS_KEY,
)
from ray.rllib.algorithms.appo.torch.appo_torch_learner import APPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import (
    DEFAULT_OPTIMIZER,
    ENTROPY_KEY,
    POLICY_LOSS_KEY,
    VF_LOSS_KEY,
    Learner,
)
from ray.rllib.utils.annotations import override

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.algorithms.appo.appo_loss import appo_loss, bootstrap_rewards
from mtrl_ray.algorithms.gradient_step import gradient_step
from mtrl_ray.algorithms.multi_task_learner import (
    StatisticsAfterUpdate,
    log_per_task,
    per_task_means,
    rllib_loss_with_task_metrics,
)
from mtrl_ray.columns import TASK_ID

#: What RLlib's APPO loss logs per batch (besides the KL coefficient); each is also
#: logged per task.
APPO_TERMS = (
    POLICY_LOSS_KEY,
    VF_LOSS_KEY,
    ENTROPY_KEY,
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_MEAN_IS_KEY,
    LEARNER_RESULTS_VAR_IS_KEY,
)


class MultiTaskAPPOTorchLearner(StatisticsAfterUpdate, APPOTorchLearner):
    """APPO's loss and update; then the normalizer learns from the batch.

    One change to RLlib's loss on both paths: each episode chunk's last step
    bootstraps from V(s_T) (`appo_loss.bootstrap_rewards`; RLlib 2.60 bootstraps it
    from nothing).

    In RLlib's APPO the driver side of `update()` only builds the train batch (or
    receives it from aggregator actors) and queues it; a learner thread takes batches
    from the queue (or the circular buffer, which hands each batch out up to K times)
    and runs `Learner.update` on each: `_create_iterator_if_necessary` sees the batch
    (with `obs`, `task_id` and `loss_mask`), then the `num_epochs` gradient steps run,
    then `after_gradient_based_update`, all in that thread.

    The per-task statistics learn from each batch once, after its first update (all
    its epochs), so every step on it used the statistics current when it started;
    they reach the runners with the next weights. They are updated before APPO's
    target sync (`super().after_gradient_based_update`), so the target policy copies
    weights and statistics as the runners receive them.

    RLlib's loss on the whole batch trains. For the metrics, the same loss runs
    (without gradient) on each task's rows: every term RLlib's APPO logs
    (`policy_loss`, `vf_loss`, `entropy`, ...) as `per_task/<task>/<term>`, and at
    the top level the mean over the batch's tasks. (v-trace then runs over each
    task's rows cut into `rollout_fragment_length` pieces, as RLlib cuts the batch.)

    With `fast_path`, `update` is `Learner.update` itself, in the caller's thread:
    RLlib's iterator hands out the whole batch `num_epochs` times (so steps trained,
    the target-network sync and the KL coefficient count as in RLlib's), and each
    step is `appo_loss` (the loss above, tested equal) and one optimizer step. Its
    per-task metrics are the means of the trained loss's per-row terms over each
    task's rows (v-trace ran on the whole batch), and at the top level their mean
    over the tasks, except `mean_kl_loss`, the whole batch's (the KL coefficient
    reads it), as on PPO's fast path.
    """

    @override(APPOTorchLearner)
    def update(self, *args: Any, **kwargs: Any) -> Any:
        """RLlib's APPO update (queued for the learner thread); with `fast_path`, now."""
        if not self.config.fast_path:
            return super().update(*args, **kwargs)
        kwargs.pop("return_state", None)  # the fast path's driver gets the weights itself
        return Learner.update(self, *args, **kwargs)

    @override(APPOTorchLearner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _update(self, batch: dict[str, Any], **kwargs) -> tuple[Any, Any, Any]:
        if not self.config.fast_path:
            return super()._update(batch, **kwargs)
        losses = {}
        for module_id, module_batch in batch.items():
            wrapped = self.module[module_id]
            wrapped.train()
            module = wrapped.unwrapped()
            config = self.config.get_config_for_module(module_id)
            ((_, optimizer),) = self.get_optimizers_for_module(module_id)
            loss = appo_loss(
                module,
                module_batch,
                compat.forward_train(wrapped, module_batch),
                config,
                entropy_coeff=self.entropy_coeff_schedulers_per_module[
                    module_id
                ].get_current_value(),
                kl_coeff=self.curr_kl_coeffs_per_module[module_id],
            )
            self._log_fast_terms(module_id, module, module_batch, loss)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            norm = gradient_step(
                optimizer,
                params,
                loss.total,
                config.grad_clip,
                config.grad_clip_by,
                zero_non_finite=not config.torch_skip_nan_gradients,
            )
            if norm is not None and config.grad_clip_by == "global_norm":
                key = (module_id, f"gradients_{DEFAULT_OPTIMIZER}_global_norm")
                self.metrics.log_value(key, norm, window=1)
            losses[module_id] = loss.total.detach()
        return {}, losses, {}

    def _log_fast_terms(self, module_id, module, batch, loss) -> None:
        """Each task's APPO terms on the batch, their mean, and the batch's KL."""
        terms = dict(loss.rows)
        task_ids = batch[TASK_ID].reshape(-1) if TASK_ID in batch else None
        per_task = per_task_means(terms, task_ids, loss.mask)
        is_ratio = terms[LEARNER_RESULTS_MEAN_IS_KEY].detach()
        ids = task_ids.long() if task_ids is not None else None
        for task, values in per_task.items():
            keep = loss.mask if ids is None else loss.mask & (ids == task)
            spread = (is_ratio[keep] - values[LEARNER_RESULTS_MEAN_IS_KEY]) ** 2
            values[LEARNER_RESULTS_VAR_IS_KEY] = spread.mean()
        log_per_task(self.metrics, module_id, module.cfg.tasks, per_task)
        kl = terms[LEARNER_RESULTS_KL_KEY].detach()[loss.mask].mean()
        self.metrics.log_value((module_id, LEARNER_RESULTS_KL_KEY), kl, window=1)
        coeff = self.curr_kl_coeffs_per_module[module_id]
        self.metrics.log_value((module_id, LEARNER_RESULTS_CURR_KL_COEFF_KEY), coeff, window=1)

    @override(APPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        # RLlib's loss with the chunk-end bootstrap restored (appo_loss's docstring).
        module = self.module[module_id].unwrapped()
        with torch.no_grad():
            values = module.compute_values(batch)
        rewards = bootstrap_rewards(batch[Columns.REWARDS], values, batch[Columns.LOSS_MASK])
        batch = {**batch, Columns.REWARDS: rewards}
        return rllib_loss_with_task_metrics(
            self.metrics,
            super().compute_loss_for_module,
            APPO_TERMS,
            module_id=module_id,
            config=config,
            batch=batch,
            fwd_out=fwd_out,
            task_names=self.module[module_id].unwrapped().cfg.tasks,
        )
