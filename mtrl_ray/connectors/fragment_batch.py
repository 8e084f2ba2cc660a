"""Learner piece turning t_max-step episode fragments into A2C's train batch.

It produces, in one vectorized pass per fragment, what RLlib's generic learner
pieces produce together (`AddOneTsToEpisodesAndTruncate` + the default column
pieces + `NumpyToTensor`): every fragment gets one extra bootstrap row holding
its final observation, with `LOSS_MASK` False there, and its last real row
flagged terminated (episode ended) or truncated (cut by t_max or a time limit),
so `NStepReturns` bootstraps V(s_T) exactly where RLlib's pieces would. Only
the columns A2C uses are built: observations, actions, rewards, flags, task ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override

from mtrl_ray.columns import TASK_ID


def _with_bootstrap_row(values: np.ndarray) -> np.ndarray:
    """Repeats the last row (the bootstrap row's action/task: never used in a loss)."""
    return np.concatenate([values, values[-1:]], axis=0)


class FragmentBatch(ConnectorV2):
    """Builds {OBS, ACTIONS, REWARDS, TERMINATEDS, TRUNCATEDS, LOSS_MASK, TASK_ID}."""

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> Any:
        columns: dict[str, list[np.ndarray]] = {
            k: []
            for k in (Columns.OBS, Columns.ACTIONS, Columns.REWARDS, Columns.TERMINATEDS,
                      Columns.TRUNCATEDS, Columns.LOSS_MASK, TASK_ID)
        }  # fmt: skip
        for episode in episodes:
            n = len(episode)
            last = np.zeros(n + 1, dtype=bool)
            last[n - 1] = True
            columns[Columns.OBS].append(np.asarray(episode.get_observations(slice(0, n + 1))))
            columns[Columns.ACTIONS].append(_with_bootstrap_row(np.asarray(episode.get_actions())))
            columns[Columns.REWARDS].append(np.append(episode.get_rewards(), 0.0))
            columns[Columns.TERMINATEDS].append(last & episode.is_terminated)
            columns[Columns.TRUNCATEDS].append(last & (not episode.is_terminated))
            columns[Columns.LOSS_MASK].append(np.arange(n + 1) < n)
            task_ids = np.asarray(episode.get_extra_model_outputs(TASK_ID))
            columns[TASK_ID].append(_with_bootstrap_row(task_ids))
        module_batch = {
            key: torch.from_numpy(np.concatenate(parts)) for key, parts in columns.items()
        }
        module_batch[Columns.REWARDS] = module_batch[Columns.REWARDS].float()
        module_batch[Columns.ACTIONS] = module_batch[Columns.ACTIONS].float()
        return {DEFAULT_MODULE_ID: module_batch}
