"""Multi-task PPO: RLlib's PPO with the multi-head module on runners pinned per task.

RLlib's `PPO` algorithm and loss, with what the project adds: pinned runners
(runner i samples task (i - 1) mod n), the task id on every sample, the multi-head
`MultiTaskActorCritic`, and a learner that updates the per-task observation
statistics after each train batch's update.

`fast_path` (the default) runs the same algorithm on A2C's fast path: each runner
samples its share of the train batch with `FragmentSampler` and the numpy actor (one
remote call per runner per iteration, the learner's weights inline, the runner's
metrics in the answer), the learner builds the batch from the fragments with a
vectorized GAE (`FragmentGAE`), and its epochs of minibatch steps run in a loop of
their own (`MultiTaskPPOTorchLearner`). Tests compare both against RLlib's own path:
the same samples, advantages and value targets, and the same parameters after an
update. The runners receive new weights with the next iteration's sample request,
so between iterations they hold the weights they sampled with.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided, TorchCompileWhatToCompile
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.connectors.learner import LearnerConnectorPipeline
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_UPDATE_TIMER,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)
from typing_extensions import Self

from mtrl_ray.algorithms.batch_per_task_config import BatchPerTaskConfig
from mtrl_ray.algorithms.complete_checkpoints import CompleteCheckpoints
from mtrl_ray.algorithms.lean_sampling import FragmentRounds, LeanSamplingConfig
from mtrl_ray.connectors.fragment_batch import FragmentBatch
from mtrl_ray.connectors.fragment_gae import FragmentGAE
from mtrl_ray.modules.multi_task_actor_critic import module_spec


def cxx_compiler() -> str:
    """The C++ compiler torch's inductor backend calls on Linux: $CXX, else g++."""
    return os.environ.get("CXX", "g++")


class MultiTaskPPOConfig(BatchPerTaskConfig, LeanSamplingConfig, PPOConfig):
    """PPO with the MuJoCo defaults of Schulman et al. (2017), per task.

    Every task gets `train_batch_size_per_task` env steps per update (2048, the
    paper's horizon), so each head sees as much fresh data per update as in
    single-task PPO, and 1M frames per task is the same ~490 updates for any number
    of tasks. The train batch (all tasks) is shuffled into minibatches of 64 for 10
    epochs: one joint update of the shared trunk and all heads.

    Example:
        >>> config = MultiTaskPPOConfig().multi_task(["HalfCheetahSmallFoot-v0",
        ...                                           "HalfCheetahBigFoot-v0"])
    """

    LEAN_SWITCH = "fast_path"

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or MultiTaskPPO)
        # PPO paper, MuJoCo table (also CleanRL's ppo_continuous_action).
        self.lr = 3e-4
        self.gamma = 0.99
        self.lambda_ = 0.95
        self.clip_param = 0.2
        self.num_epochs = 10
        self.minibatch_size = 64
        self.train_batch_size_per_task = 2048
        self.pcgrad = False
        self.task_loss_weights: dict[str, float] | None = None
        self.entropy_coeff = 0.0
        # The clipped surrogate alone, as in the paper (RLlib adds an adaptive KL term).
        self.use_kl_loss = False
        # RLlib clamps the *squared* value error at vf_clip_param. Unnormalized
        # HalfCheetah values reach a few hundred, so 10 (RLlib's default) would cut
        # the critic's gradient for most samples; 1e6 (errors up to 1000) never binds.
        self.vf_clip_param = 1e6
        # Actor and critic share no parameters and Adam is scale-invariant, so the
        # value coefficient does not matter; no gradient clipping (as in the paper):
        # a global norm would let the large unnormalized critic gradient shrink the
        # actor's.
        self.vf_loss_coeff = 1.0
        self.grad_clip = None
        # Off by default (as in the PPO paper); CleanRL's MuJoCo PPO normalizes.
        self.normalize_rewards = False
        # 4 envs per runner: 512-step fragments per env for 2048 steps per task, which
        # amortizes RLlib's per-step runner overhead over 4 envs.
        self.num_envs_per_env_runner = 4
        self.rollout_fragment_length = "auto"
        self.batch_mode = "truncate_episodes"
        self.fast_path = True
        self._pin_tasks()

    @override(PPOConfig)
    def training(
        self,
        *,
        train_batch_size_per_task: int = NotProvided,
        pcgrad: bool = NotProvided,
        task_loss_weights: dict[str, float] | None = NotProvided,
        normalize_rewards: bool = NotProvided,
        fast_path: bool = NotProvided,
        multi_task_update: str = NotProvided,
        updates_per_iteration: int = NotProvided,
        **kwargs: Any,
    ) -> Self:
        """Sets PPO's training knobs (plus all of `PPOConfig.training`).

        Args:
            train_batch_size_per_task: Env steps of each task per update (per
                learner); the train batch is this times the number of tasks, unless
                `train_batch_size_per_learner` is set explicitly.
            pcgrad: Gradient surgery (PCGrad) on the shared trunks, per minibatch.
            task_loss_weights: {task: weight} of each task's share of the loss.
            normalize_rewards: Divide the train batch's rewards by the running std
                of the discounted return of their task (per runner, on the runner;
                metrics and evaluation keep the environment's units). Value targets
                then stay near unit scale whatever the task's return.
            fast_path: Runners sample with `FragmentSampler`, the numpy actor and the
                lean connectors, GAE is vectorized and the learner runs its epochs
                in a loop of its own: the same updates as RLlib's PPO (tested) at a
                fraction of its overhead. False: RLlib's sampling loop, connector
                pipelines and minibatch update.
            multi_task_update: Only "joint" (A2C's knob; PPO's minibatches mix tasks).
            updates_per_iteration: Not supported (A2C's knob; one PPO update, of
                `num_epochs` x minibatches, per iteration): a ValueError.
        """
        # The command line's --update / --updates-per-iteration land here: refuse
        # them before anything changes.
        self._set_per_task_batch(
            "PPO",
            train_batch_size_per_task,
            multi_task_update,
            updates_per_iteration,
            instead="PPO runs one update per iteration "
            "(set num_epochs, minibatch_size, train_batch_size_per_task instead)",
        )
        super().training(**kwargs)
        if pcgrad is not NotProvided:
            self.pcgrad = pcgrad
        if task_loss_weights is not NotProvided:
            self.task_loss_weights = task_loss_weights
        if normalize_rewards is not NotProvided:
            self.normalize_rewards = normalize_rewards
        if fast_path is not NotProvided:
            self.fast_path = fast_path
        return self

    @override(PPOConfig)
    def validate(self) -> None:
        super().validate()
        self._validate_per_task_batch()
        self._validate_task_loss_weights()
        if self.torch_compile_learner:
            self._validate_torch_compile()
        if self.fast_path:
            self._refuse_what_lean_sampling_skips()
            # (Evaluation samples through RLlib's loop, whole episodes.)
            if self.batch_mode != "truncate_episodes" and not self.in_evaluation:
                self._value_error(
                    f"batch_mode={self.batch_mode!r}: fast_path=True samples "
                    "truncate_episodes fragments; set fast_path=False for RLlib's loop"
                )

    def _validate_torch_compile(self) -> None:
        """What `torch_compile_learner` compiles here, and a compiler to do it.

        The fast path compiles each minibatch's forward and loss ("forward_train").
        On RLlib's path, RLlib 2.60's "forward_train" compiles no module of a
        MultiRLModule (`TorchLearner.build` tests the container, not the module), so
        it would do nothing; "complete_update" there is RLlib's own (not tested here).
        """
        what = TorchCompileWhatToCompile(self.torch_compile_learner_what_to_compile)
        if self.fast_path and what != TorchCompileWhatToCompile.FORWARD_TRAIN:
            self._value_error(
                f"torch_compile_learner_what_to_compile={what.value!r}: fast_path=True "
                "compiles each minibatch's forward and loss ('forward_train'); set "
                "fast_path=False to compile RLlib's complete update"
            )
        if not self.fast_path and what == TorchCompileWhatToCompile.FORWARD_TRAIN:
            self._value_error(
                "torch_compile_learner with fast_path=False compiles nothing: RLlib's "
                "'forward_train' skips a MultiRLModule's modules; set fast_path=True or "
                "torch_compile_learner=False"
            )
        if self.fast_path and self.pcgrad:
            self._value_error(
                "torch_compile_learner with pcgrad: PCGrad's per-task backward passes "
                "retain the graph, which a compiled backward does not allow; unset one"
            )
        backend = self.torch_compile_learner_dynamo_backend
        if backend == "inductor" and shutil.which(cxx_compiler()) is None:
            self._value_error(
                "torch_compile_learner: the inductor backend needs a C++ compiler "
                f"({cxx_compiler()}) and none is on PATH"
            )

    @override(PPOConfig)
    def build_learner_connector(self, input_observation_space, input_action_space, device=None):
        if not self.fast_path:
            return super().build_learner_connector(
                input_observation_space, input_action_space, device=device
            )
        return LearnerConnectorPipeline(
            connectors=[
                FragmentBatch(policy_outputs=True),
                FragmentGAE(gamma=self.gamma, lambda_=self.lambda_),
            ],
            input_observation_space=input_observation_space,
            input_action_space=input_action_space,
        )

    @override(PPOConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return module_spec(self.model_shape)

    @override(PPOConfig)
    def get_default_learner_class(self) -> type:
        from mtrl_ray.algorithms.ppo.multi_task_ppo_torch_learner import (
            MultiTaskPPOTorchLearner,
        )

        return MultiTaskPPOTorchLearner


class MultiTaskPPO(CompleteCheckpoints, FragmentRounds, PPO):
    """RLlib's PPO with `MultiTaskPPOConfig` as its default config (and its fast path)."""

    @classmethod
    @override(PPO)
    def get_default_config(cls) -> MultiTaskPPOConfig:
        return MultiTaskPPOConfig()

    @override(PPO)
    def training_step(self) -> None:
        if not self.config.fast_path:
            return super().training_step()
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            weights = self._current_weights()
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            fragments = self._sample_train_batch(weights)
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            self._update_learner(fragments, NUM_MODULE_STEPS_TRAINED_LIFETIME)
        return None
