"""mtrl-ray: multi-task RL for continuous control on Ray RLlib.

Importing the package registers the gym-extensions MuJoCo variants (HalfCheetah,
Hopper, Walker2d, Humanoid body parts and gravity) with gymnasium.
"""

from mtrl_ray import envs as _envs  # noqa: F401
