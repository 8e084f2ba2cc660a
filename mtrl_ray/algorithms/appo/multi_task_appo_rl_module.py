"""The multi-head actor-critic with the target ("old") policy that APPO's loss needs."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TARGET_NETWORK_ACTION_DIST_INPUTS, TargetNetworkAPI
from ray.rllib.utils.annotations import override
from torch import nn

from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic
from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer
from mtrl_ray.modules.task_layers import TaskLinear, TaskMLP


class GaussianPolicy(nn.Module):
    """The acting part of the module as one network: raw obs -> Gaussian parameters.

    It holds the per-task normalizer statistics, the actor trunk and heads, and the
    log-std rows, so that a copy of it is a whole policy as the runners saw it.
    """

    def __init__(
        self,
        obs_normalizer: TaskObservationNormalizer,
        trunk: nn.Module,
        heads: TaskMLP,
        log_std: nn.Parameter,
        normalize: bool,
        encoder: TaskLinear | None = None,
        encoder_rows: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.obs_normalizer = obs_normalizer
        self.encoder = encoder
        self.trunk = trunk
        self.heads = heads
        self.log_std = log_std
        self.normalize = normalize
        # Constants of a cross-family module (not saved, never trained).
        self.encoder_rows = encoder_rows
        self.action_mask = action_mask

    def forward(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """Mean and log-std of each sample's task head, as `policy_parameters` gives them."""
        if self.normalize:
            obs = self.obs_normalizer(obs, task_id)
        if self.encoder is not None:
            obs = torch.tanh(self.encoder(obs, self.encoder_rows[task_id]))
        mean, log_std = self.heads(self.trunk(obs), task_id), self.log_std[task_id]
        if self.action_mask is None:
            return torch.cat([mean, log_std], dim=-1)
        mask = self.action_mask[task_id]
        return torch.cat([mean * mask, log_std * mask, mask], dim=-1)


class MultiTaskAPPOModule(MultiTaskActorCritic, TargetNetworkAPI):
    """`MultiTaskActorCritic` plus a frozen copy of its policy, for APPO's ratios.

    The target policy copies the normalizer statistics along with the actor weights
    and log-stds: it is the policy of some earlier update as a whole (raw observation
    -> action distribution), like the behaviour policy a runner acted with, so the
    ratios pi_behaviour / pi_target and pi / pi_behaviour compare whole policies.
    Runners never build it (`get_non_inference_attributes`).
    """

    def _policy(self) -> GaussianPolicy:
        # A view over this module's own actor tensors (nothing is copied).
        return GaussianPolicy(
            self.obs_normalizer,
            self.actor_trunk,
            self.actor_heads,
            self.log_std,
            self.cfg.normalize_observations,
            self.actor_encoder,
            getattr(self, "encoder_rows", None),
            getattr(self, "action_mask", None),
        )

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self._target_policy = make_target_network(self._policy())

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self._policy(), self._target_policy)]

    @override(TargetNetworkAPI)
    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        task_id = self._task_ids(batch)
        obs = batch[Columns.OBS].float()
        return {TARGET_NETWORK_ACTION_DIST_INPUTS: self._target_policy(obs, task_id)}

    @override(MultiTaskActorCritic)
    def get_non_inference_attributes(self) -> list[str]:
        return [*super().get_non_inference_attributes(), "_target_policy"]
