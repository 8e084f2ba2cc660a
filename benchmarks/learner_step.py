"""Per-step cost of the learners alone, in this process (no Ray, no envs).

    python benchmarks/learner_step.py [--algos ppo,a2c] [--repeats 5] [--profile ppo]

Issue 22. The learners of the on-policy bound (onpolicy_bound.py), built from the
same configs and fed synthetic batches of the same shapes:

- PPO: tuned_examples/ppo/halfcheetah_vanilla_multitask.py's learner (6 tasks,
  fast path, compiled as the example sets it; the compile is in the warm-up), one
  `update` of 12288 rows (2048 per task), 10 epochs of shuffled
  minibatches of 384: 320 minibatch steps; reported per minibatch step.
- A2C: throughput.py's A2C learner (6 tasks, cycle), one `_update` of a round:
  per task 16 fragments of 5 rows plus a masked bootstrap row (96 rows, 80 in the
  loss); 6 RMSprop steps; reported per step.

Observations are float64, as the MuJoCo envs give them. Each repeat times one
update (after one warm-up); the median over repeats is printed. `--profile ALGO`
prints cProfile's top functions (cumulative) over one more update instead.
Torch runs on one thread (`OMP_NUM_THREADS=1`, as the learner's actor does).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import runpy
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from ray.rllib.core import DEFAULT_MODULE_ID  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mtrl_ray.columns import TASK_ID  # noqa: E402
from mtrl_ray.envs import PAPER_TASKS  # noqa: E402

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (17,), np.float64)
ACT_SPACE = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
SPACES = {DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)}
PPO_ROWS_PER_TASK = 2048
A2C_ENVS, A2C_T_MAX = 16, 5


def _columns(rows: int, rows_per_task: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        Columns.OBS: torch.randn(rows, 17, generator=g, dtype=torch.float64) * 2,
        TASK_ID: torch.arange(rows) // rows_per_task,
        Columns.ACTIONS: torch.randn(rows, 6, generator=g),
        Columns.ADVANTAGES: torch.randn(rows, generator=g),
        Columns.VALUE_TARGETS: torch.randn(rows, generator=g) * 3,
    }


def ppo_learner(num_epochs: int | None = None, compiled: bool | None = None):
    """The tuned example's learner and a train batch of its size (the fast path's columns).

    Returns (one update of the batch, its minibatch steps); `num_epochs` overrides the
    example's 10, `compiled` its `torch_compile_learner`.
    """
    example = ROOT / "tuned_examples" / "ppo" / "halfcheetah_vanilla_multitask.py"
    config = runpy.run_path(str(example), run_name="learner_step")["config"]
    if compiled is not None:
        config.framework(torch_compile_learner=compiled)
    learner = config.build_learner(spaces=SPACES)
    module = learner.module[DEFAULT_MODULE_ID]
    rows = PPO_ROWS_PER_TASK * len(PAPER_TASKS)
    batch = _columns(rows, PPO_ROWS_PER_TASK, torch.Generator().manual_seed(0))
    with torch.no_grad():
        inputs = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
        pi = module.get_train_action_dist_cls().from_logits(inputs)
        batch[Columns.ACTION_LOGP] = pi.logp(batch[Columns.ACTIONS])
    batch[Columns.ACTION_DIST_INPUTS] = inputs

    epochs = num_epochs or config.num_epochs

    def update() -> None:
        learner.update(
            batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(dict(batch))}, env_steps=rows),
            num_epochs=epochs,
            minibatch_size=config.minibatch_size,
            shuffle_batch_per_epoch=True,
        )

    steps = -(-epochs * rows // config.minibatch_size)
    return update, steps


def a2c_learner():
    """throughput.py's A2C learner (cycle) and one round's batch."""
    from mtrl_ray.algorithms.a2c import A2CConfig

    config = A2CConfig().multi_task(PAPER_TASKS, update="cycle")
    learner = config.build_learner(spaces=SPACES)
    per_task = A2C_ENVS * (A2C_T_MAX + 1)
    rows = per_task * len(PAPER_TASKS)
    batch = _columns(rows, per_task, torch.Generator().manual_seed(0))
    batch[Columns.LOSS_MASK] = torch.arange(rows) % (A2C_T_MAX + 1) < A2C_T_MAX

    def update() -> None:
        learner._update({DEFAULT_MODULE_ID: dict(batch)})

    return update, len(PAPER_TASKS)


LEARNERS = {"ppo": ppo_learner, "a2c": a2c_learner}


def time_per_step(algo: str, repeats: int) -> list[float]:
    """ms per step of each of `repeats` updates (after one warm-up)."""
    update, steps = LEARNERS[algo]()
    update()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        update()
        times.append(1000 * (time.perf_counter() - start) / steps)
    return times


def profile(algo: str, top: int = 30) -> None:
    """cProfile of one update (after a warm-up), top functions by cumulative time."""
    update, _ = LEARNERS[algo]()
    update()
    profiler = cProfile.Profile()
    profiler.runcall(update)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", default="ppo,a2c")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", choices=sorted(LEARNERS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.profile:
        profile(args.profile)
        return 0
    for algo in args.algos.split(","):
        if algo not in LEARNERS:
            print(f"unknown algo {algo!r}: one of {sorted(LEARNERS)}", file=sys.stderr)
            return 2
        times = time_per_step(algo, args.repeats)
        print(
            f"{algo}: {statistics.median(times):.3f} ms per step (median of {args.repeats}; "
            f"min {min(times):.3f}, max {max(times):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
