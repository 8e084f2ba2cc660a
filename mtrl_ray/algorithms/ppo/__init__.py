"""Multi-task PPO: RLlib's PPO on pinned runners with the multi-head module."""

from mtrl_ray.algorithms.ppo.multi_task_ppo import MultiTaskPPO, MultiTaskPPOConfig

__all__ = ["MultiTaskPPO", "MultiTaskPPOConfig"]
