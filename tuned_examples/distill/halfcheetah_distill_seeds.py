"""Table 2's distillation column over seeds: seed s learns from seed s's scratch agents.

The teachers are the paper's: each task's single-task agent at 3M frames, here the
heads of `halfcheetah_scratch_independent.py`'s checkpoint at 3M frames per task
(trial `seed<s>`). Each seed is an experiment of its own,
`halfcheetah_multitask_distillation_seed<s>` (its teachers differ), running
`halfcheetah_multitask_distillation.py` (1M frames per task, the learning rate
decayed to 0 over the run). Running the command again resumes an experiment cut
off, and skips a finished one.

How to run (after the scratch run):
    python tuned_examples/distill/halfcheetah_distill_seeds.py \\
        --scratch runs/halfcheetah_scratch_independent --storage-path runs --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtrl_ray.envs import PAPER_TASKS

DISTILL = Path(__file__).with_name("halfcheetah_multitask_distillation.py")
TEACHER_FRAMES = 3_000_000 * len(PAPER_TASKS)


def teacher_checkpoint(scratch: Path, seed: int) -> Path:
    """The scratch trial's complete checkpoint at 3M frames per task."""
    from mtrl_ray.checkpoints import checkpoints_by_env_steps

    found = checkpoints_by_env_steps(scratch / f"seed{seed}").get(TEACHER_FRAMES)
    if found is not None:
        return found
    raise SystemExit(f"no checkpoint at {TEACHER_FRAMES} env steps in {scratch}/seed{seed}")


def distil(scratch: Path, storage: Path, seed: int, checkpoint_every: int) -> int:
    """Trains (or resumes) seed `seed`'s student; returns the exit code."""
    from mtrl_ray.cli import main

    name = f"{DISTILL.stem}_seed{seed}"
    where = ["--storage-path", str(storage), "--name", name]
    if (storage / name).exists():
        return main(["train", "file", str(DISTILL), *where, "--resume"])
    teacher = str(teacher_checkpoint(scratch, seed).resolve())
    config = {"teachers": {task: teacher for task in PAPER_TASKS}}
    argv = ["train", "file", str(DISTILL), *where, "--seeds", str(seed)]
    argv += ["--checkpoint-every", str(checkpoint_every), "--config", json.dumps(config)]
    return main(argv)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, required=True, help="the scratch experiment")
    parser.add_argument("--storage-path", type=Path, default=Path("runs"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--checkpoint-every", type=int, default=25)
    args = parser.parse_args()
    for s in (int(x) for x in args.seeds.split(",")):
        code = distil(args.scratch, args.storage_path, s, args.checkpoint_every)
        if code != 0:
            sys.exit(code)
