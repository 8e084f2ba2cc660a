"""PPO's loss per row, term for term as RLlib's `PPOTorchLearner` computes it.

The fast path's learner (`MultiTaskPPOTorchLearner.fast_loss`) averages these rows
into the loss and, on the minibatch that logs, into each task's metrics. The
function reads no learner state (the coefficients come in as tensors), so the
learner can hand it to `torch.compile` as it is (`torch_compile_learner`): one graph
for the module's forward and the loss, with AOTAutograd's backward.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY

from mtrl_ray import _rllib_compat as compat

#: The per-row loss to minimize (the other keys are the terms RLlib logs).
LOSS = "loss"


def ppo_row_terms(
    module: Any,
    batch: dict[str, torch.Tensor],
    config: Any,
    entropy_coeff: torch.Tensor,
    kl_coeff: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Each row's PPO loss and its terms on one minibatch.

    loss = -min(A r, A clip(r, 1 - eps, 1 + eps)) + vf_loss_coeff x
    min((V - V_target)^2, vf_clip_param) - entropy_coeff x entropy
    (+ kl_coeff x KL(old || new) with `use_kl_loss`), r = pi(a|s) / pi_old(a|s).

    Args:
        module: The RLModule (as the learner holds it: `_forward_train` is called).
        batch: The minibatch's columns.
        config: The module's PPO config (clip_param, vf_clip_param, vf_loss_coeff,
            use_critic, use_kl_loss).
        entropy_coeff: The scheduled entropy coefficient, a 0-d tensor.
        kl_coeff: The current KL coefficient, a 0-d tensor (read with `use_kl_loss`).

    Returns:
        `LOSS` and RLlib's terms (`policy_loss`, `vf_loss`, `vf_loss_unclipped`,
        `entropy`, `mean_kl_loss`) per row, and the value predictions
        (`Columns.VF_PREDS`).
    """
    unwrapped = module.unwrapped()
    fwd_out = compat.forward_train(module, batch)
    pi = unwrapped.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
    ratio = torch.exp(pi.logp(batch[Columns.ACTIONS]) - batch[Columns.ACTION_LOGP])
    advantages = batch[Columns.ADVANTAGES]
    surrogate = torch.min(
        advantages * ratio,
        advantages * torch.clamp(ratio, 1 - config.clip_param, 1 + config.clip_param),
    )
    values = fwd_out.get(Columns.VF_PREDS)
    if values is None:
        values = unwrapped.compute_values(batch)
    vf_unclipped = (values - batch[Columns.VALUE_TARGETS]) ** 2
    if not config.use_critic:
        vf_unclipped = torch.zeros_like(vf_unclipped)
    vf = torch.clamp(vf_unclipped, 0, config.vf_clip_param)
    entropy = pi.entropy()
    loss = -surrogate + config.vf_loss_coeff * vf - entropy_coeff * entropy
    kl = torch.zeros_like(loss)
    if config.use_kl_loss:
        old = unwrapped.get_exploration_action_dist_cls().from_logits(
            batch[Columns.ACTION_DIST_INPUTS]
        )
        kl = old.kl(pi)
        loss = loss + kl_coeff * kl
    return {
        LOSS: loss,
        POLICY_LOSS_KEY: -surrogate,
        VF_LOSS_KEY: vf,
        LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY: vf_unclipped,
        ENTROPY_KEY: entropy,
        LEARNER_RESULTS_KL_KEY: kl,
        Columns.VF_PREDS: values,
    }
