"""The multi-head actor-critic RLModule of the paper (Arora et al., section 3.1.4).

Actor: a trunk of hidden layers shared by all tasks, then per task the remaining
hidden layers and a Gaussian head (mean per action dimension, and a per-task
log-std vector). Critic: its own shared trunk (default: one layer) and per task
the remaining layers and a value output. How many layers are shared is set per
network; with one task this is the plain single-task A2C network.

Every forward reads the batch's `task_id` column and routes each sample to its
task's normalizer statistics, layers and head, batched.

Tasks of several body families (sizes differ) share padded spaces (`mtrl_ray.envs.shapes`):
the first shared layer is then one per task or per family (`input_layer`), each head
outputs the padded action size, and the Gaussian is masked to the task's own action
dims (`MaskedDiagGaussian`). Padded observation dims are always 0, and so are they
after normalization (their running mean stays 0), so they never contribute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian
from ray.rllib.core.rl_module.apis.inference_only_api import InferenceOnlyAPI
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from mtrl_ray.columns import TASK_ID
from mtrl_ray.modules.masked_gaussian import MaskedDiagGaussian
from mtrl_ray.modules.model_config import MultiTaskModelConfig
from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer
from mtrl_ray.modules.task_layers import TaskLinear, TaskMLP, shared_mlp


class MultiTaskActorCritic(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Shared trunk + one Gaussian policy head and one value head per task."""

    @override(TorchRLModule)
    def setup(self) -> None:
        cfg = MultiTaskModelConfig.from_dict(dict(self.model_config or {}))
        self.cfg = cfg
        num_tasks = len(cfg.tasks)
        obs_dim = int(self.observation_space.shape[0])
        act_dim = int(self.action_space.shape[0])

        self.obs_normalizer = TaskObservationNormalizer(num_tasks, obs_dim, clip=cfg.obs_clip)
        if cfg.mixed:
            self._register_task_shapes(obs_dim, act_dim)

        self.actor_encoder, self.actor_trunk, trunk_out = self._trunk(
            obs_dim, cfg.actor_hiddens, cfg.actor_shared_layers
        )
        own = cfg.actor_hiddens[cfg.actor_shared_layers :]
        # Small output gain: initial means near 0, as CleanRL/SB3 do for the policy.
        self.actor_heads = TaskMLP(num_tasks, trunk_out, own, act_dim, out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((num_tasks, act_dim), cfg.initial_log_std))

        # Runners only act; the critic lives on the learner.
        if cfg.critic and not self.inference_only:
            self.critic_encoder, self.critic_trunk, trunk_out = self._trunk(
                obs_dim, cfg.critic_hiddens, cfg.critic_shared_layers
            )
            own = cfg.critic_hiddens[cfg.critic_shared_layers :]
            self.critic_heads = TaskMLP(num_tasks, trunk_out, own, 1, out_gain=1.0)

    def _register_task_shapes(self, obs_dim: int, act_dim: int) -> None:
        """Buffers of a cross-family module (derived from the config, never saved)."""
        cfg = self.cfg
        if max(cfg.task_obs_dims) != obs_dim or max(cfg.task_act_dims) != act_dim:
            raise ValueError(
                f"spaces {obs_dim}/{act_dim} are not the padded task sizes "
                f"{max(cfg.task_obs_dims)}/{max(cfg.task_act_dims)}"
            )
        mask = torch.arange(act_dim) < torch.tensor(cfg.task_act_dims).unsqueeze(1)
        self.register_buffer("action_mask", mask.float(), persistent=False)
        rows = cfg.encoder_rows or (0,) * len(cfg.tasks)
        self.register_buffer("encoder_rows", torch.tensor(rows), persistent=False)

    def _trunk(
        self, obs_dim: int, hiddens: tuple[int, ...], shared_layers: int
    ) -> tuple[TaskLinear | None, nn.Sequential, int]:
        """(input layer per task or family, or None; the shared layers; output size).

        Across body families (`input_layer` "task" or "family") the first shared
        layer reads observations through one set of weights per task or family:
        families' observation dims mean different things. Padded observation dims
        are 0, so their weights neither contribute nor receive gradient.
        """
        shared = hiddens[:shared_layers]
        rows = self.cfg.encoder_rows
        if rows is None or not shared:
            return None, shared_mlp(obs_dim, shared), (shared[-1] if shared else obs_dim)
        encoder = TaskLinear(max(rows) + 1, obs_dim, shared[0], math.sqrt(2))
        return encoder, shared_mlp(shared[0], shared[1:]), shared[-1]

    def _features(
        self, encoder: TaskLinear | None, trunk: nn.Module, obs: torch.Tensor, task_id: torch.Tensor
    ) -> torch.Tensor:
        if encoder is not None:
            obs = torch.tanh(encoder(obs, self.encoder_rows[task_id]))
        return trunk(obs)

    # -- routing helpers ------------------------------------------------------------

    def _task_ids(self, batch: dict[str, Any]) -> torch.Tensor:
        obs = batch[Columns.OBS]
        task_id = batch.get(TASK_ID)
        if task_id is None:
            if len(self.cfg.tasks) > 1:
                raise KeyError(f"multi-task batch without a '{TASK_ID}' column")
            return torch.zeros(obs.shape[0], dtype=torch.long, device=obs.device)
        return torch.as_tensor(task_id, device=obs.device).long().reshape(-1)

    def _normalized_obs(self, batch: dict[str, Any], task_id: torch.Tensor) -> torch.Tensor:
        obs = batch[Columns.OBS].float()
        if not self.cfg.normalize_observations:
            return obs
        return self.obs_normalizer(obs, task_id)

    def policy_parameters(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """Returns (B, 2 * act_dim): Gaussian mean and log-std of each sample's head.

        Across body families, (B, 3 * act_dim): mean and log-std, 0 on the dims the
        row's task lacks, and the 0/1 mask of its own dims (see `MaskedDiagGaussian`).

        Args:
            obs: Normalized observations.
            task_id: (B,) head index per sample.
        """
        features = self._features(self.actor_encoder, self.actor_trunk, obs, task_id)
        mean, log_std = self.actor_heads(features, task_id), self.log_std[task_id]
        if not self.cfg.mixed:
            return torch.cat([mean, log_std], dim=-1)
        mask = self.action_mask[task_id]
        return torch.cat([mean * mask, log_std * mask, mask], dim=-1)

    def numpy_policy(self, task_id: int) -> Callable[[np.ndarray], np.ndarray]:
        """`policy_parameters` of normalized observations for one task, in numpy.

        A runner acts on one task with 16 observations a step; through torch, the
        ten small ops of the actor cost ~130 us a step (dispatch, not arithmetic),
        through numpy ~25 us. The returned function reads the module's parameters
        and statistics through shared-memory views, so it sees every later
        `set_state` (which copies in place); it computes what `_forward` does, in
        the same float32 steps, equal to torch's output to within float rounding
        (~1e-6).

        Args:
            task_id: The head to act with.

        Returns:
            obs (B, obs_dim) -> (B, 2 * act_dim) Gaussian mean and log-std, float32
            (across body families (B, 3 * act_dim), as `policy_parameters`).
        """
        cfg, t = self.cfg, task_id

        def view(x: torch.Tensor) -> np.ndarray:
            return x.detach().numpy()

        norm = self.obs_normalizer
        mean, var = view(norm.mean)[t], view(norm.var)[t]
        linears = [m for m in self.actor_trunk if isinstance(m, nn.Linear)]
        trunk = [(view(m.weight).T, view(m.bias)) for m in linears]  # nn.Linear: x W^T + b
        if self.actor_encoder is not None:  # TaskLinear: x W + b
            row = int(self.encoder_rows[t])
            trunk = [(view(self.actor_encoder.weight)[row], view(self.actor_encoder.bias)[row])]
            trunk += [(view(m.weight).T, view(m.bias)) for m in linears]
        mask = view(self.action_mask)[t] if cfg.mixed else None
        heads = self.actor_heads
        own = [(view(m.weight)[t], view(m.bias)[t]) for m in heads.hidden]  # TaskLinear: x W + b
        out_w, out_b = view(heads.out.weight)[t], view(heads.out.bias)[t]
        log_std = view(self.log_std)[t]

        def policy(obs: np.ndarray) -> np.ndarray:
            x = obs.astype(np.float32)
            if cfg.normalize_observations:
                std = np.sqrt(var + norm.eps).astype(np.float32)
                x = np.clip((x - mean.astype(np.float32)) / std, -norm.clip, norm.clip)
            for w, b in trunk + own:
                x = np.tanh(x @ w + b)
            mu = x @ out_w + out_b
            if mask is None:
                return np.concatenate([mu, np.broadcast_to(log_std, mu.shape)], axis=-1)
            parts = [mu * mask, log_std * mask, mask]
            return np.concatenate([np.broadcast_to(p, mu.shape) for p in parts], axis=-1)

        return policy

    # -- RLModule API ---------------------------------------------------------------

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        task_id = self._task_ids(batch)
        obs = self._normalized_obs(batch, task_id)
        # The task id is echoed so that it is stored with every timestep of the
        # episode (as an extra model output) and so reaches the learner's batch.
        return {Columns.ACTION_DIST_INPUTS: self.policy_parameters(obs, task_id), TASK_ID: task_id}

    @override(TorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        task_id = self._task_ids(batch)
        obs = self._normalized_obs(batch, task_id)
        out = {Columns.ACTION_DIST_INPUTS: self.policy_parameters(obs, task_id)}
        if self.cfg.critic:
            out[Columns.VF_PREDS] = self._values(obs, task_id)
        return out

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """V(s) of each sample's task head, shape (B,)."""
        task_id = self._task_ids(batch)
        return self._values(self._normalized_obs(batch, task_id), task_id)

    def _values(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        features = self._features(self.critic_encoder, self.critic_trunk, obs, task_id)
        return self.critic_heads(features, task_id).squeeze(-1)

    @override(TorchRLModule)
    def get_inference_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return MaskedDiagGaussian if self.cfg.mixed else TorchDiagGaussian

    @override(TorchRLModule)
    def get_exploration_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return MaskedDiagGaussian if self.cfg.mixed else TorchDiagGaussian

    @override(TorchRLModule)
    def get_train_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return MaskedDiagGaussian if self.cfg.mixed else TorchDiagGaussian

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic_encoder", "critic_trunk", "critic_heads"]


def module_spec(config: MultiTaskModelConfig) -> RLModuleSpec:
    """The RLModuleSpec of a `MultiTaskActorCritic` with the given shape."""
    return RLModuleSpec(module_class=MultiTaskActorCritic, model_config=asdict(config))
