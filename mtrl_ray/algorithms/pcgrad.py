"""PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning") for shared trunks.

Where two tasks' gradients on the shared parameters conflict (negative inner
product), each loses its component along the other's before they are summed, so
one task's step does not undo another's. Per-task parameters (heads, log-stds)
keep their plain gradients: only their own task's loss reaches them anyway.
"""

from __future__ import annotations

from typing import Any

import torch

from mtrl_ray.modules.fine_tuning import PER_TASK_PREFIXES


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


class PCGradLearner:
    """TorchLearner mixin: PCGrad on the shared parameters when `config.pcgrad` is on.

    The loss function stores each task's share of the loss (they sum to the total)
    in `self.task_losses[module_id]`; here the shared parameters' gradient is
    replaced by the PCGrad combination of the per-task gradients.
    """

    task_losses: dict[Any, list[torch.Tensor]]

    def compute_gradients(self, loss_per_module: dict[Any, torch.Tensor], **kwargs) -> Any:
        surgery = {}
        for module_id, losses in getattr(self, "task_losses", {}).items():
            if len(losses) < 2:
                continue  # one task: nothing can conflict
            module = self.module[module_id].unwrapped()
            shared = [
                p
                for name, p in module.named_parameters()
                if p.requires_grad and not name.startswith(PER_TASK_PREFIXES)
            ]
            # Per-task gradients first: the total loss's backward frees the graph.
            flat = [
                torch.cat(
                    [g.reshape(-1) for g in torch.autograd.grad(loss, shared, retain_graph=True)]
                )
                for loss in losses
            ]
            surgery[module_id] = (shared, project_conflicting(flat))
        self.task_losses = {}
        grads = super().compute_gradients(loss_per_module, **kwargs)
        for shared, combined in surgery.values():
            offset = 0
            for p in shared:
                p.grad.copy_(combined[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        return grads
