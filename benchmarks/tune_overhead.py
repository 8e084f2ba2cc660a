"""What running through Ray Tune costs: vanilla multi-task A2C, direct loop vs `rllib train`.

    python benchmarks/tune_overhead.py [--repeats 3] [--seconds 40] [--out FILE.md]

(c) is benchmarks/throughput.py's row: 6 tasks x 1 pinned runner x 16 envs, t_max 5,
50 updates per iteration. "direct" builds the Algorithm in this process and calls
`train()` in a loop, writing each result as a JSON line and a checkpoint every 10
iterations (what `rllib train` did before it ran on Tune); "tune" runs the same
config through `mtrl_ray.training.run` (the `rllib train` path: a Tune trial in
its own actor, Tune's stop check, trial logs, TensorBoard events, checkpoints every
10 iterations with the manifest). Both skip two warm-up iterations and count env
steps over wall-clock time seen by this process; they alternate, so each pair
shares the machine's state, and the ratio is given per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import machine  # noqa: E402

from mtrl_ray.envs import PAPER_TASKS  # noqa: E402

WARMUP = 2


def config():
    from mtrl_ray.algorithms.a2c import A2CConfig

    return (
        A2CConfig()
        .multi_task(PAPER_TASKS, update="cycle")
        .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
        .training(updates_per_iteration=50)
    )


def direct(seconds: float, folder: Path) -> float:
    """Env steps/s of the direct loop."""
    algo = config().build_algo()
    try:
        points: list[tuple[float, int]] = []
        with (folder / "result.json").open("a") as log:
            while len(points) < 2 or points[-1][0] - points[0][0] < seconds:
                result = algo.train()
                log.write(json.dumps(result, default=str) + "\n")
                if algo.iteration % 10 == 0:
                    algo.save_to_path(folder / f"checkpoint_{algo.iteration:06d}")
                if algo.iteration > WARMUP:
                    points.append((time.perf_counter(), _steps(result)))
        return _rate(points)
    finally:
        algo.stop()


def tune(seconds: float, folder: Path) -> float:
    """Env steps/s through the Tune run layer."""
    from ray.tune import Callback

    from mtrl_ray.training import RunSettings, prepare, run

    points: list[tuple[float, int]] = []

    class Clock(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result["training_iteration"] > WARMUP:
                points.append((time.perf_counter(), _steps(result)))

    # Stop on the trial's own clock; the rate counts what this process saw.
    stop = {"time_total_s": seconds * 1.3 + 10}
    settings = RunSettings("tune", folder, stop, callbacks=(Clock(),), verbose=False)
    run(prepare(config(), settings))
    return _rate(points)


def _steps(result: dict) -> int:
    return int(result["num_env_steps_sampled_lifetime"])


def _rate(points: list[tuple[float, int]]) -> float:
    (t0, s0), (t1, s1) = points[0], points[-1]
    return (s1 - s0) / (t1 - t0)


def main() -> None:
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pairs = []
    for _ in range(args.repeats):
        rates = []
        for measure in (direct, tune):
            # 7 logical CPUs for the direct loop (6 runners + learner), one more for
            # the Tune trial's own actor: all share the real cores.
            ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
            try:
                with tempfile.TemporaryDirectory() as folder:
                    rates.append(measure(args.seconds, Path(folder)))
            finally:
                ray.shutdown()
        pairs.append(tuple(rates))
        print(f"direct {rates[0]:.0f}, tune {rates[1]:.0f} env steps/s", flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    ratios = [t / d for d, t in pairs]
    lines = [
        f"# Tune's cost: (c) through `rllib train` on Tune vs the direct loop "
        f"(env steps per second, {args.repeats} pairs of {args.seconds:.0f} s)",
        "",
        f"- command: `python benchmarks/tune_overhead.py --repeats {args.repeats} "
        f"--seconds {args.seconds:.0f}`",
        f"- machine: {machine()}",
        f"- date: {date.today().isoformat()}, commit {commit or 'uncommitted'}",
        "",
        "| what | env steps/s (median) | all runs |",
        "| --- | ---: | --- |",
        f"| (c) direct loop | {statistics.median(d for d, _ in pairs):.0f} | "
        + ", ".join(f"{d:.0f}" for d, _ in pairs) + " |",
        f"| (c) through Tune (`rllib train`) | {statistics.median(t for _, t in pairs):.0f} | "
        + ", ".join(f"{t:.0f}" for _, t in pairs) + " |",
        "",
        f"- tune/direct per pair: {', '.join(f'{r:.3f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.3f} (target >= 0.95)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
