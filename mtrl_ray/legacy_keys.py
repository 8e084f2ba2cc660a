"""State-dict names of older checkpoints, and the names the module has now.

Checkpoints saved before the actor was one submodule (`mtrl_ray.modules.actor`)
name its tensors `actor_trunk.*`, `actor_heads.*`, `actor_encoder.*`, `log_std`,
and APPO's target policy `_target_policy.*`. Loading renames them: RLlib's
`set_state` (restores, `RLModule.from_checkpoint`) through the module, and the
weights file through `mtrl_ray.checkpoints.read_weights`. Only names change: the
tensors, and the parameters' order (which optimizer states follow), stay the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")

#: (old name prefix, current prefix); the first that matches a name applies.
RENAMED_PREFIXES = (
    ("actor_encoder", "actor.encoder"),
    ("actor_trunk", "actor.trunk"),
    ("actor_heads", "actor.heads"),
    ("log_std", "actor.log_std"),
    ("_target_policy.obs_normalizer", "_target_obs_normalizer"),
    ("_target_policy", "_target_actor"),
)


def current_names(state: Mapping[str, V]) -> dict[str, V]:
    """`state` with older checkpoints' names replaced by the current ones.

    A name matches a prefix if it is the prefix or starts with it and a dot.
    Current names pass unchanged, so this can be applied to any module state.
    """
    return {_current(name): value for name, value in state.items()}


def _current(name: str) -> str:
    for old, new in RENAMED_PREFIXES:
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return name
