"""RLlib's PPO learner plus the per-task observation statistics update."""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.learner.learner import Learner
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from mtrl_ray.modules.observation_normalizer import update_observation_statistics


class MultiTaskPPOTorchLearner(PPOTorchLearner):
    """PPO's loss and update, unchanged; then the normalizer learns from the batch.

    The module's per-task normalizer statistics are updated once per train batch,
    after all epochs and minibatches: every minibatch's loss, the GAE values and the
    old log-probabilities (computed on the runners) all used the statistics the
    runners sampled this batch with, so the first epoch's probability ratio is
    exactly 1. The new statistics then reach the runners with the weights.
    """

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        self._train_batch: MultiAgentBatch | None = None

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
