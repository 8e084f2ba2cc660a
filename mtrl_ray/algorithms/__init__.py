"""Algorithms on RLlib's new API stack, all multi-task on pinned runners.

`a2c` (the paper's A2C, single- and multi-task, and fine-tuning), `distill`
(multi-task distillation from per-task teachers), `ppo` and `appo` (RLlib's PPO
and APPO with the multi-head module), `pcgrad` (gradient surgery for A2C joint
updates and PPO), `multi_task_learner` (per-task rows and loss metrics, shared by
the learners), and the config mixins every algorithm uses
(`pinned_tasks_config`, `batch_per_task_config`).
"""
