"""The multi-head actor-critic RLModule of the paper (Arora et al., section 3.1.4).

Actor (`mtrl_ray.modules.actor.Actor`, the one definition of the policy network):
a trunk of hidden layers shared by all tasks, then per task the remaining hidden
layers and a Gaussian head (mean per action dimension, and a per-task log-std
vector). Critic: its own shared trunk (default: one layer) and per task
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
from mtrl_ray.legacy_keys import current_names
from mtrl_ray.modules.actor import Actor, NumpyGaussianHead
from mtrl_ray.modules.masked_gaussian import MaskedDiagGaussian
from mtrl_ray.modules.model_config import MultiTaskModelConfig
from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer
from mtrl_ray.modules.task_layers import TaskLinear, TaskMLP, shared_mlp, trunk_features


class MultiTaskActorCritic(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Shared trunk + one Gaussian policy head and one value head per task."""

    # Each task's input-layer row across body families (None otherwise): a buffer.
    encoder_rows: torch.Tensor | None

    @override(TorchRLModule)
    def setup(self) -> None:
        cfg = MultiTaskModelConfig.from_dict(dict(self.model_config or {}))
        self.cfg = cfg
        num_tasks = len(cfg.tasks)
        obs_dim = int(self.observation_space.shape[0])
        act_dim = int(self.action_space.shape[0])

        self.obs_normalizer = TaskObservationNormalizer(num_tasks, obs_dim, clip=cfg.obs_clip)
        if cfg.mixed:
            self._check_padded_sizes(obs_dim, act_dim)
        # Which input-layer row each task reads (across body families; a constant
        # derived from the config, never saved).
        rows = None if cfg.encoder_rows is None else torch.tensor(cfg.encoder_rows)
        self.register_buffer("encoder_rows", rows, persistent=False)

        encoder, trunk, trunk_out = self._trunk(obs_dim, cfg.actor_hiddens, cfg.actor_shared_layers)
        own = cfg.actor_hiddens[cfg.actor_shared_layers :]
        self.actor = Actor(
            encoder,
            trunk,
            # Small output gain: initial means near 0, as CleanRL/SB3 do for the policy.
            TaskMLP(num_tasks, trunk_out, own, act_dim, out_gain=0.01),
            torch.full((num_tasks, act_dim), cfg.initial_log_std),
            encoder_rows=None if encoder is None else rows,
            action_mask=self._action_mask(act_dim) if cfg.mixed else None,
        )

        # Runners only act; the critic lives on the learner.
        if cfg.critic and not self.inference_only:
            self.critic_encoder, self.critic_trunk, trunk_out = self._trunk(
                obs_dim, cfg.critic_hiddens, cfg.critic_shared_layers
            )
            own = cfg.critic_hiddens[cfg.critic_shared_layers :]
            self.critic_heads = TaskMLP(num_tasks, trunk_out, own, 1, out_gain=1.0)

    def _check_padded_sizes(self, obs_dim: int, act_dim: int) -> None:
        """Raises ValueError unless the spaces are the padded task sizes."""
        obs_dims, act_dims = self.cfg.task_obs_dims, self.cfg.task_act_dims
        if obs_dims is None or act_dims is None:
            raise ValueError("across body families, task_obs_dims and task_act_dims are needed")
        if max(obs_dims) != obs_dim or max(act_dims) != act_dim:
            raise ValueError(
                f"spaces {obs_dim}/{act_dim} are not the padded task sizes "
                f"{max(obs_dims)}/{max(act_dims)}"
            )

    def _action_mask(self, act_dim: int) -> torch.Tensor:
        """(num_tasks, act_dim): 1 on each task's own action dims, 0 on the padding."""
        own = torch.tensor(self.cfg.task_act_dims).unsqueeze(1)
        return (torch.arange(act_dim) < own).float()

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
        return self.actor(obs, task_id)

    def numpy_policy(self, task_id: int) -> Callable[[np.ndarray], np.ndarray]:
        """The policy of raw observations for one task, in numpy (`Actor.numpy`).

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
        return self.actor.numpy(task_id, self._numpy_normalizer)

    def numpy_head(self, task_id: int) -> NumpyGaussianHead:
        """`numpy_policy` in parts (`Actor.numpy_head`): what the runners' loop acts with.

        Args:
            task_id: The head to act with.
        """
        return self.actor.numpy_head(task_id, self._numpy_normalizer)

    @property
    def _numpy_normalizer(self) -> TaskObservationNormalizer | None:
        return self.obs_normalizer if self.cfg.normalize_observations else None

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
        features = trunk_features(
            self.critic_encoder, self.encoder_rows, self.critic_trunk, obs, task_id
        )
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

    @override(TorchRLModule)
    def set_state(self, state: dict[str, Any]) -> None:
        """Loads `state`, older checkpoints' tensor names included (`legacy_keys`).

        A state of writable numpy arrays that holds every tensor of this module with
        its shape (the weights a runner gets each round) is copied into the tensors
        in place: for the float32 arrays `get_state` gives, the values RLlib's
        `load_state_dict` path gives (which first casts float64 arrays to float32;
        this copies them whole), at a quarter of the cost (a runner's `load_weights`
        0.13 against 0.57 ms, in one process). Anything else (tensors, read-only
        arrays, other shapes, missing or extra names) goes RLlib's way.
        """
        state = current_names(state)
        targets = self.state_dict(keep_vars=True)
        sources = [state.get(name) for name in targets]
        fits = len(state) == len(targets) and all(
            isinstance(source, np.ndarray)
            and source.flags.writeable  # (torch.from_numpy warns on read-only arrays)
            and source.shape == target.shape
            for source, target in zip(sources, targets.values(), strict=True)
        )
        if not fits:
            super().set_state(state)
            return
        with torch.no_grad():
            for source, target in zip(sources, targets.values(), strict=True):
                target.copy_(torch.from_numpy(source))

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic_encoder", "critic_trunk", "critic_heads"]


def module_spec(config: MultiTaskModelConfig) -> RLModuleSpec:
    """The RLModuleSpec of a `MultiTaskActorCritic` with the given shape."""
    return RLModuleSpec(module_class=MultiTaskActorCritic, model_config=asdict(config))
