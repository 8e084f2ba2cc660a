"""Per-task metrics exported to Prometheus (and so the Ray dashboard's metrics view).

Ray serves every `ray.util.metrics` metric on each node's metrics port
(`ray.nodes()[i]["MetricsExportPort"]`, path `/metrics`), prefixed `ray_`. The
runners report, tagged with their task: episode return, env steps, and env steps
per second of the last fragment; the driver reports the learner's update time.
"""

from __future__ import annotations

from functools import cache

from ray.util.metrics import Counter, Gauge

TASK_TAG = "task"


@cache
def runner_metrics() -> tuple[Gauge, Counter, Gauge]:
    """(episode return, env steps, env steps per second), created once per process."""
    return (
        Gauge("mtrl_ray_episode_return", "Undiscounted return of the last episode.", (TASK_TAG,)),
        Counter("mtrl_ray_env_steps", "Env steps sampled.", (TASK_TAG,)),
        Gauge("mtrl_ray_env_steps_per_second", "Env steps/s of the last sample call.", (TASK_TAG,)),
    )


@cache
def learner_update_seconds() -> Gauge:
    """Wall time of the last learner update (one A2C update of all tasks)."""
    return Gauge("mtrl_ray_learner_update_seconds", "Wall time of the last learner update.")


@cache
def teacher_pool_metrics() -> tuple[Gauge, Gauge]:
    """(query latency in seconds, query batch size) of the TeacherPool's last query."""
    return (
        Gauge("mtrl_ray_teacher_query_seconds", "TeacherPool: time to answer the last query."),
        Gauge("mtrl_ray_teacher_query_batch_size", "TeacherPool: rows of the last query."),
    )
