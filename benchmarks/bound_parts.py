"""The on-policy bounds' shared pieces (benchmarks/onpolicy_bound.py, issue 22).

The bound's arithmetic, env stepping with no policy in parallel processes (the
stepping ceiling, and throughput.py's raw stepping (a) with one process), a private
Ray with one algorithm built in it, and the report's table rows.
"""

from __future__ import annotations

import multiprocessing
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local_ray import start_ray
from throughput import raw_stepping


@dataclass(frozen=True)
class Bound:
    """A synchronous algorithm's bound; times in seconds per update (or round).

    An update of `steps` env steps takes at least its learner time, the driver's
    other work and S_min, the steps at the stepping ceiling: sampling cannot overlap
    the update when every update trains on fragments of the current policy.

    Attributes:
        t_sb3: SB3's time per update (rollout + train()).
        learner: Our learner's time per update (or a learner's we suppose).
        steps: Our env steps per update.
        ceiling: The fastest env steps/s with no policy (all cores stepping).
        minibatches: Minibatch steps per update.
        sb3_steps: SB3's env steps per update (0: `steps`, the same work).
        overhead: The driver's work per update besides sampling and the learner.
    """

    t_sb3: float
    learner: float
    steps: int
    ceiling: float
    minibatches: int = 1
    sb3_steps: int = 0
    overhead: float = 0.0

    @property
    def s_min(self) -> float:
        """The least sampling time per update: its steps at the stepping ceiling."""
        return self.steps / self.ceiling

    @property
    def rate(self) -> float:
        """The highest env steps/s: steps / (learner + overhead + S_min)."""
        return self.steps / (self.learner + self.overhead + self.s_min)

    @property
    def sb3_rate(self) -> float:
        """SB3's env steps/s."""
        return (self.sb3_steps or self.steps) / self.t_sb3

    @property
    def ratio(self) -> float:
        """The highest ours/SB3 (with the same work per update: T_sb3 / (L + S_min))."""
        return self.rate / self.sb3_rate

    def learner_needed(self, target: float, reference: float | None = None) -> float:
        """The learner time per update that allows ours/reference = `target`.

        Args:
            target: The ratio wanted.
            reference: The denominator's env steps/s (default SB3's).

        Returns:
            Seconds per update; at or below 0 when no learner reaches `target`.
        """
        reference = self.sb3_rate if reference is None else reference
        return self.steps / (target * reference) - self.s_min - self.overhead

    def per_minibatch_needed(self, target: float) -> float:
        """`learner_needed(target)` per minibatch step."""
        return self.learner_needed(target) / self.minibatches


def _step_worker(seconds: float, tasks: tuple[str, ...], barrier, results) -> None:
    results.put(raw_stepping(seconds, tasks, barrier=barrier))


def stepping(seconds: float, processes: int, tasks: tuple[str, ...]) -> float:
    """Env steps/s of `processes` processes each stepping `tasks` x 16 envs at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_step_worker, args=(seconds, tasks, barrier, results))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    rates = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


@contextmanager
def built_algo(config) -> Iterator[Any]:
    """`config`'s algorithm in a private Ray: a logical CPU per runner and one for the
    learner, as throughput.py's rows; stopped and Ray shut down on exit."""
    import ray

    start_ray(config.num_env_runners + 1)
    try:
        algo = config.build_algo()
        try:
            yield algo
        finally:
            algo.stop()
    finally:
        ray.shutdown()


def med(values: list[float]) -> float:
    return statistics.median(values)


def medians(node: dict) -> dict:
    """The same nesting with each list of values replaced by its median."""
    return {k: medians(v) if isinstance(v, dict) else med(v) for k, v in node.items()}


def col(reps: list[dict], *keys: str, scale: float = 1.0) -> list[float]:
    """One quantity of every repeat: reps[i][keys[0]][keys[1]]... x scale."""
    out = []
    for rep in reps:
        for key in keys:
            rep = rep[key]
        out.append(scale * rep)
    return out


def line(label: str, values: list[float], fmt: str = "{:.1f}") -> str:
    """A table row: label, median, every repeat."""
    each = ", ".join(fmt.format(v) for v in values)
    return f"| {label} | {fmt.format(med(values))} | {each} |"


def per_repeat(values: list[float], fmt: str = "{:.2f}") -> str:
    """`values` as the report lists them after 'per repeat:'."""
    return ", ".join(fmt.format(v) for v in values)


def ceiling_check(sampling: list[float], s_min: list[float]) -> list[str]:
    """A warning line when some repeat sampled faster than its ceiling allows."""
    if all(s >= m for s, m in zip(sampling, s_min, strict=True)):
        return []
    return [
        "- warning: sampling took less than S_min in some repeat: the ceiling was measured "
        "low (a loaded machine?), so this run's bounds are not bounds"
    ]
