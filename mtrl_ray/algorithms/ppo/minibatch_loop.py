"""PPO's epochs of minibatch steps, in a loop of its own (the fast path's learner).

RLlib's `Learner.update` slices the train batch into `SampleBatch` minibatches
(`MiniBatchCyclicIterator`) and runs its whole per-update path on each: dispatch
over the MultiRLModule, the loss (plus, here, the per-task loss again for the
metrics), gradients collected into a dict, a finiteness check per parameter tensor,
per-minibatch metrics. `run_epochs` does what that path computes (forward, the loss,
backward, RLlib's clipping, the optimizer step) on index-selected tensors, with the
per-task metrics of the last minibatch only (RLlib logs with window 1: the last
minibatch's values are what a result shows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from mtrl_ray.algorithms.gradient_step import gradient_step


def minibatch_order(
    num_rows: int,
    minibatch_size: int | None,
    num_epochs: int,
    *,
    shuffle: bool,
    rng: Any = np.random,
) -> Iterator[torch.Tensor]:
    """Row indices of each minibatch, as RLlib's cyclic iterator counts them.

    ceil(num_epochs x rows / minibatch_size) minibatches, all of `minibatch_size`
    rows, cut in order from a stream of passes over the batch (the last minibatch
    may run into one more pass, as RLlib's does). Without `shuffle` each pass is the
    batch in order: exactly RLlib's minibatches. With it each pass is a fresh
    permutation (drawn from numpy's global generator, which RLlib seeds per learner,
    as its own shuffle does); RLlib leaves its first pass in sampling order, where
    minibatches hold one task each, and shuffles the later ones.

    Args:
        num_rows: Rows in the train batch.
        minibatch_size: Rows per minibatch (None: the whole batch, once per epoch).
        num_epochs: Passes over the batch.
        shuffle: A new random order for each pass.
        rng: Source of the permutations (`np.random` or a `np.random.Generator`).
    """
    size = minibatch_size or num_rows
    count = math.ceil(num_epochs * num_rows / size)
    passes = math.ceil(count * size / num_rows)
    stream = np.concatenate(
        [rng.permutation(num_rows) if shuffle else np.arange(num_rows) for _ in range(passes)]
    )
    indices = torch.from_numpy(stream)
    for i in range(count):
        yield indices[i * size : (i + 1) * size]


def run_epochs(
    batch: dict[str, torch.Tensor],
    order: Iterator[torch.Tensor],
    loss_fn: Callable[[dict[str, torch.Tensor], bool], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    config: Any,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One optimizer step per minibatch of `order`.

    Args:
        batch: The train batch (one module's), column -> tensor with a row per sample.
        order: Each minibatch's row indices (`minibatch_order`).
        loss_fn: (minibatch, whether it is the last) -> the loss to minimize; on the
            last minibatch it also logs the metrics.
        optimizer: The module's optimizer.
        config: The module's config (`grad_clip`, `grad_clip_by`,
            `torch_skip_nan_gradients`).

    Returns:
        The last minibatch's loss (detached) and its gradient norm before clipping
        (None unless clipped by global norm).
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    columns = {k: v for k, v in batch.items() if torch.is_tensor(v) and v.ndim > 0}
    minibatches = list(order)
    loss = norm = None
    for i, rows in enumerate(minibatches):
        last = i == len(minibatches) - 1
        minibatch = {k: v.index_select(0, rows) for k, v in columns.items()}
        loss = loss_fn(minibatch, last)
        norm = gradient_step(
            optimizer,
            params,
            loss,
            config.grad_clip,
            config.grad_clip_by,
            zero_non_finite=not config.torch_skip_nan_gradients,
        )
    return (None if loss is None else loss.detach()), norm
