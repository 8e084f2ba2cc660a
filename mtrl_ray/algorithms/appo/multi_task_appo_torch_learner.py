"""RLlib's APPO learner plus the per-task observation statistics update."""

from __future__ import annotations

import weakref
from typing import Any

from ray.rllib.algorithms.appo.appo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_MEAN_IS_KEY,
    LEARNER_RESULTS_VAR_IS_KEY,
)
from ray.rllib.algorithms.appo.appo_learner import APPOLearner
from ray.rllib.algorithms.appo.torch.appo_torch_learner import APPOTorchLearner
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY, Learner
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.utils.annotations import override

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.algorithms.multi_task_learner import rllib_loss_with_task_metrics
from mtrl_ray.modules.observation_normalizer import update_observation_statistics

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


class MultiTaskAPPOTorchLearner(APPOTorchLearner):
    """APPO's loss and update, unchanged; then the normalizer learns from the batch.

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
    """

    @override(APPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
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

    @override(APPOTorchLearner)
    def build(self) -> None:
        super().build()
        # Only the learner thread touches these.
        self._train_batch: Any = None  # RLlib's MultiAgentBatch
        self._batches_counted: weakref.WeakSet = weakref.WeakSet()

    @override(Learner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _create_iterator_if_necessary(self, *, training_data: TrainingData, **kwargs: Any):
        # The batch this update trains on; a batch the circular buffer hands out
        # again is the same object.
        self._train_batch = training_data.batch
        return super()._create_iterator_if_necessary(training_data=training_data, **kwargs)

    @override(APPOLearner)
    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        batch, self._train_batch = self._train_batch, None
        module_batches = compat.module_batches(batch)
        if module_batches is not None and batch not in self._batches_counted:
            self._batches_counted.add(batch)
            update_observation_statistics(self.module, module_batches)
        super().after_gradient_based_update(timesteps=timesteps)
