"""The distillation loss: KL(N(mu_T, Sigma_T) || N(mu_S, Sigma_S)) per task head."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, TensorType

from mtrl_ray.algorithms.a2c.a2c_torch_learner import TOTAL_LOSS, A2CTorchLearner
from mtrl_ray.algorithms.multi_task_learner import (  # noqa: F401 (PER_TASK re-exported)
    PER_TASK,
    TaskLosses,
    per_task_means,
)
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.teacher_targets import TEACHER_LOG_STD, TEACHER_MEAN

KL = "kl"
MSE = "mse"


def diagonal_gaussian_kl(
    mu_t: torch.Tensor,
    log_std_t: torch.Tensor,
    mu_s: torch.Tensor,
    log_std_s: torch.Tensor,
    own: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(N(mu_t, diag sigma_t^2) || N(mu_s, diag sigma_s^2)), summed over the last dim.

    Per dimension: log(sigma_s / sigma_t) + (sigma_t^2 + (mu_t - mu_s)^2) / (2 sigma_s^2) - 1/2.
    With `own` (bool, like `mu_t`), summed over the dims it marks only.
    """
    var_t, var_s = torch.exp(2.0 * log_std_t), torch.exp(2.0 * log_std_s)
    per_dim = log_std_s - log_std_t + (var_t + (mu_t - mu_s) ** 2) / (2.0 * var_s) - 0.5
    if own is not None:
        per_dim = torch.where(own, per_dim, torch.zeros_like(per_dim))
    return per_dim.sum(-1)


class DistillTorchLearner(A2CTorchLearner):
    """A2C's learner (RMSprop, update order, observation statistics), distillation loss.

    Metrics, per module: `per_task/<task>/{kl, mse, total_loss}` for each task of
    the update, and at the top level `kl` and `mse`: the mean over the update's
    tasks of the per-task values (`total_loss` as in `A2CTorchLearner`).
    """

    @override(A2CTorchLearner)
    def per_task_losses(
        self,
        *,
        module_id: ModuleID,
        config: Any,
        batch: dict[str, Any],
        fwd_out: dict[str, TensorType],
    ) -> TaskLosses:
        """kl_coeff * KL(N_T || N_S) (+ mse_coeff * MSE), and the terms per task.

        No shares: distillation's config refuses PCGrad and task weights.
        """
        # The bootstrap rows of the fragments are not samples of D_i.
        mask = batch[Columns.LOSS_MASK].bool()
        mu_t, log_std_t = batch[TEACHER_MEAN][mask], batch[TEACHER_LOG_STD][mask]
        student = fwd_out[Columns.ACTION_DIST_INPUTS][mask]
        own = None
        if student.shape[-1] == 2 * mu_t.shape[-1]:
            mu_s, log_std_s = student.chunk(2, dim=-1)
        else:  # across body families: the task's own action dims only
            mu_s, log_std_s, own = student.chunk(3, dim=-1)
            own = own > 0.5

        kl = diagonal_gaussian_kl(mu_t, log_std_t, mu_s, log_std_s, own)  # (B,)
        loss = config.kl_coeff * kl.mean()
        mean_error = (mu_s - mu_t) ** 2
        std_error = (log_std_s.exp() - log_std_t.exp()) ** 2
        if own is None:
            mse = mean_error.mean() + std_error.mean()
            mse_rows = mean_error.detach().mean(-1) + std_error.detach().mean(-1)
        else:  # means over the own dims
            zero = torch.zeros_like(mean_error)
            mean_error = torch.where(own, mean_error, zero)
            std_error = torch.where(own, std_error, zero)
            mse = (mean_error.sum() + std_error.sum()) / own.sum()
            mse_rows = (mean_error.detach() + std_error.detach()).sum(-1) / own.sum(-1)
        if config.mse_coeff:
            loss = loss + config.mse_coeff * mse

        # Per row (the masked rows only): the same terms, for the per-task metrics.
        total_rows = config.kl_coeff * kl.detach() + config.mse_coeff * mse_rows
        terms = {KL: kl, MSE: mse_rows, TOTAL_LOSS: total_rows}
        per_task = per_task_means(terms, batch[TASK_ID].reshape(-1)[mask], None)
        return TaskLosses(total=loss, shares=None, terms=per_task)
