"""Lean runner connectors for the multi-task Gaussian module: the A2C hot path.

With t_max = 5 an A2C update needs a fresh 5-step fragment from every runner, so
the runners' per-step cost decides throughput. RLlib's default env-to-module and
module-to-env pipelines (about ten generic pieces handling any space, agents,
time ranks and recurrent states) cost several times one MuJoCo step of 16 envs
(measured: benchmarks/throughput.md). For a 1-D Box observation, a diagonal
Gaussian and one agent, each pipeline is one piece:

- `BatchTaskObservations`: the envs' latest observations as one tensor, plus
  the runner's task id (the job of RLlib's defaults + `AddTaskId`).
- `SampleDiagGaussian`: actions sampled from the module's Gaussian (or its
  mean when not exploring), their log-probability, and the actions for the env
  mapped and/or clipped to the action space exactly as RLlib's
  `NormalizeAndClipActions` does for the config's `normalize_actions` and
  `clip_actions` (with both off, the env gets the raw sample).

They produce the same episodes as RLlib's defaults. With
`A2CConfig.lean_connectors` on (the default) the learner pipeline is lean too:
`FragmentBatch` + `NStepReturns` (instead of RLlib's generic pieces, which the
learner uses, with `AddOneTsToEpisodesAndTruncate`, when it is off).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override

from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.add_task_id import pinned_task_id
from mtrl_ray.modules.masked_gaussian import split_gaussian_inputs


class BatchTaskObservations(ConnectorV2):
    """Env-to-module: {OBS: (N, obs_dim) tensor, TASK_ID: (N,) tensor}."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, task_id: int):
        super().__init__(input_observation_space, input_action_space)
        self.task_id = task_id

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> Any:
        obs = np.stack([episode.get_observations(-1) for episode in episodes])
        return {
            Columns.OBS: torch.from_numpy(obs),
            TASK_ID: torch.full((len(episodes),), self.task_id, dtype=torch.long),
        }


class SampleDiagGaussian(ConnectorV2):
    """Module-to-env: sample from N(mean, exp(log_std)^2); map actions to the space.

    Args:
        normalize_actions: RLlib's meaning: the module acts in [-1, 1], mapped
            linearly onto the space's bounds and clipped to them.
        clip_actions: Without `normalize_actions`: clip to the bounds. With neither,
            the raw sample goes to the env, as in the paper's code: MuJoCo clamps
            the control itself, but HalfCheetah's control cost is charged on the
            raw action, which penalizes a wide Gaussian.
    """

    def __init__(
        self,
        input_observation_space=None,
        input_action_space=None,
        *,
        normalize_actions: bool = True,
        clip_actions: bool = False,
    ):
        super().__init__(input_observation_space, input_action_space)
        self.normalize_actions = normalize_actions
        self.clip_actions = clip_actions
        space = input_action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"SampleDiagGaussian needs a 1-D Box action space, got {space}")
        self._low = space.low.astype(np.float32)
        self._high = space.high.astype(np.float32)
        # Seeded from numpy's global generator, which RLlib seeds per runner.
        self._rng = np.random.default_rng(np.random.randint(2**31))

    @property
    def action_dim(self) -> int:
        """Size of the (1-D) action space."""
        return self._low.shape[0]

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, explore=None, **kwargs):
        dist_inputs = _numpy(batch[Columns.ACTION_DIST_INPUTS])
        # Across body families the inputs carry a mask of the task's own action dims:
        # the others get action 0 and no log-probability (as `MaskedDiagGaussian`).
        mean, log_std, mask = split_gaussian_inputs(dist_inputs, self.action_dim)
        actions, for_env, logp = self.draw(mean, log_std, mask, explore=bool(explore))
        return {
            Columns.ACTIONS: actions,
            Columns.ACTIONS_FOR_ENV: for_env,
            Columns.ACTION_LOGP: logp,
            Columns.ACTION_DIST_INPUTS: dist_inputs,
            TASK_ID: _numpy(batch[TASK_ID]),
        }

    def draw(
        self, mean: np.ndarray, log_std: np.ndarray, mask: np.ndarray | None, *, explore: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions of N(mean, exp(log_std)^2), or its mean when not exploring.

        `FragmentSampler` calls this directly with the numpy actor's parts (a task's
        log-std row and mask broadcast over the rows), skipping the connector call.

        Args:
            mean: (B, act_dim) means (0 on the dims `mask` leaves out).
            log_std: (B, act_dim) or (act_dim,) log-stds.
            mask: (B, act_dim) or (act_dim,) of the dims that act, or None (all).
            explore: Sample (True) or take the mean.

        Returns:
            (B, act_dim) actions, the same mapped for the env, (B,) float32 log-probabilities.
        """
        if explore:
            noise = self._rng.standard_normal(mean.shape).astype(np.float32)
            if mask is not None:
                noise = noise * mask
            actions = mean + np.exp(log_std) * noise
        else:
            noise = np.zeros_like(mean)
            actions = mean
        # log N(a; mean, std) summed over dimensions, as TorchDiagGaussian.logp.
        per_dim = -0.5 * noise**2 - log_std - 0.5 * np.log(2.0 * np.pi)
        logp = (per_dim if mask is None else np.where(mask, per_dim, 0.0)).sum(-1)
        for_env = map_actions(
            actions,
            self._low,
            self._high,
            normalize_actions=self.normalize_actions,
            clip_actions=self.clip_actions,
        )
        return actions, for_env, logp.astype(np.float32)


def map_actions(
    actions: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    normalize_actions: bool,
    clip_actions: bool,
) -> np.ndarray:
    """The module's actions as the env gets them (RLlib's `NormalizeAndClipActions`).

    Args:
        actions: (..., act_dim) actions of the module.
        low: The action space's lower bounds (float32).
        high: Its upper bounds (float32).
        normalize_actions: The module acts in [-1, 1]: map linearly onto [low, high]
            and clip to it.
        clip_actions: Without `normalize_actions`: clip to [low, high]. With neither,
            `actions` are returned unchanged.
    """
    if normalize_actions:
        actions = low + (actions + 1.0) * (high - low) / 2.0
    if normalize_actions or clip_actions:  # np.clip's overhead is ~2x these two's
        actions = np.minimum(np.maximum(actions, low), high)
    return actions


def _numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A module output as numpy (a module may give numpy already: `numpy_policy`)."""
    return x.detach().cpu().numpy() if torch.is_tensor(x) else x


def lean_env_to_module(env: gym.vector.VectorEnv | None, spaces=None, device=None) -> list:
    """`env_to_module_connector` factory (use without RLlib's default pieces)."""
    return [BatchTaskObservations(task_id=pinned_task_id(env))]
