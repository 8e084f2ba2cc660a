"""The paper's Table 1 protocol: fine-tune E1 -> E2 and E2 -> E1, evaluate on both.

For each direction, `halfcheetah_finetune.py` (last layers only) trains on the
target task from the source task's single-task checkpoint, saving a checkpoint at
every `--frames` milestone; each milestone (and each source checkpoint, the
"scratch" rows) is evaluated for `--episodes` episodes on E1 and on E2 with the
target task's head, with sampled actions and with the mean action (the paper's
evaluation script acted with the mean). Writes `table1.md` (sampled),
`table1_deterministic.md` and `table1.json` (both) into `--storage-path`.
Re-running resumes: finished milestones are not trained or evaluated again.

How to run (defaults: E1 = SmallFoot, E2 = SmallLeg, sources = the committed
teachers in results/teachers_raw/, 1M frames):
    python tuned_examples/a2c/halfcheetah_finetune_table1.py --storage-path runs/table1
    python tuned_examples/a2c/halfcheetah_finetune_table1.py --frames 1000000,5000000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FINETUNE = Path(__file__).with_name("halfcheetah_finetune.py")
#: Env steps per iteration of the fine-tune example: 50 updates x 16 envs x t_max 5.
FRAMES_PER_ITERATION = 50 * 16 * 5


def source_checkpoint(sources: Path, task: str) -> Path:
    """The single-task checkpoint of `task` in a teachers-style folder."""
    from mtrl_ray.teachers import find_teacher_checkpoint

    return find_teacher_checkpoint(sources, task)


def fine_tune(source: Path, target: str, frames: list[int], run_dir: Path) -> dict[int, Path]:
    """Trains target from source up to max(frames); returns {frames: checkpoint}.

    A run cut off earlier is resumed (`--resume`) rather than started again.
    """
    from mtrl_ray.cli import main

    if not all(f in checkpoints_by_frames(run_dir) for f in frames):
        where = ["--storage-path", str(run_dir.parent), "--name", run_dir.name]
        argv = ["train", "file", str(FINETUNE), *where]
        if run_dir.exists():
            argv += ["--resume"]
        else:
            every = min(frames) // FRAMES_PER_ITERATION
            argv += ["--tasks", target, "--seed", "0"]
            argv += ["--config", json.dumps({"fine_tune_from": str(source)})]
            argv += ["--stop-timesteps", str(max(frames)), "--checkpoint-every", str(every)]
        if main(argv) != 0:
            raise SystemExit(f"fine-tuning {run_dir.name} failed")
    found = checkpoints_by_frames(run_dir)
    return {f: found[f] for f in frames}


def checkpoints_by_frames(run_dir: Path) -> dict[int, Path]:
    """{env steps: checkpoint} of an experiment's trial, from the (complete) manifests."""
    from mtrl_ray.checkpoints import checkpoints_by_env_steps

    found = {}
    for trial in sorted(run_dir.glob("*/")):
        found.update(checkpoints_by_env_steps(trial))
    return found


def _suffix(deterministic: bool) -> str:
    """Names mean-action results apart from sampled ones (cache, table, JSON key)."""
    return "_deterministic" if deterministic else ""


def evaluate(
    checkpoint: Path, head: str, tasks: list[str], episodes: int, deterministic: bool
) -> dict[str, dict]:
    """{task: {mean, std}} of `head` on each task, cached beside the checkpoint."""
    from mtrl_ray.evaluation import evaluate_checkpoint

    cache = checkpoint / f"table1_{head}{_suffix(deterministic)}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    results = evaluate_checkpoint(checkpoint, tasks, episodes, deterministic, head=head)
    table = {r.task: {"mean": r.mean, "std": r.std, "episodes": r.episodes} for r in results}
    cache.write_text(json.dumps(table, indent=2))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e1", default="HalfCheetahSmallFoot-v0")
    parser.add_argument("--e2", default="HalfCheetahSmallLeg-v0")
    parser.add_argument(
        "--sources",
        type=Path,
        default=REPO / "results" / "teachers_raw",
        help="folder of single-task checkpoints (<task>/ or teacher_<task>/)",
    )
    parser.add_argument("--frames", default="1000000", help="comma-separated milestones")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--storage-path", type=Path, default=Path("runs/table1"))
    args = parser.parse_args()
    frames = sorted(int(f) for f in args.frames.split(","))
    tasks = [args.e1, args.e2]
    sources = {task: source_checkpoint(args.sources, task) for task in tasks}

    # (label, frames, checkpoint, head) per row: the sources, then the fine-tuned.
    rows = [
        ("E1 (scratch)" if task == args.e1 else "E2 (scratch)", "source", sources[task], task)
        for task in tasks
    ]
    for source, target, label in ((args.e1, args.e2, "E1 → E2"), (args.e2, args.e1, "E2 → E1")):
        run_dir = args.storage_path / f"finetune_{source}_to_{target}"
        for f, checkpoint in fine_tune(sources[source], target, frames, run_dir).items():
            rows.append((label, f"{f / 1e6:g}M", checkpoint, target))

    args.storage_path.mkdir(parents=True, exist_ok=True)
    payload = [{"training": r[0], "frames": r[1], "checkpoint": str(r[2])} for r in rows]
    for deterministic in (False, True):
        actions = "mean actions" if deterministic else "sampled actions"
        lines = [
            f"E1 = {args.e1}, E2 = {args.e2}; {args.episodes} episodes per cell, {actions};",
            "fine-tuned rows act with the target task's head (last layers trained only).",
            "",
            "| training | frames | return on E1 | return on E2 |",
            "| --- | --- | ---: | ---: |",
        ]
        for (label, frames_label, checkpoint, head), entry in zip(rows, payload, strict=True):
            table = evaluate(checkpoint, head, tasks, args.episodes, deterministic)
            entry[f"returns{_suffix(deterministic)}"] = table
            cells = [f"{table[t]['mean']:.2f} ± {table[t]['std']:.2f}" for t in tasks]
            lines.append(f"| {label} | {frames_label} | {cells[0]} | {cells[1]} |")
        text = "\n".join(lines) + "\n"
        (args.storage_path / f"table1{_suffix(deterministic)}.md").write_text(text)
        print(text)
    (args.storage_path / "table1.json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
