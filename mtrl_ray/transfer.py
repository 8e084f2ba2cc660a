"""Zero-shot transfer matrix: each head of a checkpoint on each variant whose sizes fit.

A cell (head, variant) is the evaluation (`mtrl_ray.evaluation`) of one task's head,
with its frozen normalization statistics, on another body-part variant. A head acts
only on variants with its observation/action sizes, so across body families the
other cells stay empty. `rllib evaluate --transfer` writes the matrix to
`transfer.md`/`.json` (`transfer_deterministic.*` with the mean action).
"""

from __future__ import annotations

from pathlib import Path

from mtrl_ray import evaluation
from mtrl_ray.checkpoints import CheckpointError, CheckpointInfo, read_checkpoint
from mtrl_ray.evaluation import TaskResult
from mtrl_ray.recording import VideoSettings


def transfer_pairs(info: CheckpointInfo, variants: list[str]) -> dict[str, list[str]]:
    """For each head of the checkpoint, the variants of `variants` with its sizes.

    Raises:
        CheckpointError: No head fits any variant.
    """
    from mtrl_ray.envs import task_shape

    sizes = info.task_sizes
    pairs = {head: [v for v in variants if task_shape(v) == sizes[head]] for head in info.tasks}
    if not any(pairs.values()):
        raise CheckpointError(
            f"no head of {info.path} has the observation/action sizes of any of "
            f"{', '.join(variants)}: sizes differ"
        )
    return pairs


def default_transfer_variants(info: CheckpointInfo) -> list[str]:
    """The body-part variants of every body the checkpoint's heads were trained on
    (HalfCheetah's ten for a HalfCheetah checkpoint; theirs too if it has none)."""
    from mtrl_ray.envs import ALL_VARIANTS, FAMILIES, VARIANTS

    runners = dict.fromkeys(ALL_VARIANTS[t].runner for t in info.tasks if t in ALL_VARIANTS)
    return [name for runner in runners for name in FAMILIES[runner]] or list(VARIANTS)


def transfer_matrix(
    path: str | Path,
    variants: list[str],
    episodes: int = 20,
    seed: int = 0,
    video: VideoSettings | None = None,
    video_dir: Path | None = None,
    deterministic: bool = False,
) -> list[TaskResult]:
    """Every head of the checkpoint on every variant in `variants` (and their videos).

    A head runs only on the variants of its body's sizes (`transfer_pairs`): across
    body families the other cells of the matrix stay empty. `deterministic`: act
    with the mean action (else sampled).
    """
    info = read_checkpoint(path)
    return [
        result
        for head, fitting in transfer_pairs(info, variants).items()
        if fitting
        for result in evaluation.evaluate_checkpoint(
            path, fitting, episodes, deterministic, seed, head=head, video=video,
            video_dir=video_dir,
        )  # fmt: skip
    ]


def format_matrix(results: list[TaskResult], title: str = "") -> str:
    """A Markdown head x environment table of mean ± std returns."""
    heads = list(dict.fromkeys(r.head for r in results))
    envs = list(dict.fromkeys(r.task for r in results))
    cell = {(r.head, r.task): f"{r.mean:.1f} ± {r.std:.1f}" for r in results}
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| head \\ environment | " + " | ".join(envs) + " |",
        "| --- |" + " ---: |" * len(envs),
    ]
    lines += [f"| {h} | " + " | ".join(cell.get((h, e), "") for e in envs) + " |" for h in heads]
    return "\n".join(lines) + "\n"
