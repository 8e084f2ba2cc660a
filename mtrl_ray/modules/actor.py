"""The actor: normalized observations -> each sample's task Gaussian, in torch or numpy.

One definition of the policy network, used wherever the project acts: the module's
forward (`MultiTaskActorCritic.policy_parameters`), the runners' numpy fast path
(`Actor.numpy`, through `MultiTaskActorCritic.numpy_policy`) and APPO's target
policy (a frozen copy of the actor).

Layers: an input layer per task or body family (`encoder`, across body families
only), the shared hidden layers (`trunk`), then per task the remaining hidden layers
and the mean output (`heads`), and a per-task log-std row (`log_std`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer
from mtrl_ray.modules.task_layers import TaskLinear, TaskMLP, trunk_features


class Actor(nn.Module):
    """The multi-task Gaussian policy network.

    Args:
        encoder: The input layer per task or family (None: the trunk reads observations).
        trunk: The hidden layers shared by all tasks (tanh after each).
        heads: Per task, the remaining hidden layers and the mean output.
        log_std: (num_tasks, act_dim) initial log-std rows.
        encoder_rows: (num_tasks,) each task's `encoder` row (with an encoder).
        action_mask: (num_tasks, act_dim) 0/1 mask of each task's own action dims,
            across body families (None: every task has every dim).
    """

    # Constants of a cross-family module (derived from its config, never saved).
    encoder_rows: torch.Tensor | None
    action_mask: torch.Tensor | None

    def __init__(
        self,
        encoder: TaskLinear | None,
        trunk: nn.Sequential,
        heads: TaskMLP,
        log_std: torch.Tensor,
        encoder_rows: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if (encoder is None) != (encoder_rows is None):
            raise ValueError("an encoder needs its rows (encoder_rows), and rows an encoder")
        self.log_std = nn.Parameter(log_std)
        self.encoder = encoder
        self.trunk = trunk
        self.heads = heads
        self.register_buffer("encoder_rows", encoder_rows, persistent=False)
        self.register_buffer("action_mask", action_mask, persistent=False)

    def forward(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """(B, 2 * act_dim): Gaussian mean and log-std of each sample's task.

        With an action mask, (B, 3 * act_dim): mean and log-std, 0 on the dims the
        row's task lacks, and the 0/1 mask of its own dims (see `MaskedDiagGaussian`).

        Args:
            obs: (B, obs_dim) normalized observations.
            task_id: (B,) int64 task ids.
        """
        features = trunk_features(self.encoder, self.encoder_rows, self.trunk, obs, task_id)
        mean, log_std = self.heads(features, task_id), self.log_std[task_id]
        if self.action_mask is None:
            return torch.cat([mean, log_std], dim=-1)
        mask = self.action_mask[task_id]
        return torch.cat([mean * mask, log_std * mask, mask], dim=-1)

    def numpy(
        self, task_id: int, normalizer: TaskObservationNormalizer | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """`forward` for one task, in numpy, reading this actor's tensors in place.

        The returned function reads the parameters (and the normalizer's statistics)
        through shared-memory views, so it sees every later in-place update (RLlib's
        `set_state` copies in place). It computes `forward` in the same float32
        steps, equal to it to within float rounding (~1e-6). See
        `MultiTaskActorCritic.numpy_policy` for why numpy.

        Args:
            task_id: The task (head) to act for.
            normalizer: Normalizes the observations first, as the module does
                (inside the one function: no extra call a step). None: the function
                takes normalized observations.

        Returns:
            obs (B, obs_dim) -> (B, 2 * act_dim) float32 Gaussian mean and log-std
            (with an action mask (B, 3 * act_dim), as `forward`).
        """
        head = self.numpy_head(task_id, normalizer)
        return lambda obs: head.dist_inputs(head.mean(obs))

    def numpy_head(
        self, task_id: int, normalizer: TaskObservationNormalizer | None = None
    ) -> NumpyGaussianHead:
        """One task's Gaussian in numpy, in parts: what `numpy` computes at once.

        A sampling loop computes only the mean at each step and takes the
        log-std and mask as they are (the same rows for every observation of the
        task), building the distribution inputs once for all steps.

        Args:
            task_id: The task (head) to act for.
            normalizer: As for `numpy`.
        """
        t = task_id

        def view(x: torch.Tensor) -> np.ndarray:
            return x.detach().numpy()

        layers: list[tuple[np.ndarray, np.ndarray]] = []  # each x -> tanh(x @ W + b)
        if self.encoder is not None and self.encoder_rows is not None:  # TaskLinear: x W + b
            row = int(self.encoder_rows[t])
            layers.append((view(self.encoder.weight)[row], view(self.encoder.bias)[row]))
        shared = [m for m in self.trunk if isinstance(m, nn.Linear)]
        layers += [(view(m.weight).T, view(m.bias)) for m in shared]  # nn.Linear: x W^T + b
        own = [m for m in self.heads.hidden if isinstance(m, TaskLinear)]
        layers += [(view(m.weight)[t], view(m.bias)[t]) for m in own]  # TaskLinear: x W + b
        out_w, out_b = view(self.heads.out.weight)[t], view(self.heads.out.bias)[t]
        mask = None if self.action_mask is None else view(self.action_mask)[t]
        if normalizer is not None:
            mean, var = view(normalizer.mean)[t], view(normalizer.var)[t]
            eps, clip = normalizer.eps, normalizer.clip

        def gaussian_mean(obs: np.ndarray) -> np.ndarray:
            x = obs.astype(np.float32)
            if normalizer is not None:
                std = np.sqrt(var + eps).astype(np.float32)
                # minimum(maximum()): np.clip's own overhead is ~2x theirs at this size.
                x = np.minimum(np.maximum((x - mean.astype(np.float32)) / std, -clip), clip)
            for w, b in layers:
                x = x @ w
                x += b
                np.tanh(x, out=x)
            mu = x @ out_w
            mu += out_b
            return mu if mask is None else mu * mask

        return NumpyGaussianHead(gaussian_mean, view(self.log_std)[t], mask)


@dataclass(frozen=True)
class NumpyGaussianHead:
    """One task's Gaussian policy in numpy (`Actor.numpy_head`), reading the actor in place.

    Attributes:
        mean: obs (B, obs_dim) -> (B, act_dim) float32 means (0 on the dims the task
            lacks, across body families).
        log_std: (act_dim,) the task's log-std row (a view: it follows `set_state`).
        mask: (act_dim,) 0/1 float mask of the task's own action dims, or None.
    """

    mean: Callable[[np.ndarray], np.ndarray]
    log_std: np.ndarray
    mask: np.ndarray | None

    def dist_inputs(self, mean: np.ndarray) -> np.ndarray:
        """(B, 2 * act_dim) [mean, log-std] of `mean`'s rows (masked: (B, 3 * act_dim)
        [mean, log-std, mask], each 0 past the task's dims), as `Actor.forward`."""
        act_dim = len(self.log_std)
        if self.mask is None:  # filled in place: broadcast_to costs more than the layer
            out = np.empty((len(mean), 2 * act_dim), dtype=np.float32)
            out[:, :act_dim], out[:, act_dim:] = mean, self.log_std
            return out
        parts = [mean, self.log_std * self.mask, self.mask]
        return np.concatenate([np.broadcast_to(p, mean.shape) for p in parts], axis=-1)
