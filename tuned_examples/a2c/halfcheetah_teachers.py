"""Trains the distillation teachers: single-task A2C on each of the paper's six tasks.

One Tune experiment with one trial per task (`halfcheetah_scratch.py` with the
tasks as a grid), each trial's folder named by its task, as distillation looks
teachers up. Running the command again resumes an interrupted experiment: finished
teachers stay, an unfinished one continues from its last checkpoint.

How to run (the committed teachers in results/teachers_raw/ were made with the
earlier one-after-another version of this script, 1M frames each; each final
checkpoint was copied to results/teachers_raw/<task>/checkpoint; the paper
trained its teachers for 3M):
    python tuned_examples/a2c/halfcheetah_teachers.py --stop-timesteps 1000000 \\
        --storage-path runs

Then distil from them:
    rllib train file tuned_examples/distill/halfcheetah_multitask_distillation.py \\
        --config '{"teachers": "runs/teachers"}'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtrl_ray.envs import PAPER_TASKS

SCRATCH = Path(__file__).with_name("halfcheetah_scratch.py")


def train_teachers(
    tasks: list[str], stop_timesteps: int, storage: Path, seed: int, name: str = "teachers"
) -> int:
    """Trains (or resumes) one teacher per task as trials of one experiment."""
    from mtrl_ray.cli import main

    where = ["--storage-path", str(storage), "--name", name]
    if (storage / name).exists():
        return main(["train", "file", str(SCRATCH), *where, "--resume"])
    grid = {"env_config": {"tasks": {"grid_search": [[task] for task in tasks]}}}
    argv = ["train", "file", str(SCRATCH), *where, "--seed", str(seed)]
    argv += ["--stop-timesteps", str(stop_timesteps), "--checkpoint-every", "20"]
    return main([*argv, "--config", json.dumps(grid)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(PAPER_TASKS), help="comma-separated tasks")
    parser.add_argument("--stop-timesteps", type=int, default=3_000_000, help="frames per teacher")
    parser.add_argument("--storage-path", type=Path, default=Path("runs"))
    parser.add_argument("--name", default="teachers", help="experiment (folder) name")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.exit(
        train_teachers(
            args.tasks.split(","), args.stop_timesteps, args.storage_path, args.seed, args.name
        )
    )
