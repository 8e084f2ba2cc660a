"""Evaluation runners: the checkpoint's module on runners pinned per task, and their episodes.

`mtrl_ray.evaluation` (tables of returns), `mtrl_ray.transfer` (zero-shot matrices)
and `mtrl_ray.gallery` (side-by-side GIFs) all sample through these. The module is
loaded from the checkpoint's weights-only file, never from RLlib's pickles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.env.env_runner_group import EnvRunnerGroup

from mtrl_ray import recording
from mtrl_ray.checkpoints import MANIFEST, WEIGHTS, CheckpointError, CheckpointInfo, read_weights
from mtrl_ray.recording import VideoSettings


def module_state(info: CheckpointInfo) -> dict[str, np.ndarray]:
    """The checkpoint's module tensors, from `module_weights.pt` (weights-only).

    Evaluation never unpickles RLlib's files, so a downloaded checkpoint can be
    evaluated without trusting it. The actor is built from the manifest and loaded
    here, so a missing tensor or one of the wrong shape fails before Ray starts.

    Raises:
        CheckpointError: no weights file (older checkpoints: `rllib upgrade-checkpoint`),
            an unreadable one, or tensors that do not fit the manifest's module.
    """
    from mtrl_ray.policy import build_module

    if info.observation_shape is None or not info.weights_path.is_file():
        raise CheckpointError(
            f"checkpoint {info.path} has no {WEIGHTS} (or no spaces in {MANIFEST}): "
            "add them with `rllib upgrade-checkpoint` (trusted checkpoints only)"
        )
    weights = read_weights(info, what="module weights")
    try:
        build_module(info, weights)
    except RuntimeError as e:  # load_state_dict: sizes that do not fit
        reason = str(e).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{info.weights_path} does not fit its manifest: {reason}") from None
    return {k: v.numpy() for k, v in weights.items()}


def make_evaluation_runners(
    info: CheckpointInfo,
    episodes: int,
    deterministic: bool = False,
    seed: int = 0,
    head: str | list[str] | None = None,
    variants: list[str] | None = None,
    video: VideoSettings | None = None,
) -> EnvRunnerGroup:
    """Evaluation runners loaded with the checkpoint's module.

    By default one runner per task of the checkpoint, pinned by worker index as in
    training; with `head` and `variants`, one runner per variant, all acting with
    that head (zero-shot transfer), or with `head[i]` on `variants[i]` if `head` is a
    list. With `video`, the envs render and record (see `mtrl_ray.recording`). Each
    has `episodes` envs, so every episode runs
    in parallel. The module's per-task normalization statistics come with its state
    and stay frozen: only a learner updates them. Actions reach the env as they did
    in training (rescaled and clipped, or raw: the manifest's `actions_for_env`).
    """
    from mtrl_ray.algorithms.a2c import A2CConfig

    state = module_state(info)
    env_config: dict[str, Any] = {"tasks": list(info.tasks)}
    num_runners = len(info.tasks)
    if head is not None:
        assert variants is not None, "a head acts on given variants"
        if isinstance(head, list):
            env_config.update(heads=list(head), variants=list(variants))
        else:
            env_config.update(head=head, variants=list(variants))
        num_runners = len(variants)
    if video is not None:
        env_config["record"] = video.env_config()
    config = (
        A2CConfig()
        .multi_task(list(info.tasks), runners_per_task=1)
        .rl_module(model_config=info.model_config)
        .environment(**info.actions_for_env)
        .evaluation(
            evaluation_num_env_runners=num_runners,
            evaluation_config={
                "num_envs_per_env_runner": episodes,
                "explore": not deterministic,
                "env_config": env_config,
            },
        )
        .debugging(seed=seed)
    )
    group = EnvRunnerGroup(config=config.get_evaluation_config_object(), local_env_runner=False)
    group.foreach_env_runner(lambda r: r.module.set_state(state), local_env_runner=False)
    return group


def run_episodes(
    group: EnvRunnerGroup,
    info: CheckpointInfo,
    tasks: list[str],
    episodes: int,
    video: VideoSettings | None = None,
) -> list[tuple[str, list[float], list[recording.Recording]]]:
    """`sample_episodes` with the group's own `explore`, then stops the group."""
    try:
        return sample_episodes(group, info, tasks, episodes, video)
    finally:
        group.stop()


def sample_episodes(
    group: EnvRunnerGroup,
    info: CheckpointInfo,
    tasks: list[str],
    episodes: int,
    video: VideoSettings | None = None,
    explore: bool | None = None,
) -> list[tuple[str, list[float], list[recording.Recording]]]:
    """Samples `episodes` episodes on the runners of `tasks` (`explore`: sampled or mean
    actions; None: as the runners' config says).

    Returns:
        Per runner, in worker order: its task, its episodes' returns and (with
        `video`) its recorded episodes.
    """
    heads = info.tasks
    settings = None if video is None else video.env_config()

    def sample(runner) -> tuple[int, str, list[float], list[recording.Recording]]:
        if settings is not None:
            recording.start_recording(runner, settings["episodes"])
        done = runner.sample(num_episodes=episodes, explore=explore)
        returns = [float(e.get_return()) for e in done]
        head = heads[runner.task_id]
        recorded = [] if settings is None else recording.collect_recordings(runner, settings, head)
        return runner.worker_index, runner.task_name, returns, recorded

    names = group.foreach_env_runner(lambda r: r.task_name, local_env_runner=False)
    wanted = [i + 1 for i, name in enumerate(names) if name in tasks]
    samples = group.foreach_env_runner(sample, local_env_runner=False, remote_worker_ids=wanted)
    return [run for _, *run in sorted(samples, key=lambda sample: sample[0])]
