"""Learner piece computing A2C's n-step bootstrapped returns and advantages.

With t_max-step fragments and GAE's lambda = 1, the value target of step t is

    R_t = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1} + gamma^k V(s_{t+k})

(paper, eq. 3), bootstrapping from V(s) where a fragment or a time limit cuts the
episode, and from 0 where the episode terminated. The batch must already hold
each fragment's bootstrap row (`LOSS_MASK` False): on the default lean path
`FragmentBatch` builds it, with `lean_connectors=False` RLlib's
`AddOneTsToEpisodesAndTruncate` appends it; `compute_value_targets` implements
the recursion. Unlike
RLlib's `GeneralAdvantageEstimation`, advantages are not standardized: A2C uses
them as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.utils.annotations import override
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets


class NStepReturns(ConnectorV2):
    """Writes `VALUE_TARGETS` (n-step returns) and `ADVANTAGES` (R_t - V(s_t))."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, gamma: float):
        super().__init__(input_observation_space, input_action_space)
        self.gamma = gamma

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> Any:
        for module_id, module_batch in batch.items():
            module = rl_module[module_id]
            if not isinstance(module, ValueFunctionAPI):
                continue
            with torch.no_grad():
                values = module.compute_values(module_batch)
            values_np = values.cpu().numpy()
            targets = compute_value_targets(
                values=values_np,
                rewards=_np(module_batch[Columns.REWARDS]),
                terminateds=_np(module_batch[Columns.TERMINATEDS]),
                truncateds=_np(module_batch[Columns.TRUNCATEDS]),
                gamma=self.gamma,
                lambda_=1.0,
            )
            module_batch[Columns.VALUE_TARGETS] = torch.as_tensor(targets, device=values.device)
            module_batch[Columns.ADVANTAGES] = torch.as_tensor(
                targets - values_np, device=values.device
            )
        return batch


def _np(x: Any) -> np.ndarray:
    return (
        x.detach().cpu().numpy().astype(np.float32)
        if torch.is_tensor(x)
        else np.asarray(x, dtype=np.float32)
    )
