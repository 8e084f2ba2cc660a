"""Per-task running mean/std observation normalization, held as module buffers.

Keeping the statistics inside the RLModule (as buffers, not parameters) gives the
properties multi-task training needs without extra plumbing: they travel with every
weight broadcast (so training and evaluation runners normalize with the same
statistics), they are saved in every checkpoint, and they are kept per task, because
the morphologies' observation distributions differ. Only the learner updates them,
from the observations of each task's own samples, so statistics are merged across
the runners of the same task and never across tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from torch import nn

from mtrl_ray.columns import TASK_ID


class TaskObservationNormalizer(nn.Module):
    """Running mean/variance per task; normalizes and clips observations.

    The update is the parallel (Chan et al.) merge of batch moments into running
    moments, as in baselines' `RunningMeanStd` that the paper's code used.
    """

    # Buffers (registered in __init__), typed for type checkers.
    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, num_tasks: int, obs_dim: int, clip: float = 5.0, eps: float = 1e-8):
        super().__init__()
        self.clip = clip
        self.eps = eps
        self.register_buffer("mean", torch.zeros(num_tasks, obs_dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(num_tasks, obs_dim, dtype=torch.float64))
        # Starts at 0: until a task has data its observations pass through unscaled.
        self.register_buffer("count", torch.zeros(num_tasks, dtype=torch.float64))

    def forward(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """Returns clip((obs - mean[task]) / sqrt(var[task] + eps), ±clip)."""
        mean = self.mean[task_id].to(obs.dtype)
        std = torch.sqrt(self.var[task_id] + self.eps).to(obs.dtype)
        return torch.clamp((obs - mean) / std, -self.clip, self.clip)

    @torch.no_grad()
    def update(self, obs: torch.Tensor, task_id: torch.Tensor) -> None:
        """Merges the moments of `obs` into each sample's task statistics.

        Args:
            obs: (B, obs_dim) raw observations.
            task_id: (B,) task ids.
        """
        obs = obs.to(torch.float64)
        num_tasks = self.mean.shape[0]
        # Per-task sums with index_add (batched over tasks, no loop over samples).
        n = torch.zeros(num_tasks, dtype=torch.float64, device=obs.device)
        n.index_add_(0, task_id, torch.ones_like(task_id, dtype=torch.float64))
        s1 = torch.zeros_like(self.mean).index_add_(0, task_id, obs)
        present = n > 0
        batch_mean = s1 / n.clamp(min=1).unsqueeze(1)
        centered = obs - batch_mean[task_id]
        batch_var = torch.zeros_like(self.var).index_add_(0, task_id, centered * centered)
        batch_var = batch_var / n.clamp(min=1).unsqueeze(1)

        total = self.count + n
        delta = batch_mean - self.mean
        w_new = (n / total.clamp(min=1)).unsqueeze(1)
        new_mean = self.mean + delta * w_new
        m2 = (
            self.var * self.count.unsqueeze(1)
            + batch_var * n.unsqueeze(1)
            + delta * delta * (self.count * n / total.clamp(min=1)).unsqueeze(1)
        )
        new_var = m2 / total.clamp(min=1).unsqueeze(1)
        rows = present.unsqueeze(1)
        self.mean.copy_(torch.where(rows, new_mean, self.mean))
        self.var.copy_(torch.where(rows, new_var, self.var))
        self.count.copy_(total)


@torch.no_grad()
def update_observation_statistics(modules: Any, batches: Mapping[str, Any]) -> None:
    """Merges each sample's observation into its task's normalizer statistics.

    Args:
        modules: The learner's MultiRLModule.
        batches: Module id -> train batch with `obs`, `task_id` and (after PPO's
            bootstrap timestep) `loss_mask` columns.
    """
    for module_id, module_batch in batches.items():
        normalizer = getattr(modules[module_id].unwrapped(), "obs_normalizer", None)
        if normalizer is None:
            continue
        obs = torch.as_tensor(module_batch[Columns.OBS])
        task_ids = torch.as_tensor(module_batch[TASK_ID], device=obs.device).reshape(-1).long()
        if Columns.LOSS_MASK in module_batch:
            # The appended bootstrap row holds a chunk's final observation, on which
            # no action was taken here (the next chunk, if any, counts it): skip it,
            # and nothing else.
            keep = torch.as_tensor(module_batch[Columns.LOSS_MASK], device=obs.device).bool()
            obs, task_ids = obs[keep], task_ids[keep]
        normalizer.update(obs, task_ids)
