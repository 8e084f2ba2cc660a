"""The paper's Table 2 over seeds: evaluate each method's checkpoints, write table2.json.

Methods (one Tune experiment each, one trial per seed, as `rllib train --seeds`
writes them; every checkpoint's manifest says how many env steps it had seen):

- scratch: `halfcheetah_scratch_independent.py` (six independent agents), at
  1M and 3M frames per task;
- vanilla multi-task: `halfcheetah_vanilla_multitask.py`, 1M frames per task;
- vanilla multi-task, the paper's code layout: the same with one shared actor
  layer and one RMSprop per task (`halfcheetah_vanilla_multitask_code_layout.py`);
- distillation: `halfcheetah_multitask_distillation.py` from the 3M scratch agents
  of the same seed, 1M frames per task.

For each (method, seed) the milestone checkpoint is copied to
`<results>/table2/<method>/seed<N>/`, evaluated there with `rllib evaluate`
(20 episodes per task, sampled and mean action; an evaluation already there is
kept), and every record goes to `<results>/table2.json`. A method or seed whose
run has not reached its milestone is left out and named.

How to run (after the runs, from the repository root):
    python tuned_examples/a2c/halfcheetah_table2.py --runs runs --results results
    rllib report --table results/table2.json --out results/report_table2 --paper
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from mtrl_ray.envs import PAPER_TASKS

REPO = Path(__file__).resolve().parents[2]
TASKS = len(PAPER_TASKS)
#: method name -> (experiment folder name, env steps per task at the milestone).
METHODS = {
    "scratch (1M)": ("halfcheetah_scratch_independent", 1_000_000),
    "scratch (3M)": ("halfcheetah_scratch_independent", 3_000_000),
    "vanilla multi-task (1M)": ("halfcheetah_vanilla_multitask", 1_000_000),
    "vanilla multi-task, code layout (1M)": (
        "halfcheetah_vanilla_multitask_code_layout",
        1_000_000,
    ),
    "distillation multi-task (1M)": ("halfcheetah_multitask_distillation", 1_000_000),
}


def slug(method: str) -> str:
    """A folder name for a method: `vanilla_multi-task_code_layout_1M`."""
    return "_".join(method.replace(",", "").replace("(", "").replace(")", "").split())


def evaluate(checkpoint: Path, episodes: int) -> None:
    """`rllib evaluate` both kinds into the checkpoint folder, unless already there."""
    from mtrl_ray.cli import main

    kinds = ((False, "evaluation.json"), (True, "evaluation_deterministic.json"))
    for deterministic, name in kinds:
        if (checkpoint / name).is_file():
            continue
        argv = ["evaluate", str(checkpoint), "--episodes", str(episodes)]
        if main(argv + (["--deterministic"] if deterministic else [])) != 0:
            raise SystemExit(f"evaluating {checkpoint} failed")


def build(runs: Path, results: Path, seeds: list[int], episodes: int) -> int:
    """Copies, evaluates and tables every milestone found; returns an exit code."""
    from mtrl_ray.checkpoints import checkpoints_by_env_steps
    from mtrl_ray.tables import records_from_checkpoint, write_records

    records, missing = [], []
    for method, (experiment, per_task) in METHODS.items():
        for seed in seeds:
            # One experiment with a trial per seed, or (distillation: each seed has
            # its own teachers) one experiment per seed.
            trial = f"seed{seed}"
            trials = [runs / experiment / trial, runs / f"{experiment}_{trial}" / trial]
            found = [checkpoints_by_env_steps(t).get(per_task * TASKS) for t in trials]
            source = next((f for f in found if f is not None), None)
            if source is None:
                missing.append(f"{method} seed {seed}")
                continue
            copy = results / "table2" / slug(method) / f"seed{seed}" / source.name
            if not copy.exists():
                shutil.copytree(source, copy)
            evaluate(copy, episodes)
            records += records_from_checkpoint(method, seed, copy, REPO)
    write_records(results / "table2.json", records)
    print(f"wrote {results / 'table2.json'}: {len(records)} records")
    if missing:
        print("not (yet) reached: " + "; ".join(missing))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the experiments' folder")
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sys.exit(build(args.runs, args.results.resolve(), seeds, args.episodes))
