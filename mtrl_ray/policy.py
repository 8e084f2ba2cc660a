"""A trained multi-task policy outside training: observations in, actions out.

`Policy.load(checkpoint)` reads two files of a checkpoint: the manifest
(`mtrl_ray.json`) and the module's tensors (`module_weights.pt`, loaded
weights-only, so no pickled code runs). It needs no Ray runtime. It acts as the
checkpoint's evaluation runners do: the task's frozen observation statistics and
head (the module's own `numpy_policy`), then the actions mapped to the env as in
training (the manifest's `actions_for_env`):

    from mtrl_ray import Policy

    policy = Policy.load("results/vanilla_multitask_raw_seed0/checkpoint/checkpoint_000250")
    action = policy.act(obs, task="HalfCheetahBigFoot-v0")  # the mean action
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from mtrl_ray.checkpoints import (
    MANIFEST,
    WEIGHTS,
    CheckpointError,
    CheckpointInfo,
    read_checkpoint,
    read_weights,
)
from mtrl_ray.connectors.lean_gaussian import map_actions
from mtrl_ray.envs import NAMESPACE, make_env
from mtrl_ray.modules.masked_gaussian import split_gaussian_inputs
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskActorCritic


class Policy:
    """A checkpoint's Gaussian policy, one head per task, in numpy.

    Attributes:
        info: The checkpoint's manifest.
        module: The actor (critic left out), with the checkpoint's weights and
            per-task observation statistics; frozen.
    """

    def __init__(self, info: CheckpointInfo, module: MultiTaskActorCritic, seed: int | None = None):
        """Wraps a loaded module; use `Policy.load`.

        Args:
            info: The checkpoint's manifest.
            module: Its module, weights loaded.
            seed: Seed of the generator that `act` samples with when given none.
        """
        self.info = info
        self.module = module
        self._rng = np.random.default_rng(seed)
        self._heads: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            task: module.numpy_policy(i) for i, task in enumerate(info.tasks)
        }
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def load(cls, checkpoint: str | Path, seed: int | None = None) -> Policy:
        """Loads a checkpoint's policy from its manifest and weights file only.

        Args:
            checkpoint: Checkpoint directory (from `rllib train`).
            seed: Seed for sampled actions (`act(..., deterministic=False)`).

        Raises:
            CheckpointError: a missing or foreign checkpoint, or one without
                `module_weights.pt` (add it with `rllib upgrade-checkpoint`).
        """
        info = read_checkpoint(checkpoint)
        if None in (info.observation_shape, info.action_shape) or not info.weights_path.is_file():
            raise CheckpointError(
                f"checkpoint {info.path} has no {WEIGHTS} (or no spaces in {MANIFEST}): "
                "add them with `rllib upgrade-checkpoint`"
            )
        return cls(info, build_module(info, read_weights(info, what="policy weights")), seed)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in head order."""
        return self.info.tasks

    @property
    def observation_dim(self) -> int:
        """Length of one observation (across body families: the padded length)."""
        shape = self.info.observation_shape
        assert shape is not None  # `load` refuses a checkpoint without spaces
        return int(shape[0])

    @property
    def action_dim(self) -> int:
        """Length of one action (across body families: the padded length)."""
        shape = self.info.action_shape
        assert shape is not None  # `load` refuses a checkpoint without spaces
        return int(shape[0])

    def sizes(self, task: str) -> tuple[int, int]:
        """The task's own (observation, action) lengths: what `act` takes and gives."""
        return self.info.task_sizes[self.task(task)]

    def task(self, name: str) -> str:
        """The head name for `name` (plain or "mtrl_ray/"-namespaced).

        Raises:
            ValueError: if the checkpoint has no head for it.
        """
        if not isinstance(name, str):
            raise ValueError(f"task must be a name (a string), got {type(name).__name__}")
        if name in self._heads:
            return name
        plain = name.removeprefix(f"{NAMESPACE}/")
        if plain not in self._heads:
            raise ValueError(
                f"no head for task {name!r}; this policy's tasks: {', '.join(self.tasks)}"
            )
        return plain

    def gaussian(self, obs: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
        """The head's Gaussian at raw observations, before any action mapping.

        Args:
            obs: One observation (obs_dim,) or a batch (N, obs_dim), as the env gives it.
            task: The task whose statistics and head act.

        Returns:
            (mean, log_std), float32, each shaped like `obs` with act_dim columns.

        Raises:
            ValueError: an unknown task, or observations of the wrong shape or type.
        """
        task = self.task(task)
        head, (obs_dim, act_dim) = self._heads[task], self.sizes(task)
        batch = self._observations(obs, obs_dim)
        if obs_dim < self.observation_dim:  # a module across body families: padded
            batch = np.pad(batch, ((0, 0), (0, self.observation_dim - obs_dim)))
        mean, log_std, _ = split_gaussian_inputs(head(batch), self.action_dim)
        mean, log_std = mean[:, :act_dim], log_std[:, :act_dim]
        if np.ndim(obs) == 1:
            return mean[0], log_std[0]
        return mean, log_std

    def act(
        self,
        obs: np.ndarray,
        task: str,
        deterministic: bool = True,
        rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """The action(s) for the env, as `rllib evaluate` takes them.

        Args:
            obs: One observation (obs_dim,) or a batch (N, obs_dim).
            task: The task (body) being driven: a name in `tasks`.
            deterministic: Act with the Gaussian mean (as `rllib evaluate
                --deterministic`); else sample from the Gaussian.
            rng: Generator (or seed) to sample with; default: the policy's own.

        Returns:
            float32 actions, (act_dim,) or (N, act_dim), mapped to the env as in
            training (rescaled to the bounds and clipped, clipped, or raw).

        Raises:
            ValueError: an unknown task, or observations of the wrong shape or type.
        """
        mean, log_std = self.gaussian(obs, task)
        actions = mean
        if not deterministic:
            gen = rng if isinstance(rng, np.random.Generator) else self._generator(rng)
            noise = gen.standard_normal(mean.shape).astype(np.float32)
            actions = mean + np.exp(log_std) * noise
        return self.to_env(actions, task)

    def to_env(self, actions: np.ndarray, task: str) -> np.ndarray:
        """The module's actions mapped to the env as in training (`actions_for_env`)."""
        modes = self.info.actions_for_env
        if not (modes["normalize_actions"] or modes["clip_actions"]):
            return actions
        low, high = self.action_bounds(task)
        return map_actions(actions, low, high, **modes).astype(np.float32)

    def action_bounds(self, task: str) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the task's action space, float32 (read from the env once)."""
        task = self.task(task)
        if task not in self._bounds:
            env = make_env(task)
            space = env.action_space
            env.close()
            if not isinstance(space, gym.spaces.Box) or space.shape != (self.sizes(task)[1],):
                raise CheckpointError(f"{task}'s action space {space} does not fit this policy")
            self._bounds[task] = (space.low.astype(np.float32), space.high.astype(np.float32))
        return self._bounds[task]

    def _generator(self, seed: int | None) -> np.random.Generator:
        return self._rng if seed is None else np.random.default_rng(seed)

    def _observations(self, obs: np.ndarray, obs_dim: int) -> np.ndarray:
        """`obs` as a (N, obs_dim) float64 batch; ValueError if it is not one."""
        try:
            batch = np.asarray(obs, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("observation is not an array of numbers") from None
        if batch.ndim not in (1, 2) or batch.shape[-1] != obs_dim:
            raise ValueError(
                f"observation of shape {batch.shape}; this policy takes "
                f"({obs_dim},) or (N, {obs_dim})"
            )
        return batch.reshape(-1, obs_dim)

    def __repr__(self) -> str:
        return f"Policy({self.info.path.name}: {self.info.algorithm}, tasks={list(self.tasks)})"


def build_module(info: CheckpointInfo, weights: dict) -> MultiTaskActorCritic:
    """The checkpoint's actor (no critic), its tensors loaded, frozen.

    Args:
        info: The checkpoint's manifest (with its spaces).
        weights: Its module tensors (`read_weights`); extra ones (a critic, APPO's
            target copy) are ignored.

    Raises:
        CheckpointError: if a tensor the actor needs is missing.
    """
    module = MultiTaskActorCritic(
        observation_space=gym.spaces.Box(-np.inf, np.inf, info.observation_shape, np.float32),
        action_space=gym.spaces.Box(-1.0, 1.0, info.action_shape, np.float32),
        inference_only=True,
        model_config={**info.model_config, "critic": False},
    )
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    if missing:
        raise CheckpointError(f"{info.weights_path} lacks tensors {missing}")
    module.load_state_dict({k: weights[k] for k in own}, strict=True)
    module.requires_grad_(False)
    module.eval()
    return module
