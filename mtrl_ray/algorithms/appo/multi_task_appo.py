"""Multi-task APPO: RLlib's APPO with the multi-head module on runners pinned per task.

RLlib's `APPO` (IMPALA's asynchronous actor-learner loop with v-trace and a clipped
surrogate against a target policy), with what the project adds: pinned runners
(runner i samples task (i - 1) mod n), the task id on every sample, the multi-head
module with a target copy of its policy, and a learner that updates the per-task
observation statistics after each train batch's update.

`fast_path` (the default) runs APPO's loss on PPO's and A2C's fast sampling path.
What is asynchronous: sampling. Every runner always has one sample request in
flight (`FragmentStream`: `FragmentSampler` and the numpy actor on the runner, one
remote call per fragment, the weights inline when they changed, the runner's
metrics in the answer); the driver takes fragments in the order they arrive until
the train batch is full, sends each runner that answered its next request at once,
and updates the learner while all runners keep sampling. A fragment is therefore
sampled with the weights of the update before (a slow runner's, of an earlier
one), and v-trace corrects for that lag, as in IMPALA. What is not: the learner.
It runs in the driver's thread (no learner thread, queue or aggregator actors),
one train batch per training step, its `num_epochs` full-batch steps with
`appo_loss` (RLlib's loss term for term, tested), so the driver collects the next
batch only after the update: the runners' sampling overlaps the update, the
driver's collecting does not. Runner failures are not handled (a dead runner fails
the training step).
`fast_path=False`: RLlib's APPO loop, learner thread and loss, as they are.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.appo import APPO, APPOConfig
from ray.rllib.connectors.learner import LearnerConnectorPipeline
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_TRAINED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)
from typing_extensions import Self

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.algorithms.batch_per_task_config import BatchPerTaskConfig
from mtrl_ray.algorithms.complete_checkpoints import CompleteCheckpoints
from mtrl_ray.algorithms.fragment_stream import FragmentStream
from mtrl_ray.algorithms.lean_sampling import FragmentRounds, LeanSamplingConfig
from mtrl_ray.connectors.fragment_batch import FragmentBatch


class MultiTaskAPPOConfig(BatchPerTaskConfig, LeanSamplingConfig, APPOConfig):
    """APPO with MuJoCo-style defaults, per task, sized for a small machine.

    Runners sample without waiting for the learner; each train batch holds about
    `train_batch_size_per_task` env steps per task (whichever fragments arrived
    first), and the learner (in the driver: its own thread with `fast_path=False`)
    takes `num_epochs` full-batch steps on it.

    Example:
        >>> config = MultiTaskAPPOConfig().multi_task(["HalfCheetahSmallFoot-v0",
        ...                                            "HalfCheetahBigFoot-v0"])
    """

    LEAN_SWITCH = "fast_path"

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
        self.fast_path = True
        self._pin_tasks()

    @override(APPOConfig)
    def training(
        self,
        *,
        train_batch_size_per_task: int = NotProvided,
        fast_path: bool = NotProvided,
        multi_task_update: str = NotProvided,
        updates_per_iteration: int = NotProvided,
        **kwargs: Any,
    ) -> Self:
        """Sets APPO's training knobs (plus all of `APPOConfig.training`).

        Args:
            train_batch_size_per_task: Env steps of each task per train batch; the
                train batch is this times the number of tasks, unless
                `train_batch_size_per_learner` is set explicitly.
            fast_path: Runners stream fragments from `FragmentSampler`, the numpy
                actor and the lean connectors, one request in flight each, and the
                learner takes its steps in the driver's thread with `appo_loss`
                (RLlib's loss, tested equal; see the module docstring for what is
                asynchronous). False: RLlib's APPO loop, learner thread and loss.
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
        if fast_path is not NotProvided:
            self.fast_path = fast_path
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
                "torch_compile_learner": "nothing of its learner is compiled",
            },
        )
        if self.fast_path:
            self._refuse_what_fast_path_skips()

    def _refuse_what_fast_path_skips(self) -> None:
        """Episode callbacks, a custom env-to-module connector, RLlib's queues and
        aggregators, and in-flight or broadcast settings the stream does not follow."""
        self._refuse_what_lean_sampling_skips()
        hint = "fast_path=True does not use it: set fast_path=False for RLlib's loop"
        if self.batch_mode != "truncate_episodes" and not self.in_evaluation:
            self._value_error(f"batch_mode={self.batch_mode!r}: {hint}")
        if self.use_circular_buffer:
            self._value_error(f"use_circular_buffer=True: {hint}")
        if self.num_aggregator_actors_per_learner:
            self._value_error(f"num_aggregator_actors_per_learner > 0: {hint}")
        if self.max_requests_in_flight_per_env_runner != 1:
            self._value_error(
                f"max_requests_in_flight_per_env_runner="
                f"{self.max_requests_in_flight_per_env_runner}: fast_path=True keeps one "
                "request in flight per runner; set fast_path=False for RLlib's loop"
            )
        if self.broadcast_interval != 1:
            self._value_error(
                f"broadcast_interval={self.broadcast_interval}: fast_path=True sends the "
                "weights after every update; set fast_path=False for RLlib's loop"
            )

    @override(APPOConfig)
    def build_learner_connector(self, input_observation_space, input_action_space, device=None):
        if not self.fast_path:
            return super().build_learner_connector(
                input_observation_space, input_action_space, device=device
            )
        # The fragments' columns as they are: bootstrap rows included (v-trace
        # bootstraps from them), and the sampling policy's log-probabilities.
        return LearnerConnectorPipeline(
            connectors=[FragmentBatch(policy_outputs=True)],
            input_observation_space=input_observation_space,
            input_action_space=input_action_space,
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


class MultiTaskAPPO(CompleteCheckpoints, FragmentRounds, APPO):
    """RLlib's APPO with `MultiTaskAPPOConfig` as its default config (and its fast path)."""

    _stream: FragmentStream | None = None
    _weights_version: int = 0

    @classmethod
    @override(APPO)
    def get_default_config(cls) -> MultiTaskAPPOConfig:
        return MultiTaskAPPOConfig()

    @override(APPO)
    def training_step(self) -> None:
        if not self.config.fast_path:
            return super().training_step()
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            weights = self._current_weights()
            self._weights_version += 1
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            if self.env_runner_group.num_remote_env_runners() == 0:
                fragments = self._sample_train_batch(weights)
            else:
                fragments = self._stream_train_batch(weights)
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            self._update_learner(fragments, NUM_ENV_STEPS_TRAINED_LIFETIME)
        return None

    def _stream_train_batch(self, weights: Any) -> list:
        """Fragments in arrival order until the train batch is full; every runner
        then has a request in flight again (it samples while the learner updates)."""
        if self._stream is None:
            self._stream = FragmentStream(
                compat.remote_env_runners(self.env_runner_group),
                "sample_fragment_and_metrics",
                num_timesteps=None,
                compact=True,
                policy_outputs=True,
            )
        stream, version = self._stream, self._weights_version
        fragments: list = []
        runner_metrics: list = []
        steps = 0
        while steps < self.config.total_train_batch_size:
            stream.refill(weights, version)
            for _, (runner_fragments, metrics) in stream.arrived():
                fragments += runner_fragments
                runner_metrics.append(metrics)
                steps += sum(len(f) for f in runner_fragments)
        stream.refill(weights, version)
        self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
        return fragments
