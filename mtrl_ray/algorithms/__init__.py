"""Algorithms: A2C (single- and multi-task) on RLlib's new API stack."""
