"""mtrl-ray: multi-task RL for continuous control on Ray RLlib.

Importing the package registers the gym-extensions MuJoCo variants (HalfCheetah,
Hopper, Walker2d, Humanoid body parts and gravity) with gymnasium.
`mtrl_ray.Policy` (a trained checkpoint's policy, outside training) is imported on
first use, so that importing the package stays light. Importing it on a Ray release
the project does not support raises ImportError (see `_rllib_compat.SUPPORTED_RAY`).
"""

from typing import Any

from mtrl_ray._rllib_compat import check_ray_version

check_ray_version()

from mtrl_ray import envs as _envs  # noqa: E402, F401  (after the version check)

__all__ = ["Policy"]


def __getattr__(name: str) -> Any:
    if name == "Policy":
        from mtrl_ray.policy import Policy

        return Policy
    raise AttributeError(f"module 'mtrl_ray' has no attribute {name!r}")
