"""APPO's loss on one train batch, term for term as RLlib's `APPOTorchLearner` computes it.

The fast path's learner (`MultiTaskAPPOTorchLearner._update`) calls `appo_loss` once
per gradient step instead of RLlib's `compute_loss_for_module`, so that the per-task
metrics come from the same per-row terms (RLlib's loss logs batch means only: the
slow path runs it again on each task's rows, v-trace included, for the metrics).

The batch is the flat fragment layout of RLlib's APPO learner connector (and of
`FragmentBatch`): each episode chunk's timesteps, then one bootstrap row with
`LOSS_MASK` False. As RLlib does, the rows are cut into columns of
`rollout_fragment_length` (time-major, zero-padded), v-trace (RLlib's
`vtrace_torch`) runs down each column with the discount gamma x (1 - terminated) x
loss mask, and each column bootstraps from the value of the next column's first row.
One change to RLlib's 2.60 loss (`bootstrap_rewards`, applied on both paths): RLlib
gives the bootstrap row reward 0 and discount 0, so its TD error -rho V(s_T) enters
the v-trace recursion of the chunk's last real step, whose target then bootstraps
from nothing: with rho = c = 1 it is r_{T-1} alone where it should be
r_{T-1} + gamma V(s_T), at every fragment cut of an unfinished episode (every
`rollout_fragment_length` steps), for the value target and the policy's advantage
alike. The bootstrap row's reward set to V(s_T) (no gradient) makes its TD error 0,
so v_s at that row is V(s_T) and the chunk's last step bootstraps from it; a
terminated chunk is unaffected (its last discount is 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from ray.rllib.algorithms.appo.appo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_MEAN_IS_KEY,
)
from ray.rllib.algorithms.impala.torch.vtrace_torch_v2 import make_time_major, vtrace_torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.core.rl_module.apis import TARGET_NETWORK_ACTION_DIST_INPUTS

#: RLlib's APPO clips the behaviour / target-policy importance ratio to [0, IS_CLIP].
IS_CLIP = 2.0


def bootstrap_rewards(
    rewards: torch.Tensor, values: torch.Tensor, loss_mask: torch.Tensor
) -> torch.Tensor:
    """The rewards v-trace should see: V(s_T), detached, at the bootstrap rows.

    Args:
        rewards: Flat rewards, 0 at the bootstrap rows (`LOSS_MASK` False).
        values: The critic's values of the same rows.
        loss_mask: `LOSS_MASK`: False at the bootstrap rows.
    """
    return torch.where(loss_mask.bool(), rewards, values.detach())


@dataclass(frozen=True)
class APPOLoss:
    """The loss to minimize and its terms per row (batch order, padding dropped).

    Attributes:
        total: RLlib's total loss (policy + vf_loss_coeff x vf - entropy_coeff x
            entropy + kl_coeff x KL), a mean over the rows `mask` keeps.
        rows: {term: per-row values}: `policy_loss` (-surrogate), `vf_loss`
            (0.5 x (V - v_s)^2), `entropy`, `mean_kl_loss` (KL(target || pi), zero
            without `use_kl_loss`), `mean_IS` (the clipped importance ratio).
        mask: The rows that count (`LOSS_MASK`).
    """

    total: torch.Tensor
    rows: dict[str, torch.Tensor]
    mask: torch.Tensor


def appo_loss(
    module: Any,
    batch: dict[str, torch.Tensor],
    fwd_out: dict[str, torch.Tensor],
    config: Any,
    *,
    entropy_coeff: float | torch.Tensor,
    kl_coeff: float | torch.Tensor,
) -> APPOLoss:
    """APPO's v-trace loss (RLlib's, see the module docstring) on `batch`.

    Args:
        module: The (unwrapped) module: `TargetNetworkAPI` and `ValueFunctionAPI`.
        batch: Flat columns, one row per timestep or bootstrap row.
        fwd_out: `module`'s training forward on `batch`.
        config: The module's APPO config (gamma, clip_param, the v-trace clips,
            vf_loss_coeff, use_kl_loss, rollout fragment length).
        entropy_coeff: The current entropy coefficient.
        kl_coeff: The current KL coefficient (used with `use_kl_loss`).
    """
    n = len(batch[Columns.OBS])
    seq_len = config.get_rollout_fragment_length()

    def time_major(x: torch.Tensor) -> torch.Tensor:
        return make_time_major(x, trajectory_len=seq_len)

    mask = batch[Columns.LOSS_MASK].float()
    mask_tm = time_major(mask)
    size = mask.sum()
    values = fwd_out.get(Columns.VF_PREDS)
    if values is None:
        values = module.compute_values(batch)
    dist_cls = module.get_train_action_dist_cls()
    pi = dist_cls.from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
    target = dist_cls.from_logits(module.forward_target(batch)[TARGET_NETWORK_ACTION_DIST_INPUTS])
    actions = batch[Columns.ACTIONS]
    behaviour_logp = time_major(batch[Columns.ACTION_LOGP])
    target_logp = time_major(target.logp(actions))
    logp = time_major(pi.logp(actions))
    values_tm = time_major(values)
    bootstrap = torch.cat([values_tm[0][1:], values_tm[0][0:1]])
    terminated = time_major(batch[Columns.TERMINATEDS]).float()
    discounts = (1.0 - terminated) * config.gamma * mask_tm
    vs, pg_advantages = vtrace_torch(
        target_action_log_probs=target_logp,
        behaviour_action_log_probs=behaviour_logp,
        discounts=discounts,
        rewards=time_major(bootstrap_rewards(batch[Columns.REWARDS], values, mask)),
        values=values_tm,
        bootstrap_values=bootstrap,
        clip_pg_rho_threshold=config.vtrace_clip_pg_rho_threshold,
        clip_rho_threshold=config.vtrace_clip_rho_threshold,
    )
    pg_advantages = pg_advantages * mask_tm
    is_ratio = torch.clip(torch.exp(behaviour_logp - target_logp), 0.0, IS_CLIP)
    ratio = is_ratio * torch.exp(logp - behaviour_logp)
    clipped = torch.clip(ratio, 1 - config.clip_param, 1 + config.clip_param)
    surrogate = torch.minimum(pg_advantages * ratio, pg_advantages * clipped)
    vf_rows = 0.5 * (values_tm - vs) ** 2 * mask_tm
    entropy = pi.entropy()
    kl = target.kl(pi) if config.use_kl_loss else torch.zeros_like(entropy)

    def rows(x: torch.Tensor) -> torch.Tensor:  # time-major -> batch order
        return x.transpose(0, 1).reshape(-1)[:n]

    total = (
        -surrogate.sum() / size
        + config.vf_loss_coeff * vf_rows.sum() / size
        - entropy_coeff * (entropy * mask).sum() / size
    )
    if config.use_kl_loss:
        total = total + kl_coeff * (kl * mask).sum() / size
    terms = {
        POLICY_LOSS_KEY: -rows(surrogate),
        VF_LOSS_KEY: rows(vf_rows),
        ENTROPY_KEY: entropy,
        LEARNER_RESULTS_KL_KEY: kl,
        LEARNER_RESULTS_MEAN_IS_KEY: rows(is_ratio),
    }
    return APPOLoss(total=total, rows=terms, mask=mask.bool())
