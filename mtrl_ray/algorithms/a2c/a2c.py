"""A2C config and algorithm: synchronous rounds of t_max-step fragments from pinned runners.

One round = every runner samples t_max steps in each of its envs with the current
weights (the new weights travel with the sample request), then the central learner
updates: once per task in turn (`cycle`, the paper's code) or once on all tasks'
samples (`joint`). An RLlib iteration runs `updates_per_iteration` rounds and
collects runner metrics once, so RLlib's per-iteration overhead is paid once per
many 5-step updates instead of once per update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.connectors.learner import LearnerConnectorPipeline
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)
from typing_extensions import Self

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.algorithms.a2c.fine_tune_checks import (
    canonical_source_heads,
    check_fine_tune_families,
)
from mtrl_ray.algorithms.complete_checkpoints import CompleteCheckpoints
from mtrl_ray.algorithms.lean_sampling import FragmentRounds, LeanSamplingConfig
from mtrl_ray.algorithms.pinned_tasks_config import PinnedTasksConfig
from mtrl_ray.checkpoints import WEIGHTS, CheckpointError, read_checkpoint
from mtrl_ray.connectors import NStepReturns
from mtrl_ray.connectors.fragment_batch import FragmentBatch
from mtrl_ray.modules.fine_tuning import TRAINABLE, SourceHeads
from mtrl_ray.modules.multi_task_actor_critic import module_spec

UPDATE_MODES = ("cycle", "joint")


class A2CConfig(PinnedTasksConfig, LeanSamplingConfig, AlgorithmConfig):
    """A2C with the paper's defaults (Arora et al., section 4.1, and the A2C code
    it was built on, ikostrikov's pytorch-a2c-ppo-acktr).

    Example:
        >>> config = A2CConfig().multi_task(["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"])
    """

    PATH_KEYS = (*PinnedTasksConfig.PATH_KEYS, "fine_tune_from")

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or A2C)
        # Paper / its A2C code (ikostrikov's pytorch-a2c-ppo-acktr).
        self.lr = 7e-4
        self.rmsprop_alpha = 0.99
        self.rmsprop_eps = 1e-5
        self.gamma = 0.99
        self.entropy_coeff = 0.01
        self.vf_loss_coeff = 0.5
        self.grad_clip = 0.5
        self.grad_clip_by = "global_norm"
        self.rollout_fragment_length = 5  # t_max
        self.num_envs_per_env_runner = 16
        self.multi_task_update = "cycle"
        self.updates_per_iteration = 50
        self.lean_connectors = True
        # The paper's code sent the raw Gaussian sample to the env. MuJoCo clamps the
        # control to [-1, 1] either way, but HalfCheetah's control cost is charged on
        # the action as sent: raw, a wide Gaussian costs reward, which keeps the
        # policy's std in check (RLlib's default, rescale-and-clip, hides that cost).
        self.normalize_actions = False
        self.clip_actions = False
        self.normalize_rewards = False
        self.pcgrad = False
        self.task_loss_weights: dict[str, float] | None = None
        self.optimizer_per_task = False
        self.fine_tune_from: str | None = None
        self.fine_tune_trainable = "all"
        self.fine_tune_source_head: str | dict[str, str] | None = None
        self._pin_tasks()
        self.batch_mode = "truncate_episodes"

    @override(PinnedTasksConfig)
    def multi_task(
        self,
        tasks: list[str] | tuple[str, ...] | str | None = None,
        *,
        runners_per_task: int | None = None,
        update: str | None = None,
    ) -> Self:
        """Sets the tasks, how many pinned runners each gets, and the update mode.

        Args:
            tasks: Task names in head order (or one comma-separated string).
            runners_per_task: k; the algorithm then has k x len(tasks) runners.
            update: "cycle" (one optimizer step per task batch, in turn; the paper)
                or "joint" (one step on all tasks' samples).
        """
        super().multi_task(tasks, runners_per_task=runners_per_task)
        if update is not None:
            self.multi_task_update = update
        return self

    def fine_tune(
        self,
        checkpoint: str | Path | None,
        *,
        trainable: str = "last",
        source_head: str | Mapping[str, str] | None = None,
    ) -> Self:
        """Starts training from a checkpoint's weights, with some layers frozen.

        Args:
            checkpoint: An mtrl-ray checkpoint (its `module_weights.pt` is read;
                None: train from scratch).
            trainable: "last" (the last layer of actor and critic, and the log-std:
                the paper's fine-tuning), "heads" (every per-task layer, trunks
                frozen) or "all".
            source_head: The checkpoint head that tasks it has no head for start
                from (default: its only head if it has one, else a fresh head), or
                {new task: checkpoint head} (new tasks it does not name get fresh
                heads). A task starts with all of its source's per-task rows: head,
                log-std, normalization statistics, per-task input layer, critic parts.
        """
        self.fine_tune_from = None if checkpoint is None else str(checkpoint)
        self.fine_tune_trainable = trainable
        self.fine_tune_source_head = (
            dict(source_head) if isinstance(source_head, Mapping) else source_head
        )
        return self

    def new_head(
        self,
        checkpoint: str | Path,
        task: str | Sequence[str],
        *,
        trainable: str = "heads",
        source_heads: Mapping[str, str] | None = None,
    ) -> Self:
        """Adds a head for `task` (or one for each of several) to a checkpoint's module
        and trains only the new tasks.

        The module gets the checkpoint's heads plus one per new task, fresh or (with
        `source_heads`, {new task: checkpoint head}) a copy of a chosen head: a head of
        the same body, say, whose features the frozen trunk already reads. Runners
        sample the new tasks only (`runners_per_task` each), so only the new heads (and
        their critic parts) receive gradients: with `trainable="heads"` the shared
        trunks are frozen and the other heads stay as they were. With frozen trunks and
        the cycle update (a step's gradient and its norm clip are one task's), several
        new heads in one run learn as in runs of their own, up to the random streams.
        """
        from mtrl_ray.tasks.task_set import canonical_task_name

        new = [canonical_task_name(t) for t in ([task] if isinstance(task, str) else task)]
        old = read_checkpoint(checkpoint).tasks
        if already := [t for t in new if t in old]:
            raise CheckpointError(f"checkpoint {checkpoint} already has a head for {already[0]}")
        self.multi_task([*old, *new])
        self.env_config = {**self.env_config, "heads": new, "variants": new}
        self.multi_task()  # runner count: runners_per_task, for each sampled (new) task
        # An empty mapping, not None: None would start a single-task checkpoint's new
        # head from its only head (fine-tuning's default), and new heads are fresh.
        return self.fine_tune(checkpoint, trainable=trainable, source_head=source_heads or {})

    @property
    def fine_tune_source(self) -> SourceHeads:
        """The checkpoint head(s) that new tasks start from, names canonical: one for
        all, or {new task: head} (a task it does not name: fresh); without either, the
        checkpoint's only head if it has one, else fresh heads."""
        if self.fine_tune_source_head is not None or self.fine_tune_from is None:
            return canonical_source_heads(self.fine_tune_source_head)
        tasks = read_checkpoint(self.fine_tune_from).tasks
        return tasks[0] if len(tasks) == 1 else None

    @override(AlgorithmConfig)
    def training(
        self,
        *,
        rmsprop_alpha: float = NotProvided,
        rmsprop_eps: float = NotProvided,
        entropy_coeff: float = NotProvided,
        vf_loss_coeff: float = NotProvided,
        multi_task_update: str = NotProvided,
        updates_per_iteration: int = NotProvided,
        lean_connectors: bool = NotProvided,
        normalize_rewards: bool = NotProvided,
        pcgrad: bool = NotProvided,
        task_loss_weights: dict[str, float] | None = NotProvided,
        optimizer_per_task: bool = NotProvided,
        **kwargs: Any,
    ) -> Self:
        """Sets A2C's training knobs (plus all of `AlgorithmConfig.training`).

        Args:
            rmsprop_alpha: RMSprop smoothing constant.
            rmsprop_eps: RMSprop epsilon.
            entropy_coeff: Weight of the entropy bonus.
            vf_loss_coeff: Weight of the value loss.
            multi_task_update: "cycle" or "joint" (see `multi_task`).
            updates_per_iteration: A2C updates (rounds) per RLlib iteration.
            lean_connectors: Runners sample with `FragmentSampler` and the
                one-piece connectors of `mtrl_ray.connectors` (`lean_gaussian`,
                `fragment_batch`) instead of RLlib's sampling loop and generic
                pipelines: the same train batches at a fraction of the per-step cost.
            normalize_rewards: Divide rewards by the running std of the discounted
                return, per runner (= per task), clipped to +-10, as the paper's
                code (VecNormalize) did. Needs `lean_connectors`.
            pcgrad: Gradient surgery on the shared trunks (PCGrad): a task's
                gradient loses its component along another task's it conflicts
                with. Needs `multi_task_update="joint"` (cycle steps one task at a time).
            task_loss_weights: {task: weight} multiplying each task's samples'
                losses (default 1 for every task).
            optimizer_per_task: One RMSprop state per task (its running averages,
                also for the shared layers, move only on that task's steps), as
                the paper's code kept one optimizer per branch. Needs
                `multi_task_update="cycle"`. With no shared layers
                (`model_config={"actor_shared_layers": 0, "critic_shared_layers": 0}`)
                each task trains exactly as a single-task run would.
        """
        super().training(**kwargs)
        for name, value in (
            ("rmsprop_alpha", rmsprop_alpha),
            ("rmsprop_eps", rmsprop_eps),
            ("entropy_coeff", entropy_coeff),
            ("vf_loss_coeff", vf_loss_coeff),
            ("multi_task_update", multi_task_update),
            ("updates_per_iteration", updates_per_iteration),
            ("lean_connectors", lean_connectors),
            ("normalize_rewards", normalize_rewards),
            ("pcgrad", pcgrad),
            ("task_loss_weights", task_loss_weights),
            ("optimizer_per_task", optimizer_per_task),
        ):
            if value is not NotProvided:
                setattr(self, name, value)
        return self

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        if self.multi_task_update not in UPDATE_MODES:
            self._value_error(
                f"multi_task_update must be one of {UPDATE_MODES}, got {self.multi_task_update!r}"
            )
        self._validate_pinned_runners()
        if self.normalize_rewards and not self.lean_connectors:
            self._value_error("normalize_rewards needs lean_connectors=True")
        if self.updates_per_iteration < 1:
            self._value_error("updates_per_iteration must be >= 1")
        if self.pcgrad and self.multi_task_update != "joint":
            self._value_error("pcgrad needs multi_task_update='joint' (cycle updates one task)")
        if self.optimizer_per_task and self.multi_task_update != "cycle":
            self._value_error(
                "optimizer_per_task needs multi_task_update='cycle' (joint takes one step "
                "on all tasks)"
            )
        self._validate_task_loss_weights()
        self._refuse(
            self.algo_class.__name__,
            {"torch_compile_learner": "its learner's update loop is its own, not compiled"},
        )
        if self.lean_connectors:
            self._refuse_what_lean_sampling_skips()
        if self.fine_tune_trainable not in TRAINABLE:
            self._value_error(f"fine_tune_trainable must be one of {TRAINABLE}, got "
                              f"{self.fine_tune_trainable!r}")  # fmt: skip
        if self.fine_tune_from is not None:
            self._check_fine_tune_checkpoint(self.fine_tune_from)

    def _check_fine_tune_checkpoint(self, checkpoint: str) -> None:
        """The checkpoint reads, has weights, the same network shape, the source heads."""
        info = read_checkpoint(checkpoint)
        if not info.weights_path.is_file():
            raise CheckpointError(f"fine-tune checkpoint {info.path} has no {WEIGHTS}")
        ours = asdict(self.model_shape)
        for key in ("actor_hiddens", "critic_hiddens", "actor_shared_layers"):
            # The manifest is JSON: tuples came back as lists.
            if info.model_config.get(key) != _jsonable(ours[key]):
                raise CheckpointError(
                    f"fine-tune checkpoint {info.path} has {key}={info.model_config.get(key)}, "
                    f"this experiment {ours[key]}"
                )
        check_fine_tune_families(self, info)

    @override(AlgorithmConfig)
    def build_learner_connector(self, input_observation_space, input_action_space, device=None):
        if not self.lean_connectors:
            # RLlib's pieces; the learner adds the bootstrap step and the returns.
            return super().build_learner_connector(
                input_observation_space, input_action_space, device=device
            )
        return LearnerConnectorPipeline(
            connectors=[FragmentBatch(), NStepReturns(gamma=self.gamma)],
            input_observation_space=input_observation_space,
            input_action_space=input_action_space,
        )

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return module_spec(self.model_shape)

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from mtrl_ray.algorithms.a2c.a2c_torch_learner import A2CTorchLearner

        return A2CTorchLearner

    @property
    def fragment_timesteps(self) -> int:
        """Env steps one runner samples per update: t_max x envs per runner."""
        return self.rollout_fragment_length * self.num_envs_per_env_runner


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class A2C(CompleteCheckpoints, FragmentRounds, Algorithm):
    """Synchronous multi-task A2C on pinned EnvRunners with a central learner."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> A2CConfig:
        return A2CConfig()

    @override(Algorithm)
    def training_step(self) -> None:
        rounds = self.config.updates_per_iteration
        for round_index in range(rounds):
            with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
                weights = self._current_weights()
            with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
                episodes = self._sample_fragments(weights)
            # The learners keep their metrics over the iteration's rounds and reduce
            # them once, after the last: per round (80 samples per task) that cost ~10 %
            # of the learner's update.
            last = round_index == rounds - 1
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                learner_results = compat.update_learners(
                    self.learner_group,
                    reduce=last,
                    episodes=episodes,
                    timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self._env_steps_lifetime()},
                )
            if last:
                self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        # Runner metrics (returns, step counts) once per iteration: they are cheap
        # to accumulate on the runners but costly to fetch.
        runner_metrics = self.env_runner_group.foreach_env_runner(
            lambda runner: runner.get_metrics(),
            local_env_runner=self.env_runner_group.num_remote_env_runners() == 0,
        )
        self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)

    def _sample_fragments(self, weights: Any) -> list:
        """Every runner loads `weights`, then samples t_max steps in each env."""
        results = self._sample_round(
            "sample_fragment",
            weights,
            num_timesteps=self.config.fragment_timesteps,
            compact=self.config.lean_connectors,
        )
        return [episode for runner_episodes in results for episode in runner_episodes]
