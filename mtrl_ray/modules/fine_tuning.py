"""Fine-tuning a module from a checkpoint: which parameters train, and copying weights in.

The paper's fine-tuning baseline copies a network trained on E1 and trains only
the last layer of the actor and of the critic on E2. Here that is `trainable="last"`;
`"heads"` trains every per-task layer (the trunks stay frozen) and `"all"` trains
everything. A module for other tasks than the checkpoint's takes each task's head
from the checkpoint's head of the same task, else from a chosen source head (one for
all such tasks, or one per task), else keeps its fresh initialization (a new head).

Across body families, the input layers (`actor.encoder`, `critic_encoder`) are per-task
layers with `input_layer="task"` and shared ones with "family" (rows by family). The
padded sizes of checkpoint and module may differ (a new head of a bigger body): a row
(or a shared tensor) is copied over the leading block both have; the rest keeps its
initialization, which only padded dims of the checkpoint's tasks read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

#: What `trainable` can say.
TRAINABLE = ("last", "heads", "all")
#: Parameters and buffers holding one row per task (the rest is shared by all tasks).
PER_TASK_PREFIXES = ("actor.heads.", "critic_heads.", "actor.log_std", "obs_normalizer.")
#: The input layers of a cross-family module: one row per task or per family.
ENCODER_PREFIXES = ("actor.encoder.", "critic_encoder.")
_LAST = ("actor.heads.out.", "critic_heads.out.", "actor.log_std")
_HEADS = ("actor.heads.", "critic_heads.", "actor.log_std")
#: The checkpoint head(s) that tasks it lacks start from: one for all, or {task: head}.
SourceHeads = str | Mapping[str, str] | None


def per_task_prefixes(module: nn.Module) -> tuple[str, ...]:
    """`PER_TASK_PREFIXES`, plus the input layers if the module has one per task."""
    cfg = getattr(module, "cfg", None)
    if cfg is not None and cfg.mixed and cfg.input_layer == "task":
        return PER_TASK_PREFIXES + ENCODER_PREFIXES
    return PER_TASK_PREFIXES


def trainable_parameter_names(module: nn.Module, trainable: str) -> set[str]:
    """Names of the parameters that train under `trainable` ("last", "heads", "all").

    "last": the actor's mean output layer, its log-std, and the critic's output layer.
    "heads": every per-task layer (a per-task input layer too).
    """
    if trainable not in TRAINABLE:
        raise ValueError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
    names = {name for name, _ in module.named_parameters()}
    if trainable == "all":
        return names
    unwrap = getattr(module, "unwrapped", None)  # a wrapper's inner module
    unwrapped = unwrap() if unwrap is not None else module
    own_inputs = per_task_prefixes(unwrapped)[len(PER_TASK_PREFIXES) :]
    prefixes = _LAST if trainable == "last" else _HEADS + own_inputs
    return {name for name in names if name.startswith(prefixes)}


def source_head_of(task: str, source_head: SourceHeads) -> str | None:
    """The checkpoint head that `task` (one the checkpoint lacks) starts from (None: fresh)."""
    if isinstance(source_head, Mapping):
        return source_head.get(task)
    return source_head


def head_sources(
    source_tasks: Sequence[str],
    target_tasks: Sequence[str],
    source_head: SourceHeads,
    fits: Callable[[str, str], bool] | None = None,
) -> list[int | None]:
    """For each target task, the checkpoint head it starts from (None: a fresh head).

    Args:
        source_tasks: The checkpoint's tasks.
        target_tasks: The module's tasks.
        source_head: The head that tasks the checkpoint lacks start from, or
            {task: head} for some of them (the others get fresh heads).
        fits: (target task, source task) -> whether their sizes match; a new task
            whose sizes differ from its source head's gets a fresh head.
    """
    sources: list[int | None] = []
    for task in target_tasks:
        head = source_head_of(task, source_head)
        if task in source_tasks:
            sources.append(list(source_tasks).index(task))
        elif head is not None and (fits is None or fits(task, head)):
            sources.append(list(source_tasks).index(head))
        else:
            sources.append(None)
    return sources


def encoder_sources(
    source_rows: Sequence[int] | None, target_rows: Sequence[int], sources: Sequence[int | None]
) -> list[int | None]:
    """For each input-layer row of the module, the checkpoint row it starts from.

    Args:
        source_rows: The checkpoint's row per task (None: it has no input layers).
        target_rows: The module's row per task.
        sources: `head_sources` of the module's tasks.
    """
    rows: list[int | None] = [None] * (max(target_rows) + 1)
    for task, row in enumerate(target_rows):
        src = sources[task]
        if rows[row] is None and src is not None and source_rows is not None:
            rows[row] = source_rows[src]
    return rows


@torch.no_grad()
def load_fine_tune_start(
    module: nn.Module,
    source: dict[str, torch.Tensor],
    sources: Sequence[int | None],
    encoder_rows: Sequence[int | None] | None = None,
) -> None:
    """Copies checkpoint tensors into `module`: shared ones whole, per-task ones by row.

    Per-task rows (heads, log-stds, normalization statistics) of target task i come
    from checkpoint row `sources[i]`; a None keeps the module's own (fresh) row.
    Input-layer rows of a cross-family module come from `encoder_rows` (see
    `encoder_sources`). Tensors the checkpoint lacks (a critic, if it had none)
    stay as initialized. Padded sizes may differ (see the module docstring).
    """
    padded = bool(getattr(getattr(module, "cfg", None), "mixed", False))
    for name, tensor in module.state_dict().items():
        if name not in source:
            continue
        value = source[name].to(tensor.dtype)
        if name.startswith(ENCODER_PREFIXES):
            rows = encoder_rows or []
        elif name.startswith(PER_TASK_PREFIXES):
            rows = sources
        else:
            if value.shape != tensor.shape and not (padded and value.dim() == tensor.dim()):
                raise ValueError(f"{name}: checkpoint shape {tuple(value.shape)}, "
                                 f"module {tuple(tensor.shape)}")  # fmt: skip
            _copy_leading(tensor, value)
            continue
        for row, src in enumerate(rows):
            if src is not None:
                _copy_leading(tensor[row], value[src])


def _copy_leading(target: torch.Tensor, value: torch.Tensor) -> None:
    """Copies the leading block `target` and `value` both have (all of it if equal)."""
    block = tuple(slice(0, min(a, b)) for a, b in zip(target.shape, value.shape, strict=True))
    target[block].copy_(value[block])
