"""Fine-tuning a module from a checkpoint: which parameters train, and copying weights in.

The paper's fine-tuning baseline copies a network trained on E1 and trains only
the last layer of the actor and of the critic on E2. Here that is `trainable="last"`;
`"heads"` trains every per-task layer (the trunks stay frozen) and `"all"` trains
everything. A module for other tasks than the checkpoint's takes each task's head
from the checkpoint's head of the same task, else from a chosen source head, else
keeps its fresh initialization (a new head).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: What `trainable` can say.
TRAINABLE = ("last", "heads", "all")
#: Parameters and buffers holding one row per task (the rest is shared by all tasks).
PER_TASK_PREFIXES = ("actor_heads.", "critic_heads.", "log_std", "obs_normalizer.")
_LAST = ("actor_heads.out.", "critic_heads.out.", "log_std")
_HEADS = ("actor_heads.", "critic_heads.", "log_std")


def trainable_parameter_names(module: nn.Module, trainable: str) -> set[str]:
    """Names of the parameters that train under `trainable` ("last", "heads", "all").

    "last": the actor's mean output layer, its log-std, and the critic's output layer.
    """
    if trainable not in TRAINABLE:
        raise ValueError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
    names = {name for name, _ in module.named_parameters()}
    if trainable == "all":
        return names
    prefixes = _LAST if trainable == "last" else _HEADS
    return {name for name in names if name.startswith(prefixes)}


def head_sources(
    source_tasks: Sequence[str], target_tasks: Sequence[str], source_head: str | None
) -> list[int | None]:
    """For each target task, the checkpoint head it starts from (None: a fresh head)."""
    sources = []
    for task in target_tasks:
        if task in source_tasks:
            sources.append(list(source_tasks).index(task))
        elif source_head is not None:
            sources.append(list(source_tasks).index(source_head))
        else:
            sources.append(None)
    return sources


@torch.no_grad()
def load_fine_tune_start(
    module: nn.Module, source: dict[str, torch.Tensor], sources: Sequence[int | None]
) -> None:
    """Copies checkpoint tensors into `module`: shared ones whole, per-task ones by row.

    Per-task rows (heads, log-stds, normalization statistics) of target task i come
    from checkpoint row `sources[i]`; a None keeps the module's own (fresh) row.
    Tensors the checkpoint lacks (a critic, if it had none) stay as initialized.
    """
    for name, tensor in module.state_dict().items():
        if name not in source:
            continue
        value = source[name].to(tensor.dtype)
        if not name.startswith(PER_TASK_PREFIXES):
            if value.shape != tensor.shape:
                raise ValueError(f"{name}: checkpoint shape {tuple(value.shape)}, "
                                 f"module {tuple(tensor.shape)}")  # fmt: skip
            tensor.copy_(value)
            continue
        for row, src in enumerate(sources):
            if src is not None:
                tensor[row].copy_(value[src])
