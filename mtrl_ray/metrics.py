"""Per-task metric keys: result dicts hold them under `env_runners/per_task/<task>`."""

#: Sub-dict of the env runner results with one entry per task name.
PER_TASK = "per_task"
#: Mean undiscounted return of the task's most recent episodes.
EPISODE_RETURN_MEAN = "episode_return_mean"
#: Episodes the task completed (lifetime).
NUM_EPISODES = "num_episodes_lifetime"
#: Env steps the task sampled (lifetime): a task's own frame count.
NUM_ENV_STEPS = "num_env_steps_sampled_lifetime"
#: Fraction of the task's recent fragments driven by its teacher (distillation).
TEACHER_FRAGMENT_FRACTION = "teacher_fragment_fraction"
#: `window` of a learner metric logged once per update whose result is the mean of
#: every update since the learner last reduced its metrics (RLlib empties a window at
#: each reduce, so this only has to exceed the values logged between two reduces).
SINCE_LAST_REDUCE = 1 << 20
