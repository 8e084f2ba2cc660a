"""Running experiments: `rllib train` on Ray Tune (trials, checkpoints, recovery)."""

from mtrl_ray.training.experiment import (
    Experiment,
    RunSettings,
    TrainingError,
    prepare,
    run,
    train,
)

__all__ = ["Experiment", "RunSettings", "TrainingError", "prepare", "run", "train"]
