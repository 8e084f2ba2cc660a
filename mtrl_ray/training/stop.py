"""Stop and pass criteria: result keys checked before anything runs.

Tune stops a trial when a flattened result key (`a/b/c`) reaches its value, and a
key that never appears in a result never stops it: a typo would train forever.
So every key must be one this project's algorithms report: top-level counters,
the env runners' metrics, or a per-task metric of one of the experiment's tasks
(`env_runners/per_task/<task>/<metric>`), also under `evaluation/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Real

from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EVALUATION_RESULTS

from mtrl_ray import metrics

#: Top-level result keys.
TOP_LEVEL = (
    "training_iteration",
    "time_total_s",
    "time_since_restore",
    "iterations_since_restore",
    "num_env_steps_sampled_lifetime",
)
#: Keys under `env_runners/` (a bare one is taken to mean it, as RLlib's old
#: `rllib train` did).
RUNNER = (
    "episode_return_mean",
    "episode_return_max",
    "episode_return_min",
    "episode_len_mean",
    "num_episodes_lifetime",
    "num_env_steps_sampled_lifetime",
)
#: Keys under `env_runners/per_task/<task>/`.
PER_TASK = (
    metrics.EPISODE_RETURN_MEAN,
    metrics.NUM_EPISODES,
    metrics.NUM_ENV_STEPS,
    metrics.TEACHER_FRAGMENT_FRACTION,
)


def check_criteria(criteria: object, tasks: Iterable[str], what: str = "stop") -> dict[str, float]:
    """Canonical {flattened result key: threshold} of `criteria`.

    Args:
        criteria: {key: number}; a bare runner key (e.g. "episode_return_mean")
            becomes "env_runners/<key>".
        tasks: The experiment's task names (for per-task keys).
        what: How messages name the criteria ("stop", "pass_criteria").

    Raises:
        ValueError: one line naming the first key or value that cannot work.
    """
    if not isinstance(criteria, Mapping):
        raise ValueError(f"{what} must be a mapping of result key to number, got {criteria!r}")
    tasks = tuple(tasks)
    out: dict[str, float] = {}
    for key, value in criteria.items():
        if not isinstance(value, Real) or isinstance(value, bool):
            raise ValueError(f"{what}: {key!r} needs a number, got {value!r}")
        canonical = _canonical(str(key), tasks)
        if canonical is None:
            raise ValueError(
                f"{what}: unknown result key {key!r}; use one of {', '.join(TOP_LEVEL)}, "
                f"{ENV_RUNNER_RESULTS}/<{'|'.join(RUNNER)}>, or "
                f"{ENV_RUNNER_RESULTS}/{metrics.PER_TASK}/<task>/<{'|'.join(PER_TASK)}>"
            )
        out[canonical] = value if isinstance(value, int) else float(value)
    return out


def _canonical(key: str, tasks: tuple[str, ...]) -> str | None:
    if key in TOP_LEVEL:
        return key
    if key in RUNNER:
        return f"{ENV_RUNNER_RESULTS}/{key}"
    rest = key.removeprefix(f"{EVALUATION_RESULTS}/").removeprefix(f"{ENV_RUNNER_RESULTS}/")
    if rest == key.removeprefix(f"{EVALUATION_RESULTS}/"):
        return None  # not under env_runners/
    if rest in RUNNER:
        return key
    # Task names may hold "/" themselves (mtrl_ray/PointMass-v0).
    task, _, metric = rest.removeprefix(f"{metrics.PER_TASK}/").rpartition("/")
    if rest.startswith(f"{metrics.PER_TASK}/") and task in tasks and metric in PER_TASK:
        return key
    return None


def for_tasks(criteria: Mapping[str, float], tasks: Iterable[str]) -> dict[str, float]:
    """`criteria` without the per-task keys of tasks not in `tasks`.

    A tuned example's pass criteria name each of its tasks; run on fewer
    (`--tasks`), the others' do not apply.
    """
    prefix = f"{ENV_RUNNER_RESULTS}/{metrics.PER_TASK}/"
    tasks = tuple(tasks)
    return {
        key: value
        for key, value in criteria.items()
        if not key.startswith(prefix) or key[len(prefix) :].rpartition("/")[0] in tasks
    }


def unmet(criteria: Mapping[str, float], result: Mapping[str, object]) -> list[str]:
    """The criteria a flattened result does not meet, as "key: value < threshold"."""
    failed = []
    for key, threshold in criteria.items():
        value = result.get(key)
        if not isinstance(value, Real) or value != value or value < threshold:
            failed.append(f"{key}: {value} < {threshold}")
    return failed
