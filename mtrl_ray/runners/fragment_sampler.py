"""The fast path's sampling loop on a pinned runner (A2C, PPO, APPO): env steps straight
into a `Fragment`.

RLlib's `SingleAgentEnvRunner._sample` keeps a `SingleAgentEpisode` per env and,
for every env at every step, appends to it, runs the connector pipelines and
callbacks and logs timers; at the end of each call it cuts every episode into a
chunk, which `Fragment.from_episodes` then flattens back into columns. With
t_max = 5 that bookkeeping costs more than the 16 MuJoCo steps it records
(runner CPU per 80-step fragment, in one process: RLlib's loop 2.0x the time of the
MuJoCo stepping alone, this loop with the module's numpy actor 1.2x).
`FragmentSampler` samples the same data for the fast path's layout (one pinned task, a
1-D Box observation, the multi-task Gaussian module and the lean connectors) with a
handful of numpy operations per step (with PPO's policy outputs too: the action
log-probabilities and distribution inputs).

Acting through the torch module, it reproduces RLlib's loop exactly (through the
module's numpy actor, its default, to within float rounding): the envs are seeded as
RLlib seeds them, a gymnasium autoreset step (the step after an episode ended) is not
a timestep, sampling stops at the first step boundary with at least `num_timesteps`
timesteps, and the chunks come in RLlib's order (episodes that ended in this call,
in the order they ended, then the ongoing ones by env index). A test samples both
ways from identically seeded runners and compares the fragments column by column.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.fragment_batch import Fragment
from mtrl_ray.connectors.lean_gaussian import SampleDiagGaussian
from mtrl_ray.modules.masked_gaussian import split_gaussian_inputs

_NO_CHUNK = np.iinfo(np.int64).max  # an env between an episode's end and its reset


def _unset() -> np.ndarray:
    """A per-env array before the first reset (which sets them all)."""
    return np.empty(0)


@dataclass
class FinishedEpisode:
    """What RLlib's episode metrics need of an episode that ended."""

    length: int
    ret: float
    seconds: float


class _Steps:
    """Per-column lists of (N, ...) arrays, one per vector-env step (a chunk never
    includes an autoreset step); `dist` holds what `_Acting.dist_inputs` turns
    into the steps' distribution inputs."""

    def __init__(self) -> None:
        self.obs: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[np.ndarray] = []
        self.terminated: list[np.ndarray] = []
        self.logp: list[np.ndarray] = []
        self.dist: list[np.ndarray] = []


class _Acting(NamedTuple):
    """How a `sample` call acts (`FragmentSampler._acting`).

    Attributes:
        act: obs -> (record, mean, log_std, mask) of the Gaussian for the task;
            `record` is what `dist_inputs` turns back into the step's
            distribution inputs.
        dist_inputs: Stacked records -> their distribution inputs.
    """

    act: Callable[[np.ndarray], tuple]
    dist_inputs: Callable[[np.ndarray], np.ndarray]


@dataclass
class FragmentSampler:
    """Samples `Fragment`s from a runner's vector env with its module.

    Args:
        env: The runner's gymnasium vector env (autoreset on the next step).
        sample_actions: The runner's module-to-env piece (`SampleDiagGaussian`).
        task_id: The runner's pinned task id.
        seed: Seed of the first reset (RLlib's `runner._seed`).
    """

    env: Any  # a gymnasium VectorEnv
    sample_actions: SampleDiagGaussian
    task_id: int
    seed: int | None = None
    _obs: np.ndarray | None = field(default=None, init=False)
    _resetting: np.ndarray = field(default_factory=_unset, init=False)
    _returns: np.ndarray = field(default_factory=_unset, init=False)
    _lengths: np.ndarray = field(default_factory=_unset, init=False)
    _starts: np.ndarray = field(default_factory=_unset, init=False)
    _episode_ids: np.ndarray = field(default_factory=_unset, init=False)
    _next_episode_id: int = field(default=0, init=False)

    def sample(
        self,
        module: torch.nn.Module,
        num_timesteps: int,
        *,
        explore: bool = True,
        reward_scaler: Callable[[tuple, np.ndarray, bool], np.ndarray] | None = None,
        policy_outputs: bool = False,
    ) -> tuple[Fragment, int, list[FinishedEpisode]]:
        """Steps all envs until at least `num_timesteps` timesteps are sampled.

        Args:
            module: Acts: its `numpy_head` if it has one (the multi-task module),
                else its `forward_exploration` (a teacher).
            num_timesteps: Timesteps to sample (over all envs).
            explore: Sample actions (True) or take the Gaussian's mean.
            reward_scaler: (episode key, rewards of a chunk, episode ended) -> scaled
                rewards for the fragment; chunks of an episode come in time order.
            policy_outputs: Also record the sampling policy's `POLICY_COLUMNS`
                (action log-probability and distribution inputs: PPO's loss needs them).

        Returns:
            The fragment, its number of timesteps and the episodes that ended.
        """
        if self._obs is None:
            self._reset()
        num_envs = len(self._episode_ids)
        acting = self._acting(module, num_envs)
        draw = self.sample_actions.draw
        steps = _Steps()
        finished: list[FinishedEpisode] = []
        chunks: list[tuple[int, int, int, int, bool]] = []  # env, episode, first, last, ended
        first = np.zeros(num_envs, dtype=np.int64)  # step where each env's chunk starts
        ts = k = 0
        obs = self._obs
        assert obs is not None  # set by `_reset` (for type checkers)
        resetting = self._resetting
        while ts < num_timesteps:
            # An env whose episode ended last step is reset by this step (not a
            # timestep); its next chunk starts with the following step.
            first[resetting] = k + 1
            record, mean, log_std, mask = acting.act(obs)
            actions, for_env, logp = draw(mean, log_std, mask, explore=explore)
            next_obs, rewards, terminated, truncated, _ = self.env.step(for_env)
            steps.obs.append(obs)
            steps.actions.append(actions)
            steps.rewards.append(rewards)
            steps.terminated.append(terminated)
            if policy_outputs:
                steps.logp.append(logp)
                steps.dist.append(record)
            valid = ~resetting
            ts += int(valid.sum())
            self._returns += np.where(valid, rewards, 0.0)
            self._lengths += valid
            done = valid & (terminated | truncated)
            if done.any():
                for i in np.flatnonzero(done):
                    chunks.append((int(i), int(self._episode_ids[i]), int(first[i]), k, True))
                    first[i] = _NO_CHUNK
                    finished.append(
                        FinishedEpisode(
                            int(self._lengths[i]),
                            float(self._returns[i]),
                            time.perf_counter() - self._starts[i],
                        )
                    )
                    self._new_episode(int(i))
            resetting = done
            obs = next_obs
            k += 1
        self._obs, self._resetting = obs, resetting
        chunks += [
            (i, int(self._episode_ids[i]), int(first[i]), k - 1, False)
            for i in range(num_envs)
            if first[i] < k
        ]
        return self._fragment(chunks, steps, obs, acting, reward_scaler), ts, finished

    def _acting(self, module: torch.nn.Module, num_envs: int) -> _Acting:
        """How this call acts: the module's numpy actor, or its torch forward.

        Our multi-task module acts through its numpy copy of the actor
        (`numpy_head`: a fifth of torch's per-step cost at this size), computing
        only the mean at each step: the task's log-std row and mask are the same
        for every row, and its distribution inputs are built once per call. Any
        other module (a teacher, a module without it) acts through
        `forward_exploration`.
        """
        act_dim = self.sample_actions.action_dim
        numpy_head = getattr(module, "numpy_head", None)
        if numpy_head is not None:
            head = numpy_head(self.task_id)
            mask = None if head.mask is None else head.mask > 0.5

            def act_numpy(obs: np.ndarray) -> tuple:
                mean = head.mean(obs)
                return mean, mean, head.log_std, mask

            return _Acting(act_numpy, head.dist_inputs)
        # `forward_exploration` re-enters eval mode at every call (a walk over all
        # submodules); a runner's module never trains: eval once, call what it wraps.
        if getattr(module, "training", False):
            module.eval()
        forward = compat.exploration_forward(module)
        task_ids = torch.full((num_envs,), self.task_id, dtype=torch.long)

        def act_torch(obs: np.ndarray) -> tuple:
            with torch.no_grad():
                out = forward({Columns.OBS: torch.from_numpy(obs), TASK_ID: task_ids})
            dist_inputs = out[Columns.ACTION_DIST_INPUTS].numpy()
            return dist_inputs, *split_gaussian_inputs(dist_inputs, act_dim)

        return _Acting(act_torch, lambda dist_inputs: dist_inputs)

    def _fragment(
        self, chunks, steps: _Steps, last_obs: np.ndarray, acting: _Acting, reward_scaler
    ) -> Fragment:
        """The chunks' rows, gathered from the steps' (N, ...) arrays in one go.

        Chunk c (env i_c, steps first_c..last_c) gives its timesteps, the last one
        flagged terminated (the episode ended there by termination) or truncated
        (anything else cut it), and then a bootstrap row: the observation after
        its last step (the next step's observation, or the last step's
        next-observation), the last action repeated and reward 0.
        """
        envs = np.array([c[0] for c in chunks])
        firsts = np.array([c[2] for c in chunks])
        lasts = np.array([c[3] for c in chunks])
        rows_per_chunk = lasts - firsts + 2  # the timesteps and the bootstrap row
        k = np.concatenate([np.arange(a, b + 2) for a, b in zip(firsts, lasts, strict=True)])
        env = np.repeat(envs, rows_per_chunk)
        last = np.repeat(lasts, rows_per_chunk)
        bootstrap = k > last
        step = np.minimum(k, last)  # a bootstrap row repeats its chunk's last step
        obs = np.stack([*steps.obs, last_obs])
        actions = np.stack(steps.actions)
        rewards = np.stack(steps.rewards)[step, env]
        rewards[bootstrap] = 0.0
        if reward_scaler is not None:  # chunk by chunk, in order: it tracks each episode
            stops = np.cumsum(rows_per_chunk) - 1  # each chunk's bootstrap row
            for (i, episode, *_, episode_ended), stop, n in zip(
                chunks, stops, rows_per_chunk - 1, strict=True
            ):
                rows = slice(stop - n, stop)
                rewards[rows] = reward_scaler((i, episode), rewards[rows], episode_ended)
        ended = np.array([c[4] for c in chunks])
        terminated_chunks = np.stack(steps.terminated)[lasts, envs] & ended
        terminated = np.repeat(terminated_chunks, rows_per_chunk)
        columns = {
            Columns.OBS: obs[k, env],
            Columns.ACTIONS: actions[step, env],
            Columns.REWARDS: rewards,
            Columns.TERMINATEDS: (k == last) & terminated,
            Columns.TRUNCATEDS: (k == last) & ~terminated,
            Columns.LOSS_MASK: ~bootstrap,
            TASK_ID: np.full(len(k), self.task_id, dtype=np.int64),
        }
        if steps.logp:  # the bootstrap row repeats the last step's
            columns[Columns.ACTION_LOGP] = np.stack(steps.logp)[step, env]
            dist_inputs = acting.dist_inputs(np.stack(steps.dist)[step, env])
            columns[Columns.ACTION_DIST_INPUTS] = dist_inputs
        return Fragment(columns)

    def _reset(self) -> None:
        obs, _ = self.env.reset(seed=self.seed)
        self._obs = obs
        num_envs = len(obs)
        self._resetting = np.zeros(num_envs, dtype=bool)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._starts = np.full(num_envs, time.perf_counter())
        self._episode_ids = np.arange(num_envs)
        self._next_episode_id = num_envs

    def _new_episode(self, i: int) -> None:
        self._returns[i] = 0.0
        self._lengths[i] = 0
        self._starts[i] = time.perf_counter()
        self._episode_ids[i] = self._next_episode_id
        self._next_episode_id += 1
