"""The multi-head actor-critic with the target ("old") policy that APPO's loss needs."""

from __future__ import annotations

from typing import Any

from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TARGET_NETWORK_ACTION_DIST_INPUTS, TargetNetworkAPI
from ray.rllib.utils.annotations import override
from torch import nn

from mtrl_ray.modules.actor import Actor
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic
from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer


class MultiTaskAPPOModule(MultiTaskActorCritic, TargetNetworkAPI):
    """`MultiTaskActorCritic` plus a frozen copy of its policy, for APPO's ratios.

    The target policy is a copy of the actor and of the normalizer statistics: it is
    the policy of some earlier update as a whole (raw observation -> action
    distribution), like the behaviour policy a runner acted with, so the ratios
    pi_behaviour / pi_target and pi / pi_behaviour compare whole policies.
    Runners never build it (`get_non_inference_attributes`).
    """

    _target_obs_normalizer: TaskObservationNormalizer
    _target_actor: Actor

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self._target_obs_normalizer = make_target_network(self.obs_normalizer)
        self._target_actor = make_target_network(self.actor)

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [
            (self.obs_normalizer, self._target_obs_normalizer),
            (self.actor, self._target_actor),
        ]

    @override(TargetNetworkAPI)
    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        task_id = self._task_ids(batch)
        obs = batch[Columns.OBS].float()
        if self.cfg.normalize_observations:
            obs = self._target_obs_normalizer(obs, task_id)
        return {TARGET_NETWORK_ACTION_DIST_INPUTS: self._target_actor(obs, task_id)}

    @override(MultiTaskActorCritic)
    def get_non_inference_attributes(self) -> list[str]:
        return [*super().get_non_inference_attributes(), "_target_obs_normalizer", "_target_actor"]
