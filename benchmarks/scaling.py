"""How cost grows: time per round against runners and tasks, real and trivially cheap envs.

    python benchmarks/scaling.py [--seconds 10] [--out benchmarks/scaling.md]
    python benchmarks/scaling.py --quick        # smoke run (tiny layouts), a minute or two idle

Two axes: runners (6 tasks x `--runners-per-task` 1, 2, 4) and tasks (2, 6, 10 tasks
x 1 runner), each with the HalfCheetah variants ("real": the paper's six first, then
the held-out ones) and with a no-op env of HalfCheetah's spaces ("cheap": no
physics; see `scaling_envs.py`). For A2C (synchronous rounds, 16 envs x t_max 5
per runner, cycle update) it measures wall time per round (iteration time / rounds
per iteration, median over iterations after a warm-up); for APPO (the tuned
example's settings, 4 envs per runner) env steps sampled and trained per second.
One runner alone, in this process without Ray, gives the runner's own cost per
round (`s`). It fits T(R) = a + b * R per axis and env; the cheap env's slope,
less the runners' own CPU time shared over the cores, is the driver's cost per
runner, and the script projects a `--nodes` x `--cpus-per-node` cluster from it
(benchmarks/README.md, "Scaling", gives the formulas).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scaling_envs  # noqa: E402
from local_ray import start_ray  # noqa: E402
from profile_parts import Recorder  # noqa: E402
from scaling_envs import cheap_tasks, real_tasks, register_cheap_envs  # noqa: E402
from scaling_report import NUM_CPUS, report  # noqa: E402
from throughput import machine  # noqa: E402

A2C_ENVS, T_MAX = 16, 5

#: (tasks, runners per task) of each axis.
FULL = {"runners": [(6, 1), (6, 2), (6, 4)], "tasks": [(2, 1), (6, 1), (10, 1)]}
QUICK = {"runners": [(1, 1), (1, 2)], "tasks": [(1, 1), (2, 1)]}


def tasks_of(kind: str, n: int) -> list[str]:
    """`n` tasks of the real (HalfCheetah) or the cheap (no-op) kind."""
    return real_tasks(n) if kind == "real" else cheap_tasks(n)


def a2c_config(tasks: list[str], runners_per_task: int, rounds: int):
    """The benchmark's A2C: throughput.py's (c) layout, fractional CPUs per runner."""
    from mtrl_ray.algorithms.a2c import A2CConfig

    n = len(tasks) * runners_per_task
    return (
        A2CConfig()
        .multi_task(tasks, runners_per_task=runners_per_task, update="cycle")
        .env_runners(
            num_envs_per_env_runner=A2C_ENVS,
            rollout_fragment_length=T_MAX,
            num_cpus_per_env_runner=_cpu_share(n),
        )
        .training(updates_per_iteration=rounds)
    )


def appo_config(tasks: list[str], runners_per_task: int, seconds: float):
    """tuned_examples/appo/halfcheetah_vanilla_multitask.py's settings, shorter iterations."""
    from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig

    n = len(tasks) * runners_per_task
    return (
        MultiTaskAPPOConfig()
        .multi_task(tasks, runners_per_task=runners_per_task)
        .env_runners(num_envs_per_env_runner=4, num_cpus_per_env_runner=_cpu_share(n))
        .training(train_batch_size_per_task=512, num_epochs=8)
        .reporting(min_time_s_per_iteration=max(1.0, seconds / 4))
    )


def _cpu_share(runners: int) -> float:
    """Logical CPUs per runner so that all fit into Ray's NUM_CPUS (3 decimals, rounded down)."""
    return min(1.0, int(1000 * NUM_CPUS / runners) / 1000)


def a2c_round_seconds(config, seconds: float) -> dict[str, float]:
    """Median wall time per A2C round, and of its parts per round (s).

    The parts are the driver's calls, timed around them: the weights' pickling,
    the sampling call (the request, the runners' work, the fragments back) and the
    learner's update.
    """
    rounds = config.updates_per_iteration
    algo = config.build_algo()
    try:
        rec = Recorder()
        rec.wrap(algo, "_current_weights", "weights")
        rec.wrap(algo, "_sample_fragments", "sampling")
        rec.wrap(algo.learner_group, "update", "learner")
        algo.train()  # warm-up
        rec.take()
        per_round, calls, start = [], [], time.perf_counter()
        while not per_round or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            algo.train()
            per_round.append((time.perf_counter() - t0) / rounds)
            calls.append(rec.take())
        parts = {name: statistics.median(d for c in calls for d in c[name]) for name in rec.names}
        return {"round": statistics.median(per_round), **parts}
    finally:
        algo.stop()


def appo_rates(config, seconds: float) -> dict[str, float]:
    """APPO's env steps sampled and trained (each once) per second after a warm-up."""
    algo = config.build_algo()
    try:
        result = algo.train()  # warm-up, until the first samples have arrived
        while _appo_counts(result)["sampled"] == 0:
            result = algo.train()
        first, start = _appo_counts(result), time.perf_counter()
        # At least `seconds`, and (up to 10 x as long) until new samples were counted.
        while (elapsed := time.perf_counter() - start) < seconds or (
            _appo_counts(result)["sampled"] == first["sampled"] and elapsed < 10 * seconds
        ):
            result = algo.train()
        elapsed = time.perf_counter() - start
        last = _appo_counts(result)
        rates = {k: (last[k] - first[k]) / elapsed for k in first}
        # RLlib counts a batch's env steps at every one of its num_epochs steps.
        rates["trained"] /= config.num_epochs
        return rates
    finally:
        algo.stop()


def _appo_counts(result: dict) -> dict[str, int]:
    learners = result.get("learners", {}).get("__all_modules__", {})
    return {
        "sampled": result.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0),
        "trained": learners.get("num_env_steps_trained_lifetime", 0),
    }


def runner_alone(config, rounds: int, a2c: bool) -> float:
    """Seconds one runner needs per round on its own (in this process, no Ray).

    A2C: one fragment (16 envs x 5 steps, FragmentSampler); APPO: one 128-step
    fragment of 4 envs through RLlib's sampling loop (512 env steps).
    """
    config = config.copy(copy_frozen=False).env_runners(num_env_runners=0)
    runner = config.env_runner_cls(config=config, worker_index=0)
    try:

        def one() -> None:
            if a2c:
                runner.sample_fragment(num_timesteps=config.fragment_timesteps, compact=True)
            else:
                runner.sample(num_timesteps=512)

        for _ in range(3):
            one()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            one()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        runner.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per configuration")
    parser.add_argument("--quick", action="store_true", help="tiny layouts, 2 s each")
    parser.add_argument("--algos", default="a2c,appo", help="comma-separated: a2c, appo")
    parser.add_argument("--nodes", type=int, default=16, help="projected cluster: worker nodes")
    parser.add_argument("--cpus-per-node", type=int, default=8, help="cluster.yaml's CPU: 8")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    if not algos or set(algos) - {"a2c", "appo"}:
        parser.error(f"--algos takes a2c and/or appo, got {args.algos!r}")
    if args.seconds <= 0 or args.nodes < 1 or args.cpus_per_node < 1:
        parser.error("--seconds, --nodes and --cpus-per-node must be positive")
    seconds = 2.0 if args.quick else args.seconds
    axes = QUICK if args.quick else FULL
    rounds = 10 if args.quick else 50

    import ray
    from ray import cloudpickle

    load = os.getloadavg()[0]
    register_cheap_envs()
    # The workers cannot import benchmarks/: the hook travels by value.
    cloudpickle.register_pickle_by_value(scaling_envs)
    start_ray(NUM_CPUS, runtime_env={"worker_process_setup_hook": register_cheap_envs})
    started = time.perf_counter()
    layouts = sorted({lay for axis in axes.values() for lay in axis})
    results: dict = {}
    try:
        for algo in algos:
            for kind in ("real", "cheap"):
                one_task = tasks_of(kind, 1)
                if algo == "a2c":
                    alone = runner_alone(a2c_config(one_task, 1, rounds), 20, a2c=True)
                else:
                    alone = runner_alone(appo_config(one_task, 1, seconds), 5, a2c=False)
                results[(algo, kind, "alone")] = alone
                for n_tasks, k in layouts:
                    tasks = tasks_of(kind, n_tasks)
                    if algo == "a2c":
                        value = a2c_round_seconds(a2c_config(tasks, k, rounds), seconds)
                    else:
                        value = appo_rates(appo_config(tasks, k, seconds), seconds)
                    results[(algo, kind, (n_tasks, k))] = value
                    print(
                        f"[{time.perf_counter() - started:.0f} s] {algo} {kind} "
                        f"{n_tasks} tasks x {k}: {value}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        ray.shutdown()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    command = sys.argv[1:] if argv is None else argv
    header = [
        "# Scaling: cost per round against runners and tasks",
        "",
        f"- command: `{' '.join(['python benchmarks/scaling.py', *command])}`",
        f"- machine: {machine()}; 1-minute load average at start: {load:.2f}; "
        f"Ray with num_cpus={NUM_CPUS}, fractional CPUs per runner",
        f"- date: {date.today().isoformat()}, commit {commit or 'uncommitted'}",
        f"- total time: {time.perf_counter() - started:.0f} s",
        "",
    ]
    text = "\n".join(header + report(results, axes, algos, args.nodes, args.cpus_per_node))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
