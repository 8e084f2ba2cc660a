"""PPO's advantages and value targets on a fragment batch: GAE without a Python loop per row.

RLlib's `GeneralAdvantageEstimation` runs `compute_value_targets`, a backward loop
over every row of the train batch in Python (12,000+ rows for the six-task PPO
example). The recursion

    A_t = delta_t + gamma * lambda * propagate_t * A_{t+1}

restarts wherever `propagate_t` is 0 (a terminated or truncated row: a chunk's
last step), so the batch splits into segments, and on each segment A is a
discounted reverse cumulative sum of the TD residuals: one `scipy.signal.lfilter`
call per segment (a chunk: tens per batch) instead of one Python iteration per row.
The result equals `compute_value_targets` to within float rounding (tested), row
for row, including what it computes on the bootstrap rows (they start the next
chunk's segment); advantages are then standardized over all rows, bootstrap rows
included, exactly as RLlib's piece does.

`FragmentGAE`, the learner piece of PPO's fast path, then drops the bootstrap
rows: they only carried V(s) of each chunk's final observation, and without them
every minibatch row is a sample of the loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.utils.annotations import override
from scipy.signal import lfilter

from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.fragment_batch import POLICY_COLUMNS

#: The columns PPO's loss reads (and the statistics update: OBS, TASK_ID).
LOSS_COLUMNS = (Columns.OBS, Columns.ACTIONS, TASK_ID, *POLICY_COLUMNS)


def value_targets(
    values: np.ndarray,
    rewards: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    gamma: float,
    lambda_: float,
) -> np.ndarray:
    """RLlib's `compute_value_targets` (same arguments, same convention), vectorized.

    Returns:
        float32 value targets A_t + V(s_t), one per row.
    """
    values = np.asarray(values, dtype=np.float64)
    non_terminal = 1.0 - np.asarray(terminateds, dtype=np.float64)
    propagate = non_terminal * (1.0 - np.asarray(truncateds, dtype=np.float64))
    next_values = np.append(values[1:], 0.0)
    deltas = np.asarray(rewards, dtype=np.float64) + gamma * non_terminal * next_values - values
    advantages = np.empty_like(deltas)
    decay = gamma * lambda_
    # Segment ends: rows the recursion does not propagate into, and the last row.
    ends = np.append(np.flatnonzero(propagate == 0.0), len(deltas) - 1)
    start = 0
    for end in np.unique(ends):
        reverse = deltas[start : end + 1][::-1]
        advantages[start : end + 1] = lfilter([1.0], [1.0, -decay], reverse)[::-1]
        start = end + 1
    return (advantages + values).astype(np.float32)


def standardized(advantages: np.ndarray) -> np.ndarray:
    """(A - mean) / max(1e-4, std), as RLlib's GAE piece standardizes them."""
    return (advantages - advantages.mean()) / max(1e-4, float(advantages.std()))


class FragmentGAE(ConnectorV2):
    """Learner piece: V(s) of every row, GAE, then the loss rows only.

    Takes `FragmentBatch`'s output (bootstrap rows included, `LOSS_MASK` False
    there) and returns, per module, `LOSS_COLUMNS` plus `ADVANTAGES` (standardized)
    and `VALUE_TARGETS` on the rows with `LOSS_MASK` True, in batch order.
    """

    def __init__(
        self, input_observation_space=None, input_action_space=None, *, gamma, lambda_
    ):
        super().__init__(input_observation_space, input_action_space)
        self.gamma = gamma
        self.lambda_ = lambda_

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> Any:
        out = {}
        for module_id, module_batch in batch.items():
            module = rl_module[module_id]
            if not isinstance(module, ValueFunctionAPI):
                out[module_id] = module_batch
                continue
            with torch.no_grad():
                values = module.compute_values(module_batch).cpu().numpy()
            targets = value_targets(
                values,
                _numpy(module_batch[Columns.REWARDS]),
                _numpy(module_batch[Columns.TERMINATEDS]),
                _numpy(module_batch[Columns.TRUNCATEDS]),
                self.gamma,
                self.lambda_,
            )
            advantages = standardized(targets - values).astype(np.float32)
            keep = torch.as_tensor(module_batch[Columns.LOSS_MASK]).bool()
            kept = {key: module_batch[key][keep] for key in LOSS_COLUMNS}
            kept[Columns.ADVANTAGES] = torch.from_numpy(advantages)[keep]
            kept[Columns.VALUE_TARGETS] = torch.from_numpy(targets)[keep]
            out[module_id] = kept
        return out


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
