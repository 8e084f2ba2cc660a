"""Per-task pieces every multi-task learner shares: rows, loss shares, metrics,
and the observation statistics learning from each train batch after its update.

A train batch mixes the tasks' samples, told apart by the `task_id` column. The
learners (A2C, distillation, PPO, APPO) select a task's rows with `task_rows` /
`select_rows`; A2C and PPO split their loss into per-task shares (`TaskLosses`,
weighted by `task_loss_weights`), which PCGrad takes as its argument
(`mtrl_ray.algorithms.pcgrad.pcgrad_loss`); every learner logs each loss term per
task with `log_per_task`:

- `<module>/per_task/<task>/<term>`: the term on that task's rows of the update;
- `<module>/<term>`: the mean over the update's tasks of those per-task values (not
  the mean over rows: a task with more rows in the batch weighs no more).

PPO and APPO log them with window 1, as RLlib logs its own loss terms (a PPO result
shows its update's last minibatch; an APPO result, each update's last minibatch
averaged over the iteration's updates); A2C and distillation, whose learners reduce
their metrics once per iteration (`_rllib_compat.update_learners`), with
`metrics.SINCE_LAST_REDUCE`: a result shows the mean over the iteration's rounds.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

from mtrl_ray import _rllib_compat as compat
from mtrl_ray import monitoring
from mtrl_ray.columns import TASK_ID
from mtrl_ray.modules.observation_normalizer import update_observation_statistics

#: Sub-dict of a module's learner results with one entry per task name.
PER_TASK = "per_task"
#: RLlib's PPO/APPO key of the mean KL(old || new) (`LEARNER_RESULTS_KL_KEY`).
RLLIB_KL = "mean_kl_loss"
#: RLlib's key of the loss the optimizer saw (`Learner.update` logs it per update).
TOTAL_LOSS = Learner.TOTAL_LOSS_KEY


def select_rows(value: Any, rows: torch.Tensor) -> Any:
    """`value[rows]` for a per-row tensor column; anything else unchanged."""
    if torch.is_tensor(value) and value.ndim > 0 and value.shape[0] == rows.shape[0]:
        return value[rows]
    return value


def task_rows(batch: Mapping[str, Any], *, loss_mask: bool = True) -> dict[int, torch.Tensor]:
    """{task id: boolean row mask} for the tasks present in `batch`, in id order.

    With `loss_mask`, rows the loss mask drops (the bootstrap rows of fragments)
    belong to no task. A batch without a `task_id` column is all task 0.
    """
    mask = batch.get(Columns.LOSS_MASK) if loss_mask else None
    if TASK_ID not in batch:
        n = len(batch[Columns.ACTIONS])
        return {0: torch.ones(n, dtype=torch.bool) if mask is None else mask.bool()}
    task_ids = batch[TASK_ID].reshape(-1).long()
    if mask is None:
        return {t: task_ids == t for t in torch.unique(task_ids).tolist()}
    keep = mask.bool()
    return {t: keep & (task_ids == t) for t in torch.unique(task_ids[keep]).tolist()}


def per_task_means(
    terms: Mapping[str, torch.Tensor], task_ids: torch.Tensor | None, keep: torch.Tensor | None
) -> dict[int, dict[str, torch.Tensor]]:
    """{task id: {term: mean of the per-row term over the task's rows}}, no gradient.

    Args:
        terms: {name: per-row values}.
        task_ids: Each row's task id (None: all rows are task 0).
        keep: Which rows count (None: all), e.g. the loss mask.
    """
    names = list(terms)
    stacked = torch.stack([terms[n].detach() for n in names], dim=-1)
    ids = torch.zeros(len(stacked), dtype=torch.long) if task_ids is None else task_ids.long()
    if keep is not None:
        stacked, ids = stacked[keep], ids[keep]
    # All tasks at once: a scatter-add of the rows by task, not one mask per task.
    counts = torch.bincount(ids)
    sums = stacked.new_zeros(len(counts), len(names)).index_add_(0, ids, stacked)
    means = sums / counts.clamp(min=1).unsqueeze(-1)
    present = counts.nonzero().flatten().tolist()
    return {t: dict(zip(names, means[t].unbind(), strict=True)) for t in present}


@dataclass(frozen=True)
class TaskLosses:
    """A loss on a multi-task batch and its parts per task.

    Attributes:
        total: The loss to minimize (before any PCGrad).
        shares: {task id: the task's part of `total`, weighted}; they sum to `total`.
            None when neither PCGrad nor task weights need them (the plain loss).
        terms: {task id: {metric term: value on the task's rows}}, for `log_per_task`.
    """

    total: torch.Tensor
    shares: dict[int, torch.Tensor] | None
    terms: dict[int, dict[str, Any]]


def task_weights(task_names: Sequence[str], weights: Mapping[str, float] | None) -> list[float]:
    """Each task's loss weight, by task id, from `task_loss_weights` (default 1)."""
    return [float((weights or {}).get(task, 1.0)) for task in task_names]


def row_shares(
    per_row: torch.Tensor, rows: Mapping[int, torch.Tensor], weights: Sequence[float]
) -> dict[int, torch.Tensor]:
    """{task: weight x the task's part of the mean of `per_row` over all `rows`}.

    Unweighted, the parts sum to that mean: sum(task's rows) / number of rows.
    """
    n = sum(mask.sum() for mask in rows.values())
    return {task: weights[task] * (per_row[mask].sum() / n) for task, mask in rows.items()}


def log_per_task(
    metrics: MetricsLogger,
    module_id: str,
    task_names: Sequence[str],
    values: Mapping[int, Mapping[str, Any]],
    *,
    window: int = 1,
    total_loss: Any = None,
) -> None:
    """Logs each task's terms and, at the top level, their mean over the tasks.

    Args:
        metrics: The learner's metrics logger.
        module_id: The module the terms belong to.
        task_names: The module's tasks, by task id.
        values: {task id: {term: value}}, the tasks of this update.
        window: The metrics' window (1, or `mtrl_ray.metrics.SINCE_LAST_REDUCE`).
        total_loss: If given, the top level's `total_loss` instead of the tasks'
            mean: the loss the optimizer saw, which RLlib's `Learner.update` logs
            under the same key after the update. With a window over several
            updates, both values then count alike.
    """
    # (log_value per key: RLlib's log_dict costs several times as much.)
    for task, terms in values.items():
        for name, value in terms.items():
            metrics.log_value((module_id, PER_TASK, task_names[task], name), value, window=window)
    for name in next(iter(values.values()), {}):
        per_task = [terms[name] for terms in values.values()]
        mean = torch.stack(per_task).mean() if torch.is_tensor(per_task[0]) else np.mean(per_task)
        if name == TOTAL_LOSS and total_loss is not None:
            mean = total_loss
        metrics.log_value((module_id, name), mean, window=window)


def on_rows(
    loss_fn: Callable[..., torch.Tensor],
    *,
    module_id: str,
    config: Any,
    batch: dict[str, Any],
    fwd_out: dict[str, Any],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`loss_fn` (a `compute_loss_for_module`) as a function of a boolean row mask."""

    def loss_on_rows(mask: torch.Tensor) -> torch.Tensor:
        return loss_fn(
            module_id=module_id,
            config=config,
            batch={k: select_rows(v, mask) for k, v in batch.items()},
            fwd_out={k: select_rows(v, mask) for k, v in fwd_out.items()},
        )

    return loss_on_rows


def rllib_terms_per_task(
    metrics: MetricsLogger,
    module_id: str,
    terms: Sequence[str],
    loss_on_rows: Callable[[torch.Tensor], torch.Tensor],
    rows: Mapping[int, torch.Tensor],
) -> tuple[dict[int, torch.Tensor], dict[int, dict[str, float]]]:
    """Runs an RLlib loss on each task's rows; reads back the terms each call logged.

    RLlib's PPO and APPO losses log their terms (`policy_loss`, `vf_loss`, ...) at
    `<module>/<term>` with window 1 (the caller then logs them per task).

    Args:
        metrics: The learner's metrics logger.
        module_id: The module.
        terms: The keys the loss logs.
        loss_on_rows: Computes the loss on the rows of one boolean mask.
        rows: {task id: mask}, e.g. from `task_rows` (without the loss mask: RLlib's
            losses apply it themselves).

    Returns:
        {task id: the loss on the task's rows}, {task id: {term: value}}.
    """
    losses, values = {}, {}
    for task, mask in rows.items():
        losses[task] = loss_on_rows(mask)
        values[task] = {term: _float(metrics.peek((module_id, term))) for term in terms}
    return losses, values


def rllib_loss_with_task_metrics(
    metrics: MetricsLogger,
    loss_fn: Callable[..., torch.Tensor],
    terms: Sequence[str],
    *,
    module_id: str,
    config: Any,
    batch: dict[str, Any],
    fwd_out: dict[str, Any],
    task_names: Sequence[str],
) -> torch.Tensor:
    """RLlib's loss on the whole batch (what trains), then per task for the metrics.

    The per-task losses run without gradient; the top-level terms become their mean
    over the tasks, except RLlib's `mean_kl_loss` when `use_kl_loss` is on: the
    adaptive KL coefficient reads it, so it stays the whole batch's.
    """
    loss = loss_fn(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
    kl = metrics.peek((module_id, RLLIB_KL), default=None) if config.use_kl_loss else None
    with torch.no_grad():
        loss_on_rows = on_rows(loss_fn, module_id=module_id, config=config, batch=batch,
                               fwd_out=fwd_out)  # fmt: skip
        rows = task_rows(batch, loss_mask=False)  # RLlib's losses apply the mask
        _, values = rllib_terms_per_task(metrics, module_id, terms, loss_on_rows, rows)
    log_per_task(metrics, module_id, task_names, values)
    if kl is not None:
        metrics.log_value((module_id, RLLIB_KL), kl, window=1)
    return loss


def _float(value: Any) -> float:
    return float(value.detach()) if torch.is_tensor(value) else float(value)


class StatisticsAfterUpdate:
    """Learner mixin: after each `update()`, the per-task observation statistics
    learn from its train batch, once, and the update's wall time goes to the
    `ray_mtrl_learner_update_seconds` histogram (from the batch's building to the
    end of the gradient steps, in the learner's own process).

    Every gradient step of the update (A2C's cycle, PPO's epochs and minibatches,
    APPO's epochs), the GAE values and the old log-probabilities all used the
    statistics the runners normalized the batch with (PPO's first ratio is exactly
    1); the new statistics then reach the runners with the weights. A batch handed
    out again (APPO's circular buffer) is counted once. Statistics are updated
    before the base class's `after_gradient_based_update`, so APPO's target policy
    copies weights and statistics as the runners receive them.

    Put it first among the bases: `class L(StatisticsAfterUpdate, PPOTorchLearner)`.
    """

    # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _create_iterator_if_necessary(self, *, training_data: TrainingData, **kwargs: Any):
        # The one call every `Learner.update` (A2C's, PPO's, APPO's learner thread)
        # makes with the update's data: the batch is built (from episodes, by the
        # learner connector) here once and handed on as a batch.
        self._update_started = time.perf_counter()
        given = training_data.batch
        batch = compat.make_train_batch(self, training_data)
        self._statistics_batch = (batch, given if given is not None else batch)
        return super()._create_iterator_if_necessary(  # type: ignore[misc]
            training_data=TrainingData(batch=batch), **kwargs
        )

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        batch, key = getattr(self, "_statistics_batch", (None, None))
        self._statistics_batch = (None, None)
        counted = self.__dict__.setdefault("_batches_counted", weakref.WeakSet())
        per_module = compat.module_batches(batch)
        if per_module is not None and key not in counted:
            counted.add(key)
            update_observation_statistics(self.module, per_module)  # type: ignore[attr-defined]
        super().after_gradient_based_update(timesteps=timesteps)  # type: ignore[misc]
        started = self.__dict__.pop("_update_started", None)
        if started is not None:
            tags = monitoring.complete_run_tags(getattr(self.config, "metrics_tags", None))  # type: ignore[attr-defined]
            monitoring.learner_update_seconds().observe(time.perf_counter() - started, tags=tags)
