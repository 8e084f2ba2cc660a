"""PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning") for shared trunks.

Where two tasks' gradients on the shared parameters conflict (negative inner
product), each loses its component along the other's before they are summed, so
one task's step does not undo another's. Per-task parameters (heads, log-stds)
keep their plain gradients: only their own task's loss reaches them anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtrl_ray.modules.fine_tuning import per_task_prefixes


def project_conflicting(
    grads: list[torch.Tensor], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Sums per-task flat gradients after PCGrad's projections.

    For each task i, in a random order of the other tasks j: if g_i . g_j < 0,
    g_i <- g_i - (g_i . g_j) / |g_j|^2 g_j, where g_j is task j's original gradient.

    Args:
        grads: One flat gradient per task, all the same shape.
        generator: Random source for the order of the other tasks.

    Returns:
        The sum of the projected gradients.
    """
    projected = []
    for i, g_i in enumerate(grads):
        g = g_i.clone()
        for j in torch.randperm(len(grads), generator=generator).tolist():
            if j == i:
                continue
            dot = torch.dot(g, grads[j])
            if dot < 0:
                g = g - dot / torch.dot(grads[j], grads[j]).clamp_min(1e-20) * grads[j]
        projected.append(g)
    return torch.stack(projected).sum(0)


def shared_parameters(module: torch.nn.Module) -> list[torch.Tensor]:
    """The trainable parameters all tasks share (trunks; not heads, log-stds, statistics)."""
    per_task = per_task_prefixes(module)
    return [
        p
        for name, p in module.named_parameters()
        if p.requires_grad and not name.startswith(per_task)
    ]


def pcgrad_loss(
    total: torch.Tensor,
    shares: Sequence[torch.Tensor],
    shared: Sequence[torch.Tensor],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`total`, with PCGrad's combination of the shares' gradients as its gradient on `shared`.

    The value is `total`'s: the added term sum((c - g) * (p - p.detach())) is 0
    (for finite gradients), and its gradient on each shared parameter p is c - g, where g is the
    plain gradient (the sum of the shares' gradients, i.e. `total`'s) and c the
    PCGrad combination. A plain backward of the result then leaves c on the shared
    parameters (up to rounding) and the plain gradient on every other one.

    Args:
        total: The loss; the sum of `shares`.
        shares: One part of the loss per task (`TaskLosses.shares`).
        shared: The parameters to operate on (`shared_parameters(module)`).
        generator: Random source for PCGrad's order of the other tasks.
    """
    if len(shares) < 2 or not shared:
        return total  # one task: nothing can conflict
    flat = [
        torch.cat([g.reshape(-1) for g in torch.autograd.grad(s, shared, retain_graph=True)])
        for s in shares
    ]
    correction = (project_conflicting(flat, generator) - torch.stack(flat).sum(0)).detach()
    offset, surrogate = 0, total.new_zeros(())
    for p in shared:
        c = correction[offset : offset + p.numel()].view_as(p)
        surrogate = surrogate + (c * (p - p.detach())).sum()
        offset += p.numel()
    return total + surrogate
