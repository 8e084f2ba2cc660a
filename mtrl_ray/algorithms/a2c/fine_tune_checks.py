"""What a fine-tuning start from a checkpoint needs: its source heads, and across body families."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mtrl_ray.checkpoints import CheckpointError, CheckpointInfo
from mtrl_ray.envs import task_shapes
from mtrl_ray.envs.families import canonical_task_name
from mtrl_ray.modules.fine_tuning import SourceHeads, source_head_of
from mtrl_ray.modules.model_config import MultiTaskModelConfig


def canonical_source_heads(value: Any) -> SourceHeads:
    """`fine_tune_source_head` (a head name, {new task: head}, or None), names canonical.

    Raises:
        ValueError: Another kind of value, or an unknown task name.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return canonical_task_name(value)
    if isinstance(value, Mapping) and all(isinstance(n, str) for kv in value.items() for n in kv):
        mapping = {canonical_task_name(k): canonical_task_name(v) for k, v in value.items()}
        if len(mapping) < len(value):
            raise ValueError(f"fine_tune_source_head names a task twice: {value!r}")
        return mapping
    raise ValueError(
        "fine_tune_source_head must be a checkpoint head or a mapping {new task: "
        f"checkpoint head}}, got {value!r}"
    )


def check_source_heads(sources: SourceHeads, new_tasks: list[str], info: CheckpointInfo) -> None:
    """Every chosen source head is a head of the checkpoint; a mapping's keys are new tasks."""
    if isinstance(sources, Mapping):
        if stray := [task for task in sources if task not in new_tasks]:
            raise CheckpointError(
                f"fine_tune_source_head maps {stray[0]}, not a new task (one that "
                f"{info.path} has no head for: {', '.join(new_tasks) or 'none'})"
            )
    for head in sources.values() if isinstance(sources, Mapping) else [sources]:
        if head is not None and head not in info.tasks:
            raise CheckpointError(
                f"fine-tune checkpoint {info.path} has no head {head} (its tasks: "
                f"{', '.join(info.tasks)})"
            )


def check_fine_tune_families(config: Any, info: CheckpointInfo) -> None:
    """Across body families: the same input-layer layout, source heads of fitting sizes.

    A single-family checkpoint's first layer is shared over its family's
    observations: it starts a cross-family module only with
    `input_layer="shared"`. A new task starts from its `fine_tune_source_head` (one
    head for all new tasks, or {new task: head}) only if their sizes match; with
    per-family input layers a new task's family must be in the checkpoint unless the
    input layers train (`trainable="all"`).
    """
    ours, theirs = config.model_shape, MultiTaskModelConfig.from_dict(info.model_config)

    def layout(cfg: MultiTaskModelConfig) -> str:
        return cfg.input_layer if cfg.mixed else "shared"

    if theirs.families is not None and not ours.mixed:
        raise CheckpointError(
            f"fine-tune checkpoint {info.path} spans body families ({', '.join(theirs.families)}):"
            " it starts only a module across families (add a task of another family)"
        )
    if not ours.mixed and info.observation_shape is not None and info.action_shape is not None:
        padded = (info.observation_shape[0], info.action_shape[0])
        own = (_own_sizes(ours)[0][0], _own_sizes(ours)[1][0])
        if own != padded:
            raise CheckpointError(
                f"fine-tune checkpoint {info.path} has observation/action sizes "
                f"{padded[0]}/{padded[1]}, this experiment's tasks {own[0]}/{own[1]}"
            )
    if ours.mixed and layout(ours) != layout(theirs):
        raise CheckpointError(
            f"fine-tune checkpoint {info.path} has input layer '{layout(theirs)}', this "
            f"experiment '{layout(ours)}': set model_config input_layer to match"
        )
    sizes = dict(zip(ours.tasks, zip(*_own_sizes(ours), strict=True), strict=True))
    new_tasks = [task for task in ours.tasks if task not in info.tasks]
    sources = canonical_source_heads(config.fine_tune_source_head)
    check_source_heads(sources, new_tasks, info)
    for task in new_tasks:
        head = source_head_of(task, sources)
        if head is not None and sizes[task] != info.task_sizes[head]:
            raise CheckpointError(
                f"source head {head} has sizes {info.task_sizes[head]}, task {task} "
                f"{sizes[task]}: pick a head of the same body"
            )
        family = ours.families[ours.tasks.index(task)] if ours.mixed else None
        new_family = theirs.families is None or family not in theirs.families
        trains_inputs = config.fine_tune_trainable == "all"
        if ours.mixed and ours.input_layer == "family" and new_family and not trains_inputs:
            raise CheckpointError(
                f"task {task}: its body family {family} has no input layer in "
                f"{info.path}, and fine_tune_trainable={config.fine_tune_trainable!r} "
                "freezes the per-family input layers: use input_layer='task' or 'all'"
            )


def _own_sizes(cfg: MultiTaskModelConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(observation sizes, action sizes) per task of a model config, from its tasks' envs."""
    if cfg.mixed:
        # Set together with `families` (PinnedTasksConfig's task shapes).
        assert cfg.task_obs_dims is not None and cfg.task_act_dims is not None
        return cfg.task_obs_dims, cfg.task_act_dims
    shapes = task_shapes(cfg.tasks)
    return shapes.obs_dims, shapes.act_dims
