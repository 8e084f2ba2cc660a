"""N-episode evaluation of a checkpoint on runners pinned per task -> a table.

The checkpoint's module (with its per-task normalization statistics, frozen) is
loaded onto one evaluation runner per task; each runs `episodes` complete
episodes in parallel envs, and the table reports the mean +- std of the
undiscounted return per task, as the paper does (20 rollouts per environment).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.env.env_runner_group import EnvRunnerGroup

from mtrl_ray.checkpoints import CheckpointError, CheckpointInfo, read_checkpoint


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
    """

    task: str
    head: str
    episodes: int
    mean: float
    std: float
    returns: tuple[float, ...]


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


def make_evaluation_runners(
    info: CheckpointInfo, episodes: int, deterministic: bool = False, seed: int = 0
) -> EnvRunnerGroup:
    """One evaluation runner per task of the checkpoint, loaded with its module.

    Runners are pinned by worker index as in training, with `episodes` envs each so
    that every episode runs in parallel. The module's per-task normalization
    statistics come with its state and stay frozen: only a learner updates them.
    """
    from mtrl_ray.algorithms.a2c import A2CConfig

    state = RLModule.from_checkpoint(str(info.module_path)).get_state(inference_only=True)
    config = (
        A2CConfig()
        .multi_task(list(info.tasks), runners_per_task=1)
        .rl_module(model_config=info.model_config)
        .evaluation(
            evaluation_num_env_runners=len(info.tasks),
            evaluation_config={"num_envs_per_env_runner": episodes, "explore": not deterministic},
        )
        .debugging(seed=seed)
    )
    group = EnvRunnerGroup(config=config.get_evaluation_config_object(), local_env_runner=False)
    group.foreach_env_runner(lambda r: r.module.set_state(state), local_env_runner=False)
    return group


def evaluate_checkpoint(
    path: str | Path,
    tasks: list[str] | None = None,
    episodes: int = 20,
    deterministic: bool = False,
    seed: int = 0,
) -> list[TaskResult]:
    """Runs `episodes` episodes per chosen task with the checkpoint's policy.

    Args:
        path: Checkpoint directory (from `rllib train`).
        tasks: Tasks to evaluate (default: all of the checkpoint's).
        episodes: Complete episodes per task.
        deterministic: Act with the Gaussian mean instead of sampling (the paper sampled).
        seed: Base seed of the evaluation envs.
    """
    info = read_checkpoint(path)
    chosen = chosen_tasks(info, tasks)
    group = make_evaluation_runners(info, episodes, deterministic, seed)
    try:
        names = group.foreach_env_runner(lambda r: r.task_name, local_env_runner=False)
        wanted = [i + 1 for i, name in enumerate(names) if name in chosen]
        samples = group.foreach_env_runner(
            lambda r: (
                r.task_name,
                [float(e.get_return()) for e in r.sample(num_episodes=episodes)],
            ),
            local_env_runner=False,
            remote_worker_ids=wanted,
        )
    finally:
        group.stop()
    by_task = {name: rets[:episodes] for name, rets in samples}
    results = []
    for name in chosen:
        rets = np.asarray(by_task[name])
        results.append(
            TaskResult(name, name, len(rets), float(rets.mean()), float(rets.std()), tuple(rets))
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
    results: list[TaskResult], out_dir: Path, checkpoint: Path, deterministic: bool
) -> tuple[Path, Path]:
    """Writes `evaluation.json` and `evaluation.md` into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    payload = {
        "checkpoint": str(checkpoint),
        "deterministic": deterministic,
        "results": [asdict(r) for r in results],
    }
    json_path.write_text(json.dumps(payload, indent=2))
    md_path.write_text(format_table(results, title=f"Evaluation of {checkpoint}"))
    return json_path, md_path
