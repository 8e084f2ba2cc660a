"""EnvRunners pinned to one task."""

from mtrl_ray.runners.pinned_env_runner import PinnedEnvRunner

__all__ = ["PinnedEnvRunner"]
