"""The shape of the multi-head actor-critic: layer sizes, sharing, and its tasks' shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: What the first shared layer is when the tasks span several body families.
INPUT_LAYERS = ("task", "family", "shared")


@dataclass(frozen=True)
class MultiTaskModelConfig:
    """Shape of the multi-head actor-critic.

    Attributes:
        tasks: Task names in head order (the TaskSet); len(tasks) heads.
        actor_hiddens: Hidden layer sizes of the actor (paper: 2 x 64).
        critic_hiddens: Hidden layer sizes of the critic (paper: 2 x 64 + output).
        actor_shared_layers: How many of `actor_hiddens` all tasks share (paper: 2).
        critic_shared_layers: How many of `critic_hiddens` all tasks share (paper: 1).
        obs_clip: Normalized observations are clipped to +-obs_clip (paper's code: 5).
        normalize_observations: Whether to normalize observations per task.
        initial_log_std: Initial log standard deviation of every Gaussian head.
        critic: Whether the module has a critic (a distillation student has none).
        input_layer: With tasks of several body families, what the first shared
            layer of actor and critic (the one reading observations) is: "task"
            (one per task), "family" (one per body family) or "shared" (one for
            all, over the zero-padded observations). Without, it is ignored.
        families: Each task's body family, if the tasks span several (set from
            the TaskSet, not by users; None: one family, no padding).
        task_obs_dims: Each task's own observation size (with `families`).
        task_act_dims: Each task's own action size (with `families`).
    """

    tasks: tuple[str, ...] = ("HalfCheetahSmallFoot-v0",)
    actor_hiddens: tuple[int, ...] = (64, 64)
    critic_hiddens: tuple[int, ...] = (64, 64)
    actor_shared_layers: int = 2
    critic_shared_layers: int = 1
    obs_clip: float = 5.0
    normalize_observations: bool = True
    initial_log_std: float = 0.0
    critic: bool = True
    input_layer: str = "task"
    families: tuple[str, ...] | None = None
    task_obs_dims: tuple[int, ...] | None = None
    task_act_dims: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.input_layer not in INPUT_LAYERS:
            raise ValueError(f"input_layer must be one of {INPUT_LAYERS}, got {self.input_layer!r}")
        per_task = (self.families, self.task_obs_dims, self.task_act_dims)
        if any(v is not None and len(v) != len(self.tasks) for v in per_task):
            raise ValueError("families, task_obs_dims and task_act_dims need one entry per task")
        for name, hiddens, shared in (
            ("actor", self.actor_hiddens, self.actor_shared_layers),
            ("critic", self.critic_hiddens, self.critic_shared_layers),
        ):
            if not 0 <= shared <= len(hiddens):
                raise ValueError(
                    f"{name}_shared_layers={shared} must be in [0, {len(hiddens)}] "
                    f"for {name}_hiddens={list(hiddens)}"
                )

    @property
    def mixed(self) -> bool:
        """Whether the tasks span several body families (padded spaces, masked actions)."""
        return self.families is not None

    @property
    def encoder_rows(self) -> tuple[int, ...] | None:
        """Row of the per-task/per-family input layer each task uses (None: no such layer)."""
        families = self.families
        if families is None or self.input_layer == "shared":
            return None
        if self.input_layer == "task":
            return tuple(range(len(self.tasks)))
        names = list(dict.fromkeys(families))
        return tuple(names.index(f) for f in families)

    def task_sizes(self, observation_space: Any, action_space: Any) -> dict[str, tuple[int, int]]:
        """Each task's own (observation, action) sizes, given the module's spaces."""
        if not self.mixed:
            size = (int(observation_space.shape[0]), int(action_space.shape[0]))
            return dict.fromkeys(self.tasks, size)
        # Set together with `families` (PinnedTasksConfig's task shapes).
        assert self.task_obs_dims is not None and self.task_act_dims is not None
        return dict(zip(self.tasks, zip(self.task_obs_dims, self.task_act_dims, strict=True),
                        strict=True))  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiTaskModelConfig:
        """Builds the config from an RLlib `model_config` dict (unknown keys ignored)."""
        fields = cls.__dataclass_fields__
        kwargs: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields
        }
        return cls(**kwargs)

    @classmethod
    def from_user(cls, user: dict[str, Any], **fixed: Any) -> MultiTaskModelConfig:
        """Builds the config from a user's `model_config` plus the experiment's `fixed` keys.

        A user key may repeat a fixed one with the same value (a checkpoint's full
        model config does, e.g. its `tasks`).

        Raises:
            ValueError: A user key that is not a field, or that contradicts a fixed key.
        """
        fields = set(cls.__dataclass_fields__)
        unknown = sorted(set(user) - fields)
        if unknown:
            raise ValueError(
                f"unknown model_config key(s) {', '.join(unknown)}; the multi-task module "
                f"takes {', '.join(sorted(fields - set(fixed)))}"
            )
        for key in set(user) & set(fixed):
            value = tuple(user[key]) if isinstance(user[key], list) else user[key]
            if value != fixed[key]:
                raise ValueError(
                    f"model_config {key}={user[key]!r} contradicts this experiment's "
                    f"{key}={fixed[key]!r}"
                )
        return cls.from_dict({**user, **fixed})
