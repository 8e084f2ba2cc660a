"""The A2C loss (paper eq. 3) and the multi-task update modes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from ray.rllib.connectors.learner import AddOneTsToEpisodesAndTruncate
from ray.rllib.core import COMPONENT_METRICS_LOGGER
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import DEFAULT_OPTIMIZER
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, TensorType

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.algorithms.gradient_step import clip_gradients, gradient_step
from mtrl_ray.algorithms.multi_task_learner import (
    StatisticsAfterUpdate,
    TaskLosses,
    log_per_task,
    per_task_means,
    row_shares,
    select_rows,
    task_rows,
    task_weights,
)
from mtrl_ray.algorithms.pcgrad import pcgrad_loss, shared_parameters
from mtrl_ray.checkpoints import read_checkpoint, read_weights
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors import NStepReturns
from mtrl_ray.metrics import SINCE_LAST_REDUCE
from mtrl_ray.modules.fine_tuning import (
    encoder_sources,
    head_sources,
    load_fine_tune_start,
    trainable_parameter_names,
)
from mtrl_ray.modules.model_config import MultiTaskModelConfig

POLICY_LOSS = "pg_loss"
VF_LOSS = "vf_loss"
ENTROPY = "entropy"
TOTAL_LOSS = TorchLearner.TOTAL_LOSS_KEY
NUM_TASK_UPDATES = "num_task_updates"


class A2CTorchLearner(StatisticsAfterUpdate, TorchLearner):
    """Central learner: owns the multi-head module, computes the A2C loss, updates.

    Batch preparation lives in connectors (n-step returns; on the default lean
    path the config's `FragmentBatch` + `NStepReturns`, else this learner adds
    RLlib's pieces). This class holds the loss and its per-task metrics, RMSprop
    over the trainable parameters, the fused gradient clipping, the multi-task
    update order (`cycle`'s own step loop, or RLlib's one step for `joint`), the
    per-task observation-statistics update after each update, PCGrad (a loss
    whose gradient is PCGrad's, from `per_task_losses`) and the fine-tuning start.

    Metrics, per module: `per_task/<task>/{pg_loss, vf_loss, entropy, total_loss}`
    for each task of the update (`total_loss` there: the task's own loss, without
    task weights), and at the top level `pg_loss`, `vf_loss`, `entropy`: the mean
    over the update's tasks of the per-task values. The top-level `total_loss` is
    the loss the optimizer saw (`joint`: the one step's; `cycle`: the mean of the
    tasks' step losses). The algorithm reduces the learner's metrics once per
    iteration, and each of these is the mean over its rounds (`METRICS_WINDOW`).
    """

    #: Window of the metrics logged per update (see `multi_task_learner`). In `joint`
    #: mode RLlib logs the gradient norm itself, with window 1: the last round's.
    METRICS_WINDOW = SINCE_LAST_REDUCE

    @override(TorchLearner)
    def set_state(self, state: dict[str, Any]) -> None:
        """RLlib's, without the state of the learner's metrics logger.

        A checkpoint is taken after the iteration's reduce, so that state holds
        nothing to keep (a learner's lifetime counts restart at each reduce); and
        one written before the learner reduced once per iteration would bring
        back its metrics' window 1 (a result would show the last round's values).
        """
        super().set_state({k: v for k, v in state.items() if k != COMPONENT_METRICS_LOGGER})

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        rllib_pieces = self.config.add_default_connectors_to_learner_pipeline
        if self._learner_connector is not None and rllib_pieces and not self.config.lean_connectors:
            # RLlib's generic pieces: append the bootstrap state to each t_max-step
            # fragment, then compute n-step returns from it. (The lean pipeline
            # built by `A2CConfig.build_learner_connector` does both already.)
            self._learner_connector.prepend(AddOneTsToEpisodesAndTruncate())
            self._learner_connector.append(NStepReturns(gamma=self.config.gamma))
        if self.config.fine_tune_from is not None:
            self._load_fine_tune_start()

    def _load_fine_tune_start(self) -> None:
        """Starts from the checkpoint's weights and normalization statistics.

        Weights-only loading: the checkpoint's tensors file, no pickled code.
        """
        info = read_checkpoint(self.config.fine_tune_from)
        source = read_weights(info, what="fine-tune weights")
        theirs = info.task_sizes
        source_rows = MultiTaskModelConfig.from_dict(info.model_config).encoder_rows
        for module_id in self.module.keys():
            module = self.module[module_id].unwrapped()
            ours = module.cfg.task_sizes(module.observation_space, module.action_space)

            def fits(task: str, head: str, ours: dict[str, tuple[int, int]] = ours) -> bool:
                return ours[task] == theirs[head]

            sources = head_sources(
                info.tasks, module.cfg.tasks, self.config.fine_tune_source, fits=fits
            )
            rows = module.cfg.encoder_rows
            encoders = None if rows is None else encoder_sources(source_rows, rows, sources)
            load_fine_tune_start(module, source, sources, encoders)

    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id: ModuleID, config=None) -> None:
        # RMSprop with the paper's (and its A2C code's) alpha and eps, over the
        # parameters that train (all, unless fine-tuning freezes some).
        module = self._module[module_id]
        trainable = trainable_parameter_names(module, config.fine_tune_trainable)
        params = []
        for name, param in module.named_parameters():
            param.requires_grad_(name in trainable)
            if name in trainable:
                params.append(param)
        # `lr` may be a schedule ([[timestep, lr], ...]): RLlib's scheduler sets the
        # optimizer's rate from it at registration and after every update.
        # foreach: the same update in a few multi-tensor ops instead of ~5 per parameter
        # tensor (PyTorch picks it by default on GPUs only); A2C steps once per
        # 80-sample batch, so per-op overhead is most of an update's cost.
        # With `optimizer_per_task`, one RMSprop per task over the same parameters,
        # registered under the task's name: RLlib saves each one's state in
        # checkpoints and moves each one's rate along the schedule.
        names = module.unwrapped().cfg.tasks if config.optimizer_per_task else [DEFAULT_OPTIMIZER]
        for name in names:
            optimizer = torch.optim.RMSprop(
                params, alpha=config.rmsprop_alpha, eps=config.rmsprop_eps, foreach=True
            )
            self.register_optimizer(
                module_id=module_id,
                optimizer_name=name,
                optimizer=optimizer,
                params=params,
                lr_or_lr_schedule=config.lr,
            )

    @staticmethod
    @override(TorchLearner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _get_clip_function() -> Callable:
        return clip_gradients

    @override(TorchLearner)
    def compute_loss_for_module(
        self,
        *,
        module_id: ModuleID,
        config: Any,
        batch: dict[str, Any],
        fwd_out: dict[str, TensorType],
    ) -> TensorType:
        losses = self.per_task_losses(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        module = self.module[module_id].unwrapped()
        loss = losses.total
        if config.pcgrad:
            assert losses.shares is not None  # per_task_losses gives shares with pcgrad
            loss = pcgrad_loss(loss, list(losses.shares.values()), shared_parameters(module))
        log_per_task(
            self.metrics,
            module_id,
            module.cfg.tasks,
            losses.terms,
            window=self.METRICS_WINDOW,
            total_loss=loss.detach(),
        )
        return loss

    def per_task_losses(
        self,
        *,
        module_id: ModuleID,
        config: Any,
        batch: dict[str, Any],
        fwd_out: dict[str, TensorType],
    ) -> TaskLosses:
        """The A2C loss (paper, eq. 3) on the batch, and its parts per task.

        The loss is the mean over the rows (the bootstrap rows masked out) of
        pg + vf_loss_coeff * vf - entropy_coeff * entropy; with task weights, the
        sum of the tasks' weighted shares of that mean.
        """
        module = self.module[module_id].unwrapped()
        # The bootstrap timestep appended to each fragment carries no loss.
        mask = batch[Columns.LOSS_MASK].bool() if Columns.LOSS_MASK in batch else None
        pi = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        log_prob = pi.logp(batch[Columns.ACTIONS])
        advantages = batch[Columns.ADVANTAGES]  # R_t - V(s_t), no gradient
        returns = batch[Columns.VALUE_TARGETS]  # R_t, n-step bootstrapped

        # Eq. 3 per sample: policy gradient, value regression, entropy bonus.
        pg = -advantages * log_prob
        vf = (returns - fwd_out[Columns.VF_PREDS]) ** 2
        entropy = pi.entropy()
        per_sample = pg + config.vf_loss_coeff * vf - config.entropy_coeff * entropy
        task_ids = batch[TASK_ID].reshape(-1) if TASK_ID in batch else None
        terms = {POLICY_LOSS: pg, VF_LOSS: vf, ENTROPY: entropy, TOTAL_LOSS: per_sample}
        per_task = per_task_means(terms, task_ids, mask)
        mean = per_sample[mask].mean() if mask is not None else per_sample.mean()
        if not (config.pcgrad or config.task_loss_weights):
            return TaskLosses(total=mean, shares=None, terms=per_task)
        weights = task_weights(module.cfg.tasks, config.task_loss_weights)
        shares = row_shares(per_sample, task_rows(batch), weights)
        total = sum(shares.values()) if config.task_loss_weights else mean
        assert isinstance(total, torch.Tensor)  # a batch has rows of some task
        return TaskLosses(total=total, shares=shares, terms=per_task)

    @override(TorchLearner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _update(self, batch: dict[str, Any], **kwargs) -> tuple[Any, Any, Any]:
        if self.config.multi_task_update == "cycle":
            return self._cycle_tasks(batch)
        return super()._update(batch, **kwargs)

    def _cycle_tasks(self, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
        """The paper's update order: one optimizer step per task batch, in task order.

        Each step is what RLlib's `_uncompiled_update` does for one module (forward,
        loss, backward, global-norm clip, non-finite gradients zeroed, RMSprop), on
        the task's rows, without its per-call plumbing (dispatch over the
        MultiRLModule, a finiteness check per parameter tensor, per-step gradient
        metrics): with 80-sample batches that plumbing cost about as much as the
        arithmetic. The last step's gradient norm is logged, as RLlib logs it.
        """
        fwd_out, losses, norm = {}, {}, None
        for module_id, module_batch in batch.items():
            module = self.module[module_id]
            task_names = module.unwrapped().cfg.tasks
            # `forward_train` re-enters train mode (a walk over every submodule) at
            # each call: once per cycle here, then what it wraps.
            module.train()
            config = self.config.get_config_for_module(module_id)
            optimizers = self.get_optimizers_for_module(module_id)
            params = [p for group in optimizers[0][1].param_groups for p in group["params"]]
            task_ids = module_batch[TASK_ID].reshape(-1)
            tasks = torch.unique(task_ids)  # sorted: E_1, ..., E_n
            step_losses, terms = [], {}
            for task in tasks:
                rows = task_ids == task
                task_batch = {k: select_rows(v, rows) for k, v in module_batch.items()}
                fwd_out[module_id] = compat.forward_train(module, task_batch)
                # The loss `compute_loss_for_module` returns (the config refuses PCGrad
                # in cycle mode); its terms are logged once, after the cycle.
                task_losses = self.per_task_losses(
                    module_id=module_id, config=config, batch=task_batch, fwd_out=fwd_out[module_id]
                )
                terms.update(task_losses.terms)
                step_losses.append(task_losses.total.detach())
                # One optimizer, or (optimizer_per_task) the task's own, by task order.
                optimizer = optimizers[int(task) if config.optimizer_per_task else 0][1]
                norm = gradient_step(
                    optimizer,
                    params,
                    task_losses.total,
                    config.grad_clip,
                    config.grad_clip_by,
                    zero_non_finite=not config.torch_skip_nan_gradients,
                )
            # Each task's terms, and their mean over the tasks at the top level; the
            # returned loss (logged by RLlib as `total_loss`): the steps' mean.
            losses[module_id] = sum(step_losses) / len(step_losses)
            window = self.METRICS_WINDOW
            log_per_task(
                self.metrics,
                module_id,
                task_names,
                terms,
                window=window,
                total_loss=losses[module_id],
            )
            self.metrics.log_value((module_id, NUM_TASK_UPDATES), len(tasks), window=window)
            if norm is not None and config.grad_clip_by == "global_norm":
                key = (module_id, f"gradients_{DEFAULT_OPTIMIZER}_global_norm")
                self.metrics.log_value(key, norm, window=window)
        return fwd_out, losses, {}
