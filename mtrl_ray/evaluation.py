"""N-episode evaluation of a checkpoint on runners pinned per task -> a table.

The checkpoint's module (with its per-task normalization statistics, frozen) is
loaded onto one evaluation runner per task; each runs `episodes` complete
episodes in parallel envs, and the table reports the mean +- std of the
undiscounted return per task, as the paper does (20 rollouts per environment).

Sampled episodes go to `evaluation.json`, mean-action episodes (`--deterministic`) to
`evaluation_deterministic.json`, so one checkpoint can hold both. The paper's
evaluation script (jasonkrone/elen6885-final-project, src/get_results_multihead.py)
acted with the mean.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mtrl_ray import evaluation_runners as runners
from mtrl_ray import recording
from mtrl_ray.checkpoints import CheckpointError, CheckpointInfo, read_checkpoint, write_text_whole
from mtrl_ray.recording import VideoSettings


def evaluation_stem(deterministic: bool, name: str = "evaluation") -> str:
    """File stem of an evaluation (or of a transfer matrix, `name="transfer"`):
    sampled and mean-action results are kept apart."""
    return f"{name}_deterministic" if deterministic else name


@dataclass(frozen=True)
class TaskResult:
    """Evaluation of one head on one environment.

    Attributes:
        task: Environment the episodes ran on.
        head: Task whose head (and normalization statistics) acted.
        episodes: Number of complete episodes.
        mean: Mean undiscounted return.
        std: Standard deviation of the return (population, ddof=0).
        returns: Every episode's return.
        videos: Recorded episodes (MP4 paths), if any.
    """

    task: str
    head: str
    episodes: int
    mean: float
    std: float
    returns: tuple[float, ...]
    videos: tuple[str, ...] = ()


def chosen_tasks(info: CheckpointInfo, tasks: list[str] | None) -> list[str]:
    """The tasks to evaluate; each must have a head in the checkpoint."""
    from mtrl_ray.tasks.task_set import canonical_task_name

    if not tasks:
        return list(info.tasks)
    chosen = [canonical_task_name(t) for t in tasks]
    missing = [t for t in chosen if t not in info.tasks]
    if missing:
        raise CheckpointError(
            f"checkpoint has no head for {', '.join(missing)}; its tasks: {', '.join(info.tasks)}"
        )
    return chosen


def check_transfer_sizes(info: CheckpointInfo, head: str, variants: list[str]) -> None:
    """Raises CheckpointError unless every variant has the head's observation/action sizes.

    A head acts on another body only if the sizes agree (a HalfCheetah head on a
    Walker2d does: both 17/6; on a Hopper, 11/3, it cannot).
    """
    from mtrl_ray.envs import task_shape

    own = info.task_sizes[head]
    for variant in variants:
        if task_shape(variant) != own:
            raise CheckpointError(
                f"head {head} (observation/action sizes {own[0]}/{own[1]}) cannot act on "
                f"{variant} ({task_shape(variant)[0]}/{task_shape(variant)[1]}): sizes differ"
            )


def check_out_dir(out: Path) -> None:
    """Raises CheckpointError unless results can be written into folder `out`.

    Checked before any episode runs: a file in the way or a folder that cannot be
    written would otherwise lose the results after all the episodes.
    """
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"--out {out} is a file, not a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CheckpointError(f"--out {out}: cannot write into {existing}")


def evaluate_checkpoint(
    path: str | Path,
    tasks: list[str] | None = None,
    episodes: int = 20,
    deterministic: bool = False,
    seed: int = 0,
    head: str | None = None,
    video: VideoSettings | None = None,
    video_dir: Path | None = None,
) -> list[TaskResult]:
    """Runs `episodes` episodes per chosen task with the checkpoint's policy.

    Args:
        path: Checkpoint directory (from `rllib train`).
        tasks: Environments to evaluate (default: all of the checkpoint's tasks).
            Without `head`, each must have a head in the checkpoint.
        episodes: Complete episodes per task.
        deterministic: Act with the Gaussian mean instead of sampling (as the paper's
            evaluation script did).
        seed: Base seed of the evaluation envs.
        head: Act with this task's head (and its normalization statistics) on every
            environment in `tasks`: zero-shot transfer.
        video: Record the first `video.episodes` episodes of every task as MP4.
        video_dir: Where the driver writes them (`Recording.file_name`); their paths
            are in each result's `videos`.
    """
    kinds = evaluate_kinds(path, tasks, episodes, (deterministic,), seed, head, video, video_dir)
    return kinds[deterministic]


def evaluate_kinds(
    path: str | Path,
    tasks: list[str] | None = None,
    episodes: int = 20,
    kinds: tuple[bool, ...] = (False, True),
    seed: int = 0,
    head: str | None = None,
    video: VideoSettings | None = None,
    video_dir: Path | None = None,
) -> dict[bool, list[TaskResult]]:
    """`evaluate_checkpoint` for each kind in `kinds` (False: sampled actions, True: the
    mean action) on one set of runners: {kind: results}.

    Each kind's episodes start from the same env seeds as on runners of their own
    (RLlib seeds the envs again at every `sample(num_episodes=...)`), so the results
    equal separate `evaluate_checkpoint` calls; the runners start once. Videos: one
    kind per call (a runner records its first episodes only).

    Raises:
        ValueError: `kinds` empty or repeated, or a video with more than one kind.
    """
    from mtrl_ray.tasks.task_set import canonical_task_name

    if not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds: sampled (False) and mean (True), each at most once: {kinds}")
    if video is not None and len(kinds) > 1:
        raise ValueError("a video records one kind of action: evaluate one kind per call")
    info = read_checkpoint(path)
    first = kinds[0]
    if head is None:
        chosen = chosen_tasks(info, tasks)
        group = runners.make_evaluation_runners(info, episodes, first, seed, video=video)
    else:
        head = chosen_tasks(info, [head])[0]
        chosen = [canonical_task_name(t) for t in (tasks or info.tasks)]
        check_transfer_sizes(info, head, chosen)
        group = runners.make_evaluation_runners(info, episodes, first, seed, head, chosen, video)
    try:
        runs = {
            kind: runners.sample_episodes(group, info, chosen, episodes, video, explore=not kind)
            for kind in kinds
        }
    finally:
        group.stop()
    return {
        kind: _task_results(info, chosen, episodes, head, run, video_dir)
        for kind, run in runs.items()
    }


def _task_results(
    info: CheckpointInfo,
    chosen: list[str],
    episodes: int,
    head: str | None,
    runs: list[tuple[str, list[float], list[recording.Recording]]],
    video_dir: Path | None,
) -> list[TaskResult]:
    """One TaskResult per chosen task from `sample_episodes`' runs (videos written)."""
    by_task = {name: rets for name, rets, _ in runs}
    recordings = [rec for name in chosen for t, _, recs in runs if t == name for rec in recs]
    videos: dict[str, list[str]] = {}
    if recordings:
        paths = recording.write_recordings(recordings, video_dir or info.path / "videos")
        for rec, path in zip(recordings, paths, strict=True):
            videos.setdefault(rec.task, []).append(str(path))
    results = []
    for name in chosen:
        rets = np.asarray(by_task[name][:episodes])
        mean, std = float(rets.mean()), float(rets.std())
        results.append(
            TaskResult(
                name, head or name, len(rets), mean, std, tuple(rets), tuple(videos.get(name, ()))
            )
        )
    return results


def format_table(results: list[TaskResult], title: str = "") -> str:
    """A Markdown table: environment | head | episodes | return (mean +- std)."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| environment | head | episodes | return |", "| --- | --- | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r.task} | {r.head} | {r.episodes} | {r.mean:.2f} ± {r.std:.2f} |")
    return "\n".join(lines) + "\n"


def write_results(
    results: list[TaskResult],
    out_dir: Path,
    checkpoint: Path,
    deterministic: bool,
    stem: str = "evaluation",
    text: str | None = None,
) -> tuple[Path, Path]:
    """Writes `<stem>.json` and `<stem>.md` into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    payload = {
        "checkpoint": str(checkpoint),
        "deterministic": deterministic,
        "results": [asdict(r) for r in results],
    }
    write_text_whole(json_path, json.dumps(payload, indent=2))
    write_text_whole(md_path, text or format_table(results, title=f"Evaluation of {checkpoint}"))
    return json_path, md_path
