"""Timing wrappers and the breakdown table of benchmarks/ppo_profile.py."""

from __future__ import annotations

import functools
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

SAMPLING = "sampling"
UPDATE = "learner group update"
CONNECTOR = "  learner connector on the episodes (GAE / v-trace inputs)"
TO_TENSORS = "  a given batch to tensors"
STEP = "  minibatch step (_update)"
STEP_PARTS = ("    forward", "    loss", "    zero_grad + backward", "    postprocess gradients",
              "    optimizer step")  # fmt: skip
DRIVER_PARTS = (SAMPLING, "env runner states sync", UPDATE, "weight sync")


class Recorder:
    """Times calls of wrapped methods; thread-safe (APPO's learner runs in a thread)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._calls: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def wrap(
        self,
        owner: Any,
        attr: str,
        name: str,
        other: tuple[str, Callable[..., bool]] | None = None,
    ) -> None:
        """Replaces `owner.attr` (on the instance or module) by a timed version.

        Args:
            owner: The object or module holding the callable.
            attr: Its attribute name.
            name: The part's label.
            other: (label, test): calls whose (args, kwargs) pass the test are
                recorded under this label instead.
        """
        fn = getattr(owner, attr)
        self.names.append(name)
        if other is not None:
            self.names.append(other[0])

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            label = other[0] if other is not None and other[1](*args, **kwargs) else name
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                with self._lock:
                    self._calls[label].append(elapsed)

        setattr(owner, attr, timed)

    def take(self) -> dict[str, list[float]]:
        """The calls since the last `take` ({name: [seconds]}), and starts afresh."""
        with self._lock:
            calls, self._calls = self._calls, defaultdict(list)
        return calls


def breakdown(
    names: list[str],
    walls: list[float],
    per_iter: list[dict[str, list[float]]],
    steps: list[int],
    threaded_learner: bool,
) -> list[str]:
    """Markdown rows: each part's median ms per iteration, calls, ms per call, share."""

    def total(calls: dict[str, list[float]], name: str) -> float:
        return sum(calls.get(name, ()))

    wall = statistics.median(walls)
    lines = [
        f"Env steps per iteration: {statistics.median(steps):.0f}; env steps/s: "
        f"{statistics.median(s / w for s, w in zip(steps, walls, strict=True)):.0f}.",
        "",
        "| part | ms per iteration | calls per iteration | ms per call | share |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| iteration (`algo.train()`) | {1000 * wall:.1f} | 1 | | 100 % |",
    ]

    def row(label: str, values: list[float], calls: list[int] | None, pooled: list[float]):
        ms = 1000 * statistics.median(values)
        n = "" if calls is None else f"{statistics.median(calls):g}"
        per_call = f"{1000 * statistics.median(pooled):.2f}" if pooled else ""
        lines.append(f"| {label} | {ms:.1f} | {n} | {per_call} | {100 * ms / 1000 / wall:.0f} % |")

    for name in names:
        pooled = [d for calls in per_iter for d in calls.get(name, ())]
        row(name, [total(c, name) for c in per_iter], [len(c.get(name, ())) for c in per_iter],
            pooled)  # fmt: skip
        if name == STEP_PARTS[-1]:
            rest = [total(c, STEP) - sum(total(c, p) for p in STEP_PARTS) for c in per_iter]
            row("    rest of the step (batch to tensors, metrics)", rest, None, [])
            rest = [
                total(c, UPDATE) - total(c, CONNECTOR) - total(c, TO_TENSORS) - total(c, STEP)
                for c in per_iter
            ]
            row("  rest of the update (minibatch slicing, metrics, hooks)", rest, None, [])
    rest = [
        w - sum(total(c, n) for n in names if n.startswith(DRIVER_PARTS))
        for w, c in zip(walls, per_iter, strict=True)
    ]
    row("rest of the iteration (train()'s bookkeeping)", rest, None, [])
    if threaded_learner:
        lines += [
            "",
            "APPO's minibatch steps run in RLlib's learner thread: the driver's learner group "
            "update holds them only as far as it waits for that thread (a negative rest of "
            "the update: they overlapped with the driver's other parts).",
        ]
    return lines


def flat_timers(result: dict) -> Iterator[tuple[str, float]]:
    """RLlib's timer values (ms) in a result dict: `timers/*` and keys naming a timer."""

    def walk(node: dict, prefix: str) -> Iterator[tuple[str, float]]:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                if key != "per_task":
                    yield from walk(value, path + "/")
            elif isinstance(value, float) and (
                prefix.startswith("timers/") or "timer" in key or "_time" in key
            ):
                yield path, 1000 * value

    yield from walk({k: result[k] for k in ("timers", "env_runners", "learners") if k in result},
                    "")  # fmt: skip
