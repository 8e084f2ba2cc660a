"""Interleaved A/B of learner-step variants, in one process (issue 22).

    python benchmarks/learner_ab.py [--compare routing|compile] [--algo ppo|a2c] [--rounds 80]

The machine is shared, so variants are never timed in separate runs: one learner is
built (`learner_step.py`'s), and each round times every variant on one short update
(PPO: one epoch, 32 minibatch steps of 384 rows; A2C: 20 cycle updates; `compile`:
see below), in alternating order. Printed per variant: the median ms per step over
the rounds and the median (and interquartile range) of the per-round ratio
baseline / variant.

- `routing`: `TaskLinear.forward` for mixed-task batches. `current` (every task's
  output in one matmul, each row's task gathered), `segment` (per task one
  `x[rows] @ W[t]`, scattered back), `sorted` (rows sorted by task once per layer,
  contiguous slices, concatenated and unsorted), and `no-routing`: every row through
  task 0's weights, which is NOT the layer's result; it bounds what any routing
  scheme could save.

- `compile` (PPO only): the fast path's learner eager and with
  `torch_compile_learner` (each minibatch's forward and loss one compiled graph),
  two learners of the same weights, each round one whole update of the tuned
  example (10 epochs, 320 steps); the compile itself happens in the warm-up.

A third comparison, `gradient_step` calling the fused Adam's kernels directly, was
measured at commit 4ee4578 and not kept (benchmarks/learner_ab.md).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learner_step  # noqa: E402  (sets OMP_NUM_THREADS=1 before torch starts threads)

from mtrl_ray.modules.task_layers import TaskLinear  # noqa: E402

CURRENT_FORWARD = TaskLinear.forward


def _mixed(layer: TaskLinear, task_id: torch.Tensor) -> bool:
    return layer.num_tasks > 1 and bool((task_id != task_id[:1]).any())


def segment_forward(self: TaskLinear, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
    """Per task one matmul on its rows, written back to their places."""
    if not _mixed(self, task_id):
        return CURRENT_FORWARD(self, x, task_id)
    out = x.new_empty(x.shape[0], self.weight.shape[2])
    for t in range(self.num_tasks):
        rows = (task_id == t).nonzero().squeeze(1)
        if rows.numel():
            out[rows] = torch.addmm(self.bias[t], x[rows], self.weight[t])
    return out


def sorted_forward(self: TaskLinear, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
    """Rows sorted by task, one matmul per contiguous slice, unsorted at the end."""
    if not _mixed(self, task_id):
        return CURRENT_FORWARD(self, x, task_id)
    order = torch.argsort(task_id, stable=True)
    counts = torch.bincount(task_id, minlength=self.num_tasks).tolist()
    xs, outs, start = x[order], [], 0
    for t, count in enumerate(counts):
        if count:
            outs.append(torch.addmm(self.bias[t], xs[start : start + count], self.weight[t]))
            start += count
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return torch.cat(outs)[inverse]


def no_routing_forward(self: TaskLinear, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
    """NOT the layer: task 0's weights for every row (a bound, not a variant)."""
    return torch.addmm(self.bias[0], x, self.weight[0])


Update = tuple[Callable[[], None], int]


def _variant(forward: Callable = CURRENT_FORWARD) -> Callable[[], Update | None]:
    """A variant of the shared learner: `TaskLinear.forward` patched."""

    def apply() -> None:
        TaskLinear.forward = forward

    return apply


@functools.cache
def _learner(compiled: bool) -> Update:
    """A variant with a learner of its own (built once): PPO's whole update (10 epochs,
    320 steps), eager or compiled. (The last minibatch, which logs, runs eagerly in
    both: within one epoch's 32 steps its cost would hide a third of the difference.)"""
    torch.manual_seed(0)  # both learners start from the same weights
    return learner_step.ppo_learner(compiled=compiled)


COMPARISONS = {
    "routing": {
        "current": _variant(),
        "segment": _variant(segment_forward),
        "sorted": _variant(sorted_forward),
        "no-routing": _variant(no_routing_forward),
    },
    "compile": {
        "eager": functools.partial(_learner, False),
        "compiled": functools.partial(_learner, True),
    },
}


def short_update(algo: str) -> tuple[Callable[[], None], int]:
    """(one short update, its steps): PPO one epoch of the tuned example's update."""
    if algo == "a2c":
        one, steps = learner_step.a2c_learner()

        def cycles() -> None:
            for _ in range(20):
                one()

        return cycles, 20 * steps
    return learner_step.ppo_learner(num_epochs=1, compiled=False)  # patches act eagerly


def run(compare: str, algo: str, rounds: int) -> list[str]:
    """Markdown lines: each variant's median ms per step and its paired ratio."""
    variants = COMPARISONS[compare]
    names = list(variants)
    shared = short_update(algo)
    for apply in variants.values():  # warm-up
        update, _ = apply() or shared
        update()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            update, steps = variants[name]() or shared
            start = time.perf_counter()
            update()
            times[name].append(1000 * (time.perf_counter() - start) / steps)
    variants[names[0]]()
    base = names[0]
    lines = [
        f"{algo}, {compare}: {rounds} rounds of {steps} steps per variant, order alternating",
        "",
        f"| variant | median ms/step | {base} / variant, per round: median (IQR) |",
        "| --- | ---: | --- |",
    ]
    for name in names:
        ratios = sorted(b / t for b, t in zip(times[base], times[name], strict=True))
        q = len(ratios) // 4
        lines.append(
            f"| {name} | {statistics.median(times[name]):.3f} | "
            f"{statistics.median(ratios):.3f} ({ratios[q]:.3f}-{ratios[-q - 1]:.3f}) |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="routing")
    parser.add_argument("--algo", choices=("ppo", "a2c"), default="ppo")
    parser.add_argument("--rounds", type=int, default=80)
    args = parser.parse_args(argv)
    if args.rounds < 4:
        print("--rounds must be at least 4", file=sys.stderr)
        return 2
    if args.compare == "compile" and args.algo != "ppo":
        print("--compare compile is PPO's (A2C's learner does not compile)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    print("\n".join(run(args.compare, args.algo, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
