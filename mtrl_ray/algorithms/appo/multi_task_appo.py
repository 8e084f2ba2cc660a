"""Multi-task APPO: RLlib's APPO with the multi-head module on runners pinned per task.

RLlib's `APPO` (IMPALA's asynchronous actor-learner loop with v-trace and a clipped
surrogate against a target policy) is used as it is; this file only wires in what
the project adds: pinned runners (runner i samples task (i - 1) mod n), the task id
on every sample, the multi-head module with a target copy of its policy, and a
learner that updates the per-task observation statistics after each train batch's
update.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.appo import APPO, APPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from typing_extensions import Self

from mtrl_ray.algorithms.batch_per_task_config import BatchPerTaskConfig
from mtrl_ray.algorithms.complete_checkpoints import CompleteCheckpoints


class MultiTaskAPPOConfig(BatchPerTaskConfig, APPOConfig):
    """APPO with MuJoCo-style defaults, per task, sized for a small machine.

    Runners sample without waiting for the learner; each train batch holds about
    `train_batch_size_per_task` env steps per task (whichever fragments arrived
    first), and the learner, in a thread of the driver process, takes `num_epochs`
    full-batch steps on it.

    Example:
        >>> config = MultiTaskAPPOConfig().multi_task(["HalfCheetahSmallFoot-v0",
        ...                                            "HalfCheetahBigFoot-v0"])
    """

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or MultiTaskAPPO)
        # Adam 3e-4, gamma 0.99, clip 0.2, no entropy bonus: the PPO MuJoCo settings
        # (APPO's 5e-4 / 0.4 / 0.01 are Atari's); the Gaussian's log-std learns its
        # own exploration.
        self.lr = 3e-4
        self.gamma = 0.99
        self.clip_param = 0.2
        self.entropy_coeff = 0.0
        # No gradient clipping (RLlib: global norm 40): a global norm would let the
        # large unnormalized critic gradient shrink the actor's. Actor and critic
        # share no parameters and Adam is scale-invariant, so the value coefficient
        # does not matter (RLlib's 0.5 kept).
        self.grad_clip = None
        self.vf_loss_coeff = 0.5
        # 512 env steps per task per train batch (3072 for the paper's six): 128-step
        # fragments from 4 envs, one runner call per task per batch, which amortizes
        # RLlib's per-call overhead; v-trace bootstraps over up to 128 steps.
        self.train_batch_size_per_task = 512
        self.num_envs_per_env_runner = 4
        self.rollout_fragment_length = "auto"
        # Each train batch, once, as 8 full-batch steps (the learner thread's queue,
        # not the circular buffer): MuJoCo budgets count frames, so reuse samples
        # (PPO: 10 epochs), and a finished batch's statistics update then follows all
        # its steps, as in PPO. (The circular buffer's learner thread busy-waits when
        # idle and RLlib reads only one of its K results per batch.) Minibatches
        # would cut v-trace's sequences (chunks are rollout_fragment_length + 1 long).
        self.use_circular_buffer = False
        self.simple_queue_size = 4
        self.num_epochs = 8
        self.minibatch_size = None
        # The target ("old") policy syncs every freq x 1 x 1 x train batch trained
        # env steps, and a batch trains num_epochs times: freq = num_epochs syncs it
        # once per batch, so it is the policy before the current batch's steps, like
        # PPO's pi_old.
        self.circular_buffer_num_batches = 1
        self.circular_buffer_iterations_per_batch = 1
        self.target_network_update_freq = 8
        # One central learner in the driver process (a learner thread there) and no
        # aggregator actors: the driver runs the learner connector itself; on a
        # small machine every extra process competes with MuJoCo for the cores.
        self.num_learners = 0
        self.num_aggregator_actors_per_learner = 0
        # RLlib polls the runners with timeout 0, in a loop for >= 10 s per
        # iteration; a short wait lets the driver sleep instead of spinning.
        self.timeout_s_sampler_manager = 0.05
        self._pin_tasks()

    @override(APPOConfig)
    def training(
        self,
        *,
        train_batch_size_per_task: int = NotProvided,
        multi_task_update: str = NotProvided,
        updates_per_iteration: int = NotProvided,
        **kwargs: Any,
    ) -> Self:
        """Sets APPO's training knobs (plus all of `APPOConfig.training`).

        Args:
            train_batch_size_per_task: Env steps of each task per train batch; the
                train batch is this times the number of tasks, unless
                `train_batch_size_per_learner` is set explicitly.
            multi_task_update: Only "joint" (A2C's knob; APPO's batches mix tasks).
            updates_per_iteration: Not supported (A2C's knob; APPO iterations last
                `min_time_s_per_iteration`): a ValueError.
        """
        # The command line's --update / --updates-per-iteration land here: refuse
        # them before anything changes.
        self._set_per_task_batch(
            "APPO",
            train_batch_size_per_task,
            multi_task_update,
            updates_per_iteration,
            instead="APPO trains asynchronously "
            "(set num_epochs, train_batch_size_per_task instead)",
        )
        super().training(**kwargs)
        return self

    @override(APPOConfig)
    def validate(self) -> None:
        super().validate()
        self._validate_per_task_batch()
        # Keys `--config` may set although APPO's learner has no use for them.
        self._refuse(
            "APPO",
            {
                "pcgrad": "its learner does not split the loss by task",
                "task_loss_weights": "its learner does not split the loss by task",
            },
        )

    @override(APPOConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from mtrl_ray.algorithms.appo.multi_task_appo_rl_module import MultiTaskAPPOModule

        return RLModuleSpec(module_class=MultiTaskAPPOModule, model_config=asdict(self.model_shape))

    @override(APPOConfig)
    def get_default_learner_class(self) -> type:
        from mtrl_ray.algorithms.appo.multi_task_appo_torch_learner import (
            MultiTaskAPPOTorchLearner,
        )

        return MultiTaskAPPOTorchLearner


class MultiTaskAPPO(CompleteCheckpoints, APPO):
    """RLlib's APPO, unchanged, with `MultiTaskAPPOConfig` as its default config."""

    @classmethod
    @override(APPO)
    def get_default_config(cls) -> MultiTaskAPPOConfig:
        return MultiTaskAPPOConfig()
