"""One optimizer step as RLlib's TorchLearner takes it, without its per-call plumbing.

A2C's cycle (one step per task) and PPO's fast minibatch loop (one step per
minibatch) run their own step loops; each step is this: backward, RLlib's gradient
clipping (the global norm in one fused call), non-finite gradients zeroed, the
optimizer's step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from ray.rllib.utils.torch_utils import clip_gradients as rllib_clip_gradients


def clip_gradients(
    gradients_dict: Mapping[Any, torch.Tensor | None],
    *,
    grad_clip: float | None = None,
    grad_clip_by: str = "value",
) -> torch.Tensor | None:
    """RLlib's `clip_gradients`, with the global norm taken by one fused call.

    The same result as `ray.rllib.utils.torch_utils.clip_gradients` (scale by
    min(1, clip / (norm + 1e-6)); infinite norms count as 1e9), which takes 3 torch
    ops per gradient tensor to get the norm. Other modes go to RLlib's.
    """
    if grad_clip is None or grad_clip_by != "global_norm":
        return rllib_clip_gradients(gradients_dict, grad_clip=grad_clip, grad_clip_by=grad_clip_by)
    grads = [g for g in gradients_dict.values() if g is not None]
    if not grads:
        return torch.tensor(0.0)
    big = {"neginf": -10e8, "posinf": 10e8}
    norms = torch.stack(torch._foreach_norm(grads)).nan_to_num(**big)
    total = torch.linalg.vector_norm(norms).nan_to_num(**big)
    coefficient = torch.clamp(grad_clip / torch.clamp(total + 1e-6, min=grad_clip), max=1.0)
    torch._foreach_mul_(grads, coefficient)
    return total


def gradient_step(
    optimizer: torch.optim.Optimizer,
    params: list[torch.Tensor],
    loss: torch.Tensor,
    grad_clip: float | None,
    grad_clip_by: str = "global_norm",
    *,
    zero_non_finite: bool = True,
) -> torch.Tensor | None:
    """One optimizer step on `loss`, as RLlib's TorchLearner takes it.

    Gradients are clipped as RLlib's `postprocess_gradients` clips them (see
    `clip_gradients`); with `zero_non_finite` (RLlib's default,
    `torch_skip_nan_gradients=False`), if any is not finite, NaNs become 0 and
    infinities the largest float.

    Returns:
        What the clip function returns (for "global_norm": the norm before clipping;
        None when nothing was clipped or nothing trains).
    """
    if loss.grad_fn is None:  # every parameter the loss reaches is frozen
        return None
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    norm = clip_gradients(dict(enumerate(grads)), grad_clip=grad_clip, grad_clip_by=grad_clip_by)
    if zero_non_finite and not torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
        for g in grads:
            torch.nan_to_num_(g)
    optimizer.step()
    return norm
