"""mtrl-ray: multi-task RL for continuous control on Ray RLlib.

Importing the package registers the gym-extensions MuJoCo variants (HalfCheetah,
Hopper, Walker2d, Humanoid body parts and gravity) with gymnasium.
`mtrl_ray.Policy` (a trained checkpoint's policy, outside training) is imported on
first use, so that importing the package stays light. Importing it on a Ray release
the project does not support raises ImportError (see `_rllib_compat.SUPPORTED_RAY`).
"""

import os
from typing import Any

from mtrl_ray._rllib_compat import check_ray_version

check_ray_version()


def _mujoco_gl_error() -> str | None:
    """Why MuJoCo cannot be imported with the user's MUJOCO_GL, if it cannot.

    MuJoCo loads the rendering backend MUJOCO_GL names when it is imported, and a
    backend that is not installed (or a misspelt one) fails that import with one of
    several exceptions.
    """
    backend = os.environ.get("MUJOCO_GL")
    if not backend:
        return None
    try:
        import mujoco  # noqa: F401
    except Exception as e:  # RuntimeError, ImportError, AttributeError, ...
        return (
            f"MUJOCO_GL={backend}: MuJoCo cannot load this rendering backend "
            f"({type(e).__name__}: {e}); use MUJOCO_GL=egl (headless) or glfw, or unset it"
        )
    return None


#: Set when the environments could not be registered (a MUJOCO_GL MuJoCo cannot
#: load): `rllib` reports it in one line before anything runs; importing
#: `mtrl_ray.envs` raises MuJoCo's own error.
ENVIRONMENT_ERROR = _mujoco_gl_error()
if ENVIRONMENT_ERROR is None:
    from mtrl_ray import envs as _envs  # noqa: F401  (after the version check)

__all__ = ["Policy"]


def __getattr__(name: str) -> Any:
    if name == "Policy":
        from mtrl_ray.policy import Policy

        return Policy
    raise AttributeError(f"module 'mtrl_ray' has no attribute {name!r}")
