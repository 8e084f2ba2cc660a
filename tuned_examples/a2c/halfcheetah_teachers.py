"""Trains the distillation teachers: single-task A2C on each of the paper's six tasks.

Each teacher is `halfcheetah_scratch.py` on one task, trained one after another in
one Ray session into `<storage-path>/teacher_<task>`. Running the command again
skips finished teachers and resumes an interrupted one from its last checkpoint.

How to run (the committed teachers in results/teachers_raw/ were made with this, 1M
frames each, into /work/runs/teachers_raw, then each final checkpoint was copied to
results/teachers_raw/<task>/checkpoint; the paper trained its teachers for 3M):
    python tuned_examples/a2c/halfcheetah_teachers.py --stop-timesteps 1000000 \
        --storage-path runs/teachers

Then distil from them:
    rllib train file tuned_examples/distill/halfcheetah_multitask_distillation.py \
        --config '{"teachers": "runs/teachers"}'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtrl_ray.envs import PAPER_TASKS

SCRATCH = Path(__file__).with_name("halfcheetah_scratch.py")
#: Marks a teacher whose run reached its stop condition.
FINISHED = "FINISHED"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint of a run folder, if any."""
    from mtrl_ray.checkpoints import newest_checkpoint

    return newest_checkpoint(run_dir / "checkpoints")


def train_teachers(tasks: list[str], stop_timesteps: int, storage: Path, seed: int) -> int:
    """Trains (or resumes, or skips) one teacher per task; returns an exit code."""
    from mtrl_ray.cli import main

    for task in tasks:
        run_dir = storage / f"teacher_{task}"
        if (run_dir / FINISHED).exists():
            print(f"{task}: finished earlier, skipped", flush=True)
            continue
        argv = ["train", "file", str(SCRATCH), "--tasks", task, "--seed", str(seed)]
        argv += ["--stop-timesteps", str(stop_timesteps), "--storage-path", str(storage)]
        argv += ["--name", run_dir.name, "--checkpoint-every", "20"]
        resume = latest_checkpoint(run_dir)
        if resume is not None:
            argv += ["--restore", str(resume)]
        code = main(argv)
        if code != 0:
            return code
        (run_dir / FINISHED).write_text(f"{latest_checkpoint(run_dir)}\n")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(PAPER_TASKS), help="comma-separated tasks")
    parser.add_argument("--stop-timesteps", type=int, default=3_000_000, help="frames per teacher")
    parser.add_argument("--storage-path", type=Path, default=Path("runs/teachers"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.exit(
        train_teachers(args.tasks.split(","), args.stop_timesteps, args.storage_path, args.seed)
    )
