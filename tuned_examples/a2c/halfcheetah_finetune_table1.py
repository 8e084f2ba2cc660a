"""The paper's Table 1 protocol: fine-tune E1 -> E2 and E2 -> E1, evaluate on both.

For each direction, `halfcheetah_finetune.py` (last layers only, the paper's
constant learning rate, so a 1M milestone of a 5M run is a 1M run) trains on the
target task from the source task's single-task checkpoint of the same seed, saving
a checkpoint at every `--frames` milestone; each milestone (and each source
checkpoint, the "scratch" rows: each environment's own agent) is evaluated for
`--episodes` episodes on E1 and on E2 with the target task's head, with sampled
actions and with the mean action (the paper's text samples its rollouts, its
evaluation script acted with the mean). Writes `table1.md` (sampled),
`table1_deterministic.md` and `table1.json` into `--storage-path`; with `--results`,
the evaluated checkpoints are copied to `<results>/table1_matched/<row>/seed<N>/` and their
records (one per row, task, seed and evaluation kind) merged into
`<results>/table1.json` (render it with `rllib report --table`). Re-running
resumes: finished milestones are not trained or evaluated again.

Sources: `<sources>/<task>/seed<N>/` (an experiment of
`halfcheetah_table1_source.py`, 5M frames as in the paper), else `<sources>/<task>/`
or `<sources>/teacher_<task>/` (as `halfcheetah_teachers.py` writes them).

How to run (defaults: E1 = SmallFoot, E2 = SmallLeg, sources = the committed
1M-frame teachers in results/teachers_raw/, 1M frames):
    python tuned_examples/a2c/halfcheetah_finetune_table1.py --storage-path runs/table1
    python tuned_examples/a2c/halfcheetah_finetune_table1.py --sources runs/table1_sources \
        --seed 0 --frames 1000000,5000000 --storage-path runs/table1 --results results
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FINETUNE = Path(__file__).with_name("halfcheetah_finetune.py")
#: Env steps per iteration of the fine-tune example: 50 updates x 16 envs x t_max 5.
FRAMES_PER_ITERATION = 50 * 16 * 5


def source_checkpoint(sources: Path, task: str, seed: int) -> Path:
    """The single-task checkpoint of `task`: seed `seed`'s final one, or a teacher's."""
    from mtrl_ray.checkpoints import newest_checkpoint
    from mtrl_ray.teachers import find_teacher_checkpoint

    found = newest_checkpoint(sources / task / f"seed{seed}")
    return found if found is not None else find_teacher_checkpoint(sources, task)


def fine_tune(
    source: Path, target: str, frames: list[int], run_dir: Path, seed: int
) -> dict[int, Path]:
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
            argv += ["--tasks", target, "--seed", str(seed)]
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


def evaluate(
    checkpoint: Path, head: str, tasks: list[str], episodes: int, deterministic: bool
) -> dict[str, dict]:
    """{task: {mean, std}} of `head` on each task, cached beside the checkpoint.

    A missing cache is filled for both kinds (sampled and mean actions) at once: one
    set of evaluation runners for the two (`evaluate_kinds`, results as if separate).
    """
    from mtrl_ray.checkpoints import write_text_whole
    from mtrl_ray.evaluation import evaluate_kinds, evaluation_stem

    cache = checkpoint / f"{evaluation_stem(deterministic, f'table1_{head}')}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    missing = tuple(
        kind for kind in (deterministic, not deterministic)
        if not (checkpoint / f"{evaluation_stem(kind, f'table1_{head}')}.json").exists()
    )  # fmt: skip
    for kind, results in evaluate_kinds(checkpoint, tasks, episodes, missing, head=head).items():
        table = {r.task: {"mean": r.mean, "std": r.std, "episodes": r.episodes} for r in results}
        path = checkpoint / f"{evaluation_stem(kind, f'table1_{head}')}.json"
        write_text_whole(path, json.dumps(table, indent=2))
    return json.loads(cache.read_text())


def short(task: str) -> str:
    """`HalfCheetahSmallFoot-v0` -> `SmallFoot`."""
    return task.removeprefix("HalfCheetah").removesuffix("-v0")


def scratch_method(task: str, checkpoint: Path) -> str:
    """`scratch SmallFoot (5M)`: the env steps from the manifest (older ones lack them)."""
    from mtrl_ray.checkpoints import read_checkpoint

    steps = read_checkpoint(checkpoint).provenance.get("env_steps")
    return f"scratch {short(task)}" + (f" ({steps / 1e6:g}M)" if steps is not None else "")


def records(
    method: str, checkpoint: Path, head: str, tasks: list[str], seed: int, root: Path
) -> list:
    """Table records (both kinds) of `head` on `tasks` from the cached evaluations."""
    from mtrl_ray.evaluation import evaluation_stem
    from mtrl_ray.tables import Record

    found = []
    for deterministic, kind in ((False, "sampled"), (True, "mean_action")):
        path = checkpoint / f"{evaluation_stem(deterministic, f'table1_{head}')}.json"
        rel = str(path.resolve().relative_to(root.resolve()))
        for task, r in json.loads(path.read_text()).items():
            if task in tasks:
                found.append(Record(method, task, seed, kind, r["mean"], r["std"],
                                    r["episodes"], rel))  # fmt: skip
    return found


def merge_records(path: Path, new: list, seed: int) -> None:
    """Replaces `seed`'s records of the same methods in a table file (or starts it)."""
    from mtrl_ray.tables import read_records, write_records

    methods = {r.method for r in new}
    kept = [r for r in read_records(path) if not (r.seed == seed and r.method in methods)] \
        if path.exists() else []  # fmt: skip
    write_records(path, kept + new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e1", default="HalfCheetahSmallFoot-v0")
    parser.add_argument("--e2", default="HalfCheetahSmallLeg-v0")
    parser.add_argument(
        "--sources",
        type=Path,
        default=REPO / "results" / "teachers_raw",
        help="folder of single-task checkpoints (<task>/seed<N>/, <task>/ or teacher_<task>/)",
    )
    parser.add_argument("--seed", type=int, default=0, help="of the sources and the fine-tuning")
    parser.add_argument("--frames", default="1000000", help="comma-separated milestones")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--storage-path", type=Path, default=Path("runs/table1"))
    parser.add_argument("--results", type=Path, help="copy, evaluate and table there")
    args = parser.parse_args()
    try:
        frames = sorted(int(f) for f in args.frames.split(","))
    except ValueError:
        parser.error(f"--frames: comma-separated integers, got {args.frames!r}")
    if min(frames) % FRAMES_PER_ITERATION or min(frames) <= 0:
        parser.error(f"--frames: milestones must be positive multiples of {FRAMES_PER_ITERATION}")
    # After the checks: bad input is answered before torch and MuJoCo load (seconds).
    from mtrl_ray.checkpoints import write_text_whole
    from mtrl_ray.evaluation import evaluation_stem

    tasks = [args.e1, args.e2]
    sources = {task: source_checkpoint(args.sources, task, args.seed) for task in tasks}

    # (method, label, frames, checkpoint, head) per row: the sources, then the fine-tuned.
    labels = {args.e1: "E1 (scratch)", args.e2: "E2 (scratch)"}
    rows = [
        (scratch_method(task, sources[task]), labels[task], "source", sources[task], task)
        for task in tasks
    ]
    for source, target, label in ((args.e1, args.e2, "E1 → E2"), (args.e2, args.e1, "E2 → E1")):
        run_dir = args.storage_path / f"finetune_{source}_to_{target}_seed{args.seed}"
        for f, checkpoint in fine_tune(sources[source], target, frames, run_dir, args.seed).items():
            method = f"{short(source)} → {short(target)} ({f / 1e6:g}M)"
            rows.append((method, label, f"{f / 1e6:g}M", checkpoint, target))
    if args.results is not None:  # evaluate copies, so that the files cited are in results/
        copies = []
        for method, label, frames_, checkpoint, head in rows:
            slug = method.replace(" → ", "_to_").replace(" (", "_").replace(")", "")
            copy = args.results / "table1_matched" / slug.replace(" ", "_") / f"seed{args.seed}"
            copy = copy / checkpoint.name
            if not copy.exists():  # whole or not at all: a cut copy is never `copy`
                partial = copy.with_name(copy.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                shutil.copytree(checkpoint, partial)
                partial.rename(copy)
            copies.append((method, label, frames_, copy, head))
        rows = copies

    args.storage_path.mkdir(parents=True, exist_ok=True)
    payload = [{"training": r[1], "frames": r[2], "checkpoint": str(r[3])} for r in rows]
    for deterministic in (False, True):
        actions = "mean actions" if deterministic else "sampled actions"
        lines = [
            f"E1 = {args.e1}, E2 = {args.e2}; seed {args.seed}; {args.episodes} episodes "
            f"per cell, {actions};",
            "fine-tuned rows act with the target task's head (last layers trained only).",
            "",
            "| training | frames | return on E1 | return on E2 |",
            "| --- | --- | ---: | ---: |",
        ]
        for (_, label, frames_, checkpoint, head), entry in zip(rows, payload, strict=True):
            table = evaluate(checkpoint, head, tasks, args.episodes, deterministic)
            entry[evaluation_stem(deterministic, "returns")] = table
            cells = [f"{table[t]['mean']:.2f} ± {table[t]['std']:.2f}" for t in tasks]
            lines.append(f"| {label} | {frames_} | {cells[0]} | {cells[1]} |")
        text = "\n".join(lines) + "\n"
        write_text_whole(args.storage_path / f"{evaluation_stem(deterministic, 'table1')}.md", text)
        print(text)
    write_text_whole(args.storage_path / "table1.json", json.dumps(payload, indent=2))
    if args.results is not None:
        root = args.results.resolve().parent  # paths relative to the repository
        new = [rec for m, _, _, c, h in rows for rec in records(m, c, h, tasks, args.seed, root)]
        merge_records(args.results / "table1.json", new, args.seed)
        print(f"merged {len(new)} records into {args.results / 'table1.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
