"""mtrl-ray: multi-task RL for continuous control on Ray RLlib.

Importing the package registers the HalfCheetah morphology variants with gymnasium.
"""

from mtrl_ray import envs as _envs  # noqa: F401
