"""Prometheus metrics of a run (and so the Ray dashboard's metrics view).

Ray serves every `ray.util.metrics` metric on each node's metrics port
(`ray.nodes()[i]["MetricsExportPort"]`, path `/metrics`) and prefixes its name
with `ray_`; a counter's exported name ends in `_total`. Every series carries the
run's `experiment` and `trial` tags (`run_tags`), so that two runs on one cluster,
e.g. two seeds of one Tune experiment, stay apart; the runners' series also carry
their `task`.

- `ray_mtrl_env_steps_total` (counter, per task): env steps sampled for training;
  `rate()` gives steps per second.
- `ray_mtrl_episode_return` (histogram, per task): undiscounted return of each
  training episode. Ray's histograms take no negative values: a return below 0
  counts as 0, in the lowest bucket.
- `ray_mtrl_learner_update_seconds` (histogram): wall time of each learner update,
  timed in the learner (A2C and distillation: one update of all tasks; PPO: one
  iteration's epochs of minibatches; APPO: each batch the learner takes).
- `ray_mtrl_teacher_query_seconds` (histogram) and `ray_mtrl_teacher_query_rows_total`
  (counter): the distillation TeacherPool's queries and the rows they answered.

A histogram's `_count` is exact; Ray exports its `_sum` from bucket midpoints, so
`_sum / _count` is an approximation whose precision is that of the buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import ray
from ray.util.metrics import Counter, Histogram

TASK_TAG = "task"
EXPERIMENT_TAG = "experiment"
TRIAL_TAG = "trial"
RUN_TAG_KEYS = (EXPERIMENT_TAG, TRIAL_TAG)
RUNNER_TAG_KEYS = (*RUN_TAG_KEYS, TASK_TAG)

#: Seconds, 1 ms to 30 s (Ray's boundaries must be positive).
LATENCY_BOUNDARIES = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
]  # fmt: skip
#: Undiscounted returns of 1000-step locomotion episodes (HalfCheetah's scale).
RETURN_BOUNDARIES = [
    1.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0, 4000.0,
    5000.0, 6000.0, 8000.0, 10000.0,
]  # fmt: skip


def run_tags(trial_info: Any | None, algorithm_name: str) -> dict[str, str]:
    """The `experiment` and `trial` tags of a run.

    Args:
        trial_info: Tune's trial info (`ray.tune.result.TRIAL_INFO` in the trainable's
            config), None outside Tune. Tags: the experiment's name (the run's folder,
            `rllib train --name`) and the trial's (e.g. `seed0`).
        algorithm_name: Outside Tune, the `experiment` tag (e.g. `A2C`); the `trial`
            tag is then `job-<Ray job id>`, which differs between two drivers on one
            cluster.
    """
    if trial_info is not None:
        experiment, trial = trial_info.experiment_name, trial_info.trial_name
        return {EXPERIMENT_TAG: str(experiment), TRIAL_TAG: str(trial)}
    job_id = ray.get_runtime_context().get_job_id() if ray.is_initialized() else "none"
    return {EXPERIMENT_TAG: algorithm_name, TRIAL_TAG: f"job-{job_id}"}


def complete_run_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """`experiment` and `trial` from `tags` (e.g. a config's `metrics_tags`), `none` if unset.

    Every series must carry both tags: a runner built from a config no Algorithm
    tagged still exports them, as `none`.
    """
    tags = tags or {}
    return {key: str(tags.get(key, "none")) for key in RUN_TAG_KEYS}


@cache
def runner_metrics() -> tuple[Histogram, Counter]:
    """(episode return, env steps), tagged by run and task; created once per process."""
    return (
        Histogram(
            "mtrl_episode_return",
            "Undiscounted return of each training episode (a return below 0 counts as 0).",
            boundaries=RETURN_BOUNDARIES,
            tag_keys=RUNNER_TAG_KEYS,
        ),
        Counter("mtrl_env_steps_total", "Env steps sampled for training.", RUNNER_TAG_KEYS),
    )


@cache
def learner_update_seconds() -> Histogram:
    """Wall time of each learner update (one A2C update of all tasks), tagged by run."""
    return Histogram(
        "mtrl_learner_update_seconds",
        "Wall time of each learner update.",
        boundaries=LATENCY_BOUNDARIES,
        tag_keys=RUN_TAG_KEYS,
    )


@cache
def teacher_pool_metrics() -> tuple[Histogram, Counter]:
    """(query latency in seconds, rows answered) of the TeacherPool, tagged by run."""
    return (
        Histogram(
            "mtrl_teacher_query_seconds",
            "TeacherPool: time to answer each query.",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=RUN_TAG_KEYS,
        ),
        Counter("mtrl_teacher_query_rows_total", "TeacherPool: rows answered.", RUN_TAG_KEYS),
    )


def observe_return(episode_return: float, tags: dict[str, str]) -> None:
    """Records one training episode's return (below 0: as 0, Ray's histograms refuse it)."""
    runner_metrics()[0].observe(max(float(episode_return), 0.0), tags=tags)
