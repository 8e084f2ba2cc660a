"""A diagonal Gaussian over a task's own action dims of a padded action vector.

A module for task sets that mix body families acts in a padded action space (the
largest action size of its tasks). Its action-distribution inputs then have three
equal parts: mean, log-std and a 0/1 mask of the row's task's own action dims,
`[mean, log_std, mask]` (3 x act_dim). `MaskedDiagGaussian` sums log-probabilities,
entropies and KL divergences over the masked-in dims only, and samples 0 on the
others, so no padded dim reaches a loss (A2C's policy-gradient and entropy terms,
PPO's ratio, KL and entropy, the distillation KL) or an env. The module sets the
padded dims' mean and log-std to 0 (constants: no gradient reaches a parameter
through them). The mask is part of the inputs because RLlib builds distributions
from the inputs alone (`from_logits`), on the runners and in the learners.

A single-family module keeps RLlib's `TorchDiagGaussian` and two-part inputs.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian
from ray.rllib.utils.annotations import override


class MaskedDiagGaussian(TorchDiagGaussian):
    """`TorchDiagGaussian` whose log-prob, entropy, KL and samples ignore masked-out dims.

    Args:
        loc: (..., act_dim) means.
        scale: (..., act_dim) standard deviations.
        mask: (..., act_dim) bool, True on the row's own action dims.
    """

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, mask: torch.Tensor):
        super().__init__(loc=loc, scale=scale)
        self.mask = mask.bool()

    def _own(self, per_dim: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, per_dim, torch.zeros_like(per_dim)).sum(-1)

    @override(TorchDiagGaussian)
    def logp(self, value: torch.Tensor) -> torch.Tensor:
        return self._own(self._dist.log_prob(value))

    @override(TorchDiagGaussian)
    def entropy(self) -> torch.Tensor:
        return self._own(self._dist.entropy())

    @override(TorchDiagGaussian)
    def kl(self, other: TorchDiagGaussian) -> torch.Tensor:
        return self._own(torch.distributions.kl.kl_divergence(self._dist, other._dist))

    @override(TorchDiagGaussian)
    def sample(self, *, sample_shape=None) -> torch.Tensor:
        sample = super().sample(sample_shape=sample_shape)
        return torch.where(self.mask, sample, torch.zeros_like(sample))

    @override(TorchDiagGaussian)
    def rsample(self, *, sample_shape=None) -> torch.Tensor:
        sample = super().rsample(sample_shape=sample_shape)
        return torch.where(self.mask, sample, torch.zeros_like(sample))

    @staticmethod
    @override(TorchDiagGaussian)
    def required_input_dim(space: gym.Space, **kwargs) -> int:
        if space.shape is None:
            raise ValueError(f"a masked Gaussian needs a Box action space, got {space}")
        return 3 * int(np.prod(space.shape))

    @classmethod
    @override(TorchDiagGaussian)
    def from_logits(cls, logits: torch.Tensor, **kwargs) -> MaskedDiagGaussian:
        loc, log_std, mask = logits.chunk(3, dim=-1)
        return cls(loc=loc, scale=log_std.exp(), mask=mask > 0.5)


def split_gaussian_inputs(
    dist_inputs: np.ndarray, act_dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(mean, log_std, mask or None) of action-distribution inputs, in numpy.

    Args:
        dist_inputs: (..., 2 * act_dim) (plain) or (..., 3 * act_dim) (masked).
        act_dim: Size of the module's action space.
    """
    # Slices, not np.split: this runs at every env step of the lean runners.
    width = dist_inputs.shape[-1]
    mean, log_std = dist_inputs[..., :act_dim], dist_inputs[..., act_dim : 2 * act_dim]
    if width == 2 * act_dim:
        return mean, log_std, None
    if width != 3 * act_dim:
        raise ValueError(f"action-distribution inputs of width {width} for {act_dim} action dims")
    return mean, log_std, dist_inputs[..., 2 * act_dim :] > 0.5
