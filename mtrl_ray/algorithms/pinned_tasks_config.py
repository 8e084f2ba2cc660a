"""What every multi-task algorithm config adds to RLlib's: tasks, pinned runners, module.

A2C, distillation, PPO and APPO all run the same way: one TaskSet, k runners per
task each pinned to its task, the task id on every sample, the multi-head module.
`PinnedTasksConfig` is that part, mixed in before RLlib's config class.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.checkpoints import check_restorable, check_same_tasks, read_checkpoint
from mtrl_ray.connectors import task_id_connector
from mtrl_ray.envs import task_shapes
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskModelConfig
from mtrl_ray.runners import PinnedEnvRunner
from mtrl_ray.tasks import PINNED_ENV, TaskSet

if TYPE_CHECKING:  # a mixin: type checkers see the RLlib config it is mixed into
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig as _ConfigBase
else:
    _ConfigBase = object


class PinnedTasksConfig(_ConfigBase):
    """Mixin for an `AlgorithmConfig`: the TaskSet, pinned runners, the module's shape."""

    #: Config keys holding file paths (a path, or a {name: path} dict).
    PATH_KEYS: tuple[str, ...] = ("restore_from",)

    def _pin_tasks(self) -> None:
        """Defaults: one task, one runner, one central learner in the driver process."""
        self.runners_per_task = 1
        self.num_env_runners = 1
        self.num_learners = 0
        self.env = PINNED_ENV
        self.env_config: dict[str, Any] = {"tasks": ["HalfCheetahSmallFoot-v0"]}
        self.env_runner_cls = PinnedEnvRunner
        # The module needs the task id in every forward batch (and echoes it into
        # the episodes).
        self.env_runners(env_to_module_connector=task_id_connector)
        # A checkpoint the run starts from (weights, optimizer, statistics, counters).
        self.restore_from: str | None = None
        # What started the run, for checkpoint manifests (`rllib train` sets it;
        # None: the training process's own command line).
        self.provenance: dict | None = None
        # The run's Prometheus tags ({"experiment", "trial"}): the Algorithm sets them
        # when it starts (monitoring.run_tags), for its runners to read.
        self.metrics_tags: dict[str, str] | None = None

    @property
    def task_set(self) -> TaskSet:
        """The TaskSet of this experiment (from `env_config["tasks"]`)."""
        return TaskSet.of(self.env_config["tasks"])

    def multi_task(
        self,
        tasks: list[str] | tuple[str, ...] | str | None = None,
        *,
        runners_per_task: int | None = None,
    ) -> Self:
        """Sets the tasks and how many pinned runners each gets.

        Args:
            tasks: Task names in head order (or one comma-separated string).
            runners_per_task: k; the algorithm then has k runners per sampled task
                (every task, or only `env_config["variants"]`, e.g. a new head's).
        """
        if tasks is not None:
            self.env_config = {**self.env_config, "tasks": list(TaskSet.of(tasks).names)}
        if runners_per_task is not None:
            if runners_per_task < 1:
                raise ValueError(f"runners_per_task must be >= 1, got {runners_per_task}")
            self.runners_per_task = runners_per_task
        self.num_env_runners = self.runners_per_task * self._num_sampled_tasks
        return self

    @property
    def _num_sampled_tasks(self) -> int:
        return len(self.env_config.get("variants") or self.task_set.names)

    def _validate_pinned_runners(self) -> None:
        """Every runner is pinned to one sampled task: a positive multiple of them."""
        n, runners = self._num_sampled_tasks, self.num_env_runners
        # (An evaluation config's runner count is that of the evaluation group.)
        if not self.in_evaluation and (runners % n or (runners == 0 and n > 1)):
            self._value_error(
                f"num_env_runners={runners} must be a positive multiple of the "
                f"number of tasks sampled ({n}): every runner is pinned to one task"
            )
        try:
            self.model_shape  # noqa: B018 (builds and checks the module's shape)
        except ValueError as e:
            self._value_error(str(e))
        if self.restore_from is not None:
            info = read_checkpoint(self.restore_from)
            check_same_tasks(info, self.task_set.names)
            shape = json.loads(json.dumps(dataclasses.asdict(self.model_shape)))
            check_restorable(info, self.algo_class.__name__, shape)

    def resolve_paths(self, base: str | Path | None = None) -> Self:
        """Makes the `PATH_KEYS` paths absolute, relative to `base` (default: the cwd).

        Tune runs each trial in its own folder: a relative path given on the
        command line must be taken from where the user ran it.
        """
        root = Path(base or Path.cwd())

        def absolute(path: str | Path) -> str:
            return str(root / Path(path).expanduser())

        for key in self.PATH_KEYS:
            value = getattr(self, key)
            if isinstance(value, dict):
                setattr(self, key, {k: absolute(v) for k, v in value.items()})
            elif isinstance(value, (str, Path)):
                setattr(self, key, absolute(value))
        return self

    def restore(self, checkpoint: str | Path | None) -> Self:
        """Starts the run from `checkpoint` (an mtrl-ray checkpoint of the same tasks).

        Weights, optimizer state, normalization statistics and step counters
        continue from it; a relative path is taken from the current directory.
        """
        self.restore_from = None if checkpoint is None else str(Path(checkpoint).resolve())
        return self

    def _validate_task_loss_weights(self) -> None:
        """`task_loss_weights` names only tasks of the TaskSet."""
        unknown = set(getattr(self, "task_loss_weights", None) or {}) - set(self.task_set.names)
        if unknown:
            self._value_error(f"task_loss_weights for tasks not in the TaskSet: {sorted(unknown)}")

    def _refuse(self, algorithm: str, knobs: dict[str, str]) -> None:
        """A ValueError for the first knob that is set (truthy) but `algorithm` ignores.

        Args:
            algorithm: The algorithm's name, for the message.
            knobs: {attribute: why it has no effect}; the attribute may be absent
                (e.g. a key `--config` set on a config that does not define it).
        """
        for name, why in knobs.items():
            if getattr(self, name, None):
                self._value_error(f"{algorithm} does not support {name} ({why}); unset it")

    @property
    def model_shape(self) -> MultiTaskModelConfig:
        """The module's shape: this experiment's tasks, plus `rl_module(model_config=)`.

        The user's `model_config` keys (e.g. `{"initial_log_std": -1.0}`) are fields of
        `MultiTaskModelConfig`; the tasks always come from the TaskSet (a `tasks` key,
        as in a checkpoint's full model config, must name the same tasks), and so do
        their body families and own sizes (`families`, `task_obs_dims`, `task_act_dims`).

        Raises:
            ValueError: A key that is not a field (RLlib's `fcnet_hiddens` and the like
                would otherwise be ignored without a word), or other `tasks`.
        """
        return MultiTaskModelConfig.from_user(
            self._user_model_config(), tasks=self.task_set.names, **self._task_shape_keys()
        )

    #: Whether the algorithm trains task sets that mix body families.
    MIXED_FAMILIES: bool = True

    def _task_shape_keys(self) -> dict:
        """The model config's per-task sizes: set when the tasks span several families.

        Raises:
            ValueError: Mixed families for an algorithm that cannot train them.
        """
        shapes = task_shapes(self.task_set.names)
        if not shapes.mixed:
            return {"families": None, "task_obs_dims": None, "task_act_dims": None}
        if not self.MIXED_FAMILIES:
            raise ValueError(
                f"{self.algo_class.__name__} cannot train tasks of several body families "
                f"({', '.join(dict.fromkeys(shapes.families))}): use A2C or PPO"
            )
        return {"families": shapes.families, "task_obs_dims": shapes.obs_dims,
                "task_act_dims": shapes.act_dims}  # fmt: skip

    def update_from_dict(self, config_dict: dict) -> Self:
        """RLlib's, plus a `model_config` key (merged into the module's model config).

        RLlib's own `update_from_dict` cannot set `model_config` (a read-only property),
        so `--config '{"model_config": {"initial_log_std": -1}}'` and a YAML example's
        `model_config:` go through `rl_module`, updating what the example set.
        """
        config_dict = dict(config_dict)
        model_config = config_dict.pop("model_config", None)
        super().update_from_dict(config_dict)
        if model_config is not None:
            if not isinstance(model_config, dict):
                raise ValueError(f"model_config must be a mapping, got {model_config!r}")
            self.rl_module(model_config={**self._user_model_config(), **model_config})
        return self

    def _user_model_config(self) -> dict:
        """The dict given to `rl_module(model_config=...)` (empty if none)."""
        user = compat.user_model_config(self)
        return dict(user) if isinstance(user, dict) else dataclasses.asdict(user)
