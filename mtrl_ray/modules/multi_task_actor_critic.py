"""The multi-head actor-critic RLModule of the paper (Arora et al., section 3.1.4).

Actor: a trunk of hidden layers shared by all tasks, then per task the remaining
hidden layers and a Gaussian head (mean per action dimension, and a per-task
log-std vector). Critic: its own shared trunk (default: one layer) and per task
the remaining layers and a value output. How many layers are shared is set per
network; with one task this is the plain single-task A2C network.

Every forward reads the batch's `task_id` column and routes each sample to its
task's normalizer statistics, layers and head, batched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
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
from mtrl_ray.modules.observation_normalizer import TaskObservationNormalizer
from mtrl_ray.modules.task_layers import TaskMLP, shared_mlp


@dataclass(frozen=True)
class MultiTaskModelConfig:
    """Shape of the multi-head actor-critic.

    Attributes:
        tasks: Task names in head order (the TaskSet); len(tasks) heads.
        actor_hiddens: Hidden layer sizes of the actor (paper: 2 x 64).
        critic_hiddens: Hidden layer sizes of the critic (paper: 2 x 64 + output).
        actor_shared_layers: How many of `actor_hiddens` all tasks share (paper: 2).
        critic_shared_layers: How many of `critic_hiddens` all tasks share (paper: 1).
        obs_clip: Normalized observations are clipped to +-obs_clip (paper's code: 5).
        normalize_observations: Whether to normalize observations per task.
        initial_log_std: Initial log standard deviation of every Gaussian head.
        critic: Whether the module has a critic (a distillation student has none).
    """

    tasks: tuple[str, ...] = ("HalfCheetahSmallFoot-v0",)
    actor_hiddens: tuple[int, ...] = (64, 64)
    critic_hiddens: tuple[int, ...] = (64, 64)
    actor_shared_layers: int = 2
    critic_shared_layers: int = 1
    obs_clip: float = 5.0
    normalize_observations: bool = True
    initial_log_std: float = 0.0
    critic: bool = True

    def __post_init__(self) -> None:
        for name, hiddens, shared in (
            ("actor", self.actor_hiddens, self.actor_shared_layers),
            ("critic", self.critic_hiddens, self.critic_shared_layers),
        ):
            if not 0 <= shared <= len(hiddens):
                raise ValueError(
                    f"{name}_shared_layers={shared} must be in [0, {len(hiddens)}] "
                    f"for {name}_hiddens={list(hiddens)}"
                )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiTaskModelConfig:
        """Builds the config from an RLlib `model_config` dict (unknown keys ignored)."""
        fields = cls.__dataclass_fields__
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
        return cls(**kwargs)

    @classmethod
    def from_user(cls, user: dict[str, Any], **fixed: Any) -> MultiTaskModelConfig:
        """Builds the config from a user's `model_config` plus the experiment's `fixed` keys.

        A user key may repeat a fixed one with the same value (a checkpoint's full
        model config does, e.g. its `tasks`).

        Raises:
            ValueError: A user key that is not a field, or that contradicts a fixed key.
        """
        fields = set(cls.__dataclass_fields__)
        unknown = sorted(set(user) - fields)
        if unknown:
            raise ValueError(
                f"unknown model_config key(s) {', '.join(unknown)}; the multi-task module "
                f"takes {', '.join(sorted(fields - set(fixed)))}"
            )
        for key in set(user) & set(fixed):
            value = tuple(user[key]) if isinstance(user[key], list) else user[key]
            if value != fixed[key]:
                raise ValueError(
                    f"model_config {key}={user[key]!r} contradicts this experiment's "
                    f"{key}={fixed[key]!r}"
                )
        return cls.from_dict({**user, **fixed})


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

        shared, own = (
            cfg.actor_hiddens[: cfg.actor_shared_layers],
            cfg.actor_hiddens[cfg.actor_shared_layers :],
        )
        self.actor_trunk = shared_mlp(obs_dim, shared)
        trunk_out = shared[-1] if shared else obs_dim
        # Small output gain: initial means near 0, as CleanRL/SB3 do for the policy.
        self.actor_heads = TaskMLP(num_tasks, trunk_out, own, act_dim, out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((num_tasks, act_dim), cfg.initial_log_std))

        # Runners only act; the critic lives on the learner.
        if cfg.critic and not self.inference_only:
            shared = cfg.critic_hiddens[: cfg.critic_shared_layers]
            own = cfg.critic_hiddens[cfg.critic_shared_layers :]
            self.critic_trunk = shared_mlp(obs_dim, shared)
            trunk_out = shared[-1] if shared else obs_dim
            self.critic_heads = TaskMLP(num_tasks, trunk_out, own, 1, out_gain=1.0)

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

        Args:
            obs: Normalized observations.
            task_id: (B,) head index per sample.
        """
        mean = self.actor_heads(self.actor_trunk(obs), task_id)
        return torch.cat([mean, self.log_std[task_id]], dim=-1)

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
            obs (B, obs_dim) -> (B, 2 * act_dim) Gaussian mean and log-std, float32.
        """
        cfg, t = self.cfg, task_id

        def view(x: torch.Tensor) -> np.ndarray:
            return x.detach().numpy()

        norm = self.obs_normalizer
        mean, var = view(norm.mean)[t], view(norm.var)[t]
        linears = [m for m in self.actor_trunk if isinstance(m, nn.Linear)]
        trunk = [(view(m.weight).T, view(m.bias)) for m in linears]  # nn.Linear: x W^T + b
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
            return np.concatenate([mu, np.broadcast_to(log_std, mu.shape)], axis=-1)

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
        return self.critic_heads(self.critic_trunk(obs), task_id).squeeze(-1)

    @override(TorchRLModule)
    def get_inference_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return TorchDiagGaussian

    @override(TorchRLModule)
    def get_exploration_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return TorchDiagGaussian

    @override(TorchRLModule)
    def get_train_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return TorchDiagGaussian

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic_trunk", "critic_heads"]


def module_spec(config: MultiTaskModelConfig) -> RLModuleSpec:
    """The RLModuleSpec of a `MultiTaskActorCritic` with the given shape."""
    return RLModuleSpec(module_class=MultiTaskActorCritic, model_config=asdict(config))
