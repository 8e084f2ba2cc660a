"""Where an A2C round's CPU goes: the runners' calls in Ray, alone, and Ray's own floor.

    python benchmarks/a2c_round_cpu.py [--iterations 3] [--calls 300] [--out FILE]

Issue 22. throughput.py's (c) (6 tasks x 1 runner x 16 envs, t_max 5: 480 env steps
per round) measured three ways in one run:

1. **In Ray**: the algorithm in a private local Ray (a logical CPU per runner and one
   for the learner, as throughput.py), `--iterations` iterations of 50 rounds after a
   warm-up; per round the wall time and the CPU time (user + system, from /proc via
   psutil) of the driver (learner included) and of the six runner processes.
2. **One runner alone**: the first task's runner in this process (no Ray), `--calls`
   `sample_fragment` calls of 80 env steps with the pickled weights, as a round sends
   them; per call its time split into the vector env's steps, the weights' load, the
   metrics logging and the rest of the loop.
3. **Ray's floor**: six actors in a private Ray whose method unpickles the weights and
   returns arrays of a fragment's shapes, called as a round calls the runners
   (`--calls` rounds); per round the wall time, the actors' CPU per call and the
   driver's CPU.

The difference between 1's runner CPU per call and 2's is what running in Ray adds to
a call (serialization, Ray's threads, six processes sharing two cores).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pickle
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from local_ray import start_ray  # noqa: E402
from ray.thirdparty_files import psutil  # noqa: E402
from throughput import NUM_ENVS, T_MAX, machine, mtrl_ray_a2c_config  # noqa: E402

ROUNDS = 50  # per iteration (throughput.py's (c))
STEPS = 80  # per runner and round: 16 envs x t_max 5


def _config():
    """throughput.py's (c): its A2C config with 16 envs per runner and t_max 5."""
    config = mtrl_ray_a2c_config()
    return config.env_runners(num_envs_per_env_runner=NUM_ENVS, rollout_fragment_length=T_MAX)


def _cpu(processes: list) -> float:
    """Seconds of CPU (user + system) the processes have used."""
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def in_ray(iterations: int) -> dict[str, list[float]]:
    """Per iteration, ms per round: wall, driver CPU, runners' CPU (all six)."""
    import ray

    config = _config()
    start_ray(config.num_env_runners + 1)
    try:
        algo = config.build_algo()
        try:
            algo.train()  # warm-up
            pids = algo.env_runner_group.foreach_env_runner(
                lambda _: os.getpid(), local_env_runner=False
            )
            runners, driver = [psutil.Process(p) for p in pids], [psutil.Process()]
            out: dict[str, list[float]] = {"wall": [], "driver": [], "runners": []}
            for _ in range(iterations):
                wall, own, theirs = time.perf_counter(), _cpu(driver), _cpu(runners)
                algo.train()
                out["wall"].append((time.perf_counter() - wall) / ROUNDS * 1e3)
                out["driver"].append((_cpu(driver) - own) / ROUNDS * 1e3)
                out["runners"].append((_cpu(runners) - theirs) / ROUNDS * 1e3)
            return out
        finally:
            algo.stop()
    finally:
        ray.shutdown()


def alone(calls: int) -> tuple[dict[str, float], bytes, dict]:
    """ms per call of one runner in this process, by part; the weights and a fragment."""
    from ray.tune.registry import register_env

    from mtrl_ray import _rllib_compat as compat
    from mtrl_ray.runners import pinned_env_runner
    from mtrl_ray.tasks import PINNED_ENV, make_pinned_env

    register_env(PINNED_ENV, make_pinned_env)
    config = _config()
    runner = config.env_runner_cls(config=config, worker_index=1)
    state = runner.get_state(components="rl_module", inference_only=True)
    weights = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    fragment = runner.sample_fragment(state=weights, num_timesteps=STEPS, compact=True)[0]
    spent = dict.fromkeys(("env steps", "weights' load", "metrics"), 0.0)

    def timed(function, part):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - start

        return call

    runner.env.step = timed(runner.env.step, "env steps")  # the sampler steps this object
    runner.load_weights = timed(runner.load_weights, "weights' load")
    log_sampled = compat.log_sampled
    pinned_env_runner.compat.log_sampled = timed(log_sampled, "metrics")  # (the module)
    try:
        start = time.perf_counter()
        for _ in range(calls):
            runner.sample_fragment(state=weights, num_timesteps=STEPS, compact=True)
        total = time.perf_counter() - start
    finally:
        pinned_env_runner.compat.log_sampled = log_sampled
    parts = {part: seconds / calls * 1e3 for part, seconds in spent.items()}
    parts["the loop's rest"] = total / calls * 1e3 - sum(parts.values())
    parts["whole call"] = total / calls * 1e3
    runner.stop()
    columns = {k: np.asarray(v) for k, v in fragment.columns.items()}
    return parts, weights, columns


def ray_floor(calls: int, weights: bytes, columns: dict) -> dict[str, float]:
    """Six do-nothing actors called as a round calls the runners: ms per round."""
    import ray

    start_ray(7)
    try:

        @ray.remote(num_cpus=1)
        class Echo:
            def pid(self) -> int:
                return os.getpid()

            def sample(self, state: bytes) -> dict:
                pickle.loads(state)
                return {k: v.copy() for k, v in columns.items()}

        actors = [Echo.remote() for _ in range(6)]
        processes = [psutil.Process(p) for p in ray.get([a.pid.remote() for a in actors])]
        for _ in range(20):  # warm-up
            ray.get([a.sample.remote(weights) for a in actors])
        driver = [psutil.Process()]
        wall, own, theirs = time.perf_counter(), _cpu(driver), _cpu(processes)
        for _ in range(calls):
            ray.get([a.sample.remote(weights) for a in actors])
        return {
            "wall per round": (time.perf_counter() - wall) / calls * 1e3,
            "actor CPU per call": (_cpu(processes) - theirs) / calls / 6 * 1e3,
            "driver CPU per round": (_cpu(driver) - own) / calls * 1e3,
        }
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    began = time.perf_counter()
    load = os.getloadavg()[0]
    ray_run = in_ray(args.iterations)
    parts, weights, columns = alone(args.calls)
    floor = ray_floor(args.calls, weights, columns)
    med = {k: statistics.median(v) for k, v in ray_run.items()}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    per_repeat = {k: ", ".join(f"{x:.1f}" for x in v) for k, v in ray_run.items()}
    lines = [
        "# Where an A2C round's CPU goes ((c): 6 tasks x 1 runner x 16 envs, t_max 5)",
        "",
        f"- command: `python benchmarks/a2c_round_cpu.py --iterations {args.iterations}"
        f" --calls {args.calls}`",
        f"- machine: {machine()}; 1-minute load average at start: {load:.2f}",
        f"- date: {datetime.date.today()}, commit {commit}",
        f"- total time: {time.perf_counter() - began:.0f} s",
        "",
        "## 1. In Ray: ms per round of 480 env steps (median over iterations of 50 rounds)",
        "",
        "| quantity | median | per iteration |",
        "| --- | ---: | --- |",
        f"| wall | {med['wall']:.1f} | {per_repeat['wall']} |",
        f"| driver CPU (learner included) | {med['driver']:.1f} | {per_repeat['driver']} |",
        f"| runners' CPU, all six | {med['runners']:.1f} | {per_repeat['runners']} |",
        f"| runners' CPU per call | {med['runners'] / 6:.1f} | |",
        f"| cores busy: (driver + runners) / wall | "
        f"{(med['driver'] + med['runners']) / med['wall']:.2f} | |",
        "",
        f"## 2. One runner alone, no Ray: ms per call of {STEPS} env steps ({args.calls} calls)",
        "",
        "| part | ms |",
        "| --- | ---: |",
        *(f"| {part} | {ms:.2f} |" for part, ms in parts.items()),
        "",
        f"## 3. Ray's floor: six actors, the weights in, a fragment out ({args.calls} rounds)",
        "",
        f"Weights {len(weights):,} bytes pickled; the fragment's arrays "
        f"{sum(v.nbytes for v in columns.values()):,} bytes.",
        "",
        "| quantity | ms |",
        "| --- | ---: |",
        *(f"| {name} | {ms:.2f} |" for name, ms in floor.items()),
        "",
        f"- in Ray a runner's call costs {med['runners'] / 6:.1f} ms of CPU, alone "
        f"{parts['whole call']:.1f} ms: x{med['runners'] / 6 / parts['whole call']:.2f}; "
        f"Ray's own floor per call {floor['actor CPU per call']:.1f} ms on the actor and "
        f"{floor['driver CPU per round'] / 6:.1f} ms on the driver",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
