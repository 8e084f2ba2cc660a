"""Synchronous advantage actor-critic (A2C), as in Arora et al. section 3.1.2."""

from mtrl_ray.algorithms.a2c.a2c import A2C, A2CConfig

__all__ = ["A2C", "A2CConfig"]
