"""mtrl-ray: multi-task RL for continuous control on Ray RLlib."""
