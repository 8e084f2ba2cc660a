"""A2C's train batch from t_max-step fragments, built where the fragments are sampled.

A `Fragment` holds a runner's episode chunks as flat numpy columns: every chunk
gets one extra bootstrap row holding its final observation, with `LOSS_MASK`
False there, and its last real row flagged terminated (episode ended) or
truncated (cut by t_max or a time limit), so that
`NStepReturns` bootstraps V(s_T) exactly where RLlib's generic pieces
(`AddOneTsToEpisodesAndTruncate` + the default column pieces) would. Only the
columns A2C uses are kept.

A2C's runners build `Fragment`s directly as they sample (`FragmentSampler`) and
send them instead of episode objects: numpy columns cost a tenth of pickled
episodes to move. `Fragment.from_episodes` builds the same columns from RLlib
episode chunks: the learner piece `FragmentBatch` uses it for any episodes it gets
(RLlib's sampling loop, `lean_connectors=False`) and concatenates everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.annotations import override

from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.return_scaler import ReturnScaler

COLUMNS = (
    Columns.OBS,
    Columns.ACTIONS,
    Columns.REWARDS,
    Columns.TERMINATEDS,
    Columns.TRUNCATEDS,
    Columns.LOSS_MASK,
    TASK_ID,
)
#: What PPO's loss needs of the sampling policy besides `COLUMNS` (`policy_outputs`).
POLICY_COLUMNS = (Columns.ACTION_LOGP, Columns.ACTION_DIST_INPUTS)


def _with_bootstrap_row(values: np.ndarray) -> np.ndarray:
    """Repeats the last row (the bootstrap row's action/task: never used in a loss)."""
    return np.concatenate([values, values[-1:]], axis=0)


@dataclass
class Fragment:
    """Episode chunks of one sample call as flat columns (bootstrap rows included).

    Attributes:
        columns: `COLUMNS` -> array with one row per timestep plus one bootstrap row
            per chunk.
    """

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        """Env steps in the fragment (bootstrap rows excluded)."""
        return int(self.columns[Columns.LOSS_MASK].sum())

    @classmethod
    def from_episodes(
        cls,
        episodes: list[SingleAgentEpisode],
        reward_scaler: ReturnScaler | None = None,
        *,
        policy_outputs: bool = False,
    ) -> Fragment:
        """Flattens episode chunks, appending each chunk's bootstrap row.

        Args:
            episodes: Episode chunks, each episode's chunks in time order.
            reward_scaler: If given, rewards are normalized with it (the train batch
                only; the episodes keep the environment's rewards).
            policy_outputs: Also the `POLICY_COLUMNS` (the bootstrap row repeats the
                last step's, as RLlib's `AddOneTsToEpisodesAndTruncate` does).
        """
        keys = COLUMNS + POLICY_COLUMNS if policy_outputs else COLUMNS
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for episode in episodes:
            n = len(episode)
            last = np.zeros(n + 1, dtype=bool)
            last[n - 1] = True
            parts[Columns.OBS].append(np.asarray(episode.get_observations(slice(0, n + 1))))
            parts[Columns.ACTIONS].append(_with_bootstrap_row(np.asarray(episode.get_actions())))
            rewards = (
                episode.get_rewards() if reward_scaler is None else reward_scaler.scale(episode)
            )
            parts[Columns.REWARDS].append(np.append(rewards, 0.0))
            parts[Columns.TERMINATEDS].append(last & episode.is_terminated)
            parts[Columns.TRUNCATEDS].append(last & (not episode.is_terminated))
            parts[Columns.LOSS_MASK].append(np.arange(n + 1) < n)
            task_ids = np.asarray(episode.get_extra_model_outputs(TASK_ID))
            parts[TASK_ID].append(_with_bootstrap_row(task_ids))
            for key in keys[len(COLUMNS) :]:
                outputs = np.asarray(episode.get_extra_model_outputs(key))
                parts[key].append(_with_bootstrap_row(outputs))
        return cls({key: np.concatenate(arrays) for key, arrays in parts.items()})


class FragmentBatch(ConnectorV2):
    """Learner piece: Fragments (or episodes) -> {OBS, ACTIONS, REWARDS, flags, TASK_ID}.

    Args:
        policy_outputs: Also the `POLICY_COLUMNS` (PPO's old log-probabilities and
            action-distribution inputs), which the fragments must then carry.
    """

    def __init__(
        self, input_observation_space=None, input_action_space=None, *, policy_outputs=False
    ):
        super().__init__(input_observation_space, input_action_space)
        self.keys = COLUMNS + POLICY_COLUMNS if policy_outputs else COLUMNS

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> Any:
        chunks = [e for e in episodes if not isinstance(e, Fragment)]
        fragments = [e for e in episodes if isinstance(e, Fragment)]
        if chunks:
            policy_outputs = len(self.keys) > len(COLUMNS)
            fragments.append(Fragment.from_episodes(chunks, policy_outputs=policy_outputs))
        module_batch = {
            key: torch.from_numpy(np.concatenate([f.columns[key] for f in fragments]))
            for key in self.keys
        }
        for key in (Columns.REWARDS, Columns.ACTIONS, *self.keys[len(COLUMNS) :]):
            module_batch[key] = module_batch[key].float()
        return {DEFAULT_MODULE_ID: module_batch}
