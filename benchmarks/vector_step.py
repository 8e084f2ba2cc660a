"""A pinned runner's vector env: RLlib's (infos merged, then split) against `InfoFreeStep`.

    python benchmarks/vector_step.py [--rounds 15] [--out benchmarks/vector_step.md]

Issue 22. In this process, no Ray: two runners of the multi-task PPO tuned example
(HalfCheetahSmallFoot-v0), one stepping RLlib's env (`DictInfoToList` around
gymnasium's `SyncVectorEnv`), one `InfoFreeStep` around it (the fast path's
default), for 4 envs per runner (the PPO and APPO examples) and 16 (A2C's). Two
measurements each, timed in alternating order round by round:

- the vector env's `step` alone, 2048 env steps of uniform random actions;
- a whole `sample_fragment` of 2048 env steps (`FragmentSampler`, the numpy actor,
  PPO's policy outputs): what a runner does per PPO update.

The ratio column is the median over rounds of RLlib's env's time / `InfoFreeStep`'s.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import runpy
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ray.tune.registry import register_env  # noqa: E402

from mtrl_ray.runners.info_free_step import InfoFreeStep  # noqa: E402
from mtrl_ray.tasks import PINNED_ENV, make_pinned_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tuned_examples/ppo/halfcheetah_vanilla_multitask.py"
STEPS = 2048


def runners(num_envs: int) -> dict:
    """{"RLlib's env": runner, "InfoFreeStep": runner} for the example's first task."""
    register_env(PINNED_ENV, make_pinned_env)
    config = runpy.run_path(str(EXAMPLE))["config"]
    config = config.copy(copy_frozen=False).env_runners(num_envs_per_env_runner=num_envs)
    plain, fast = (config.env_runner_cls(config=config, worker_index=1) for _ in range(2))
    assert isinstance(plain.env, InfoFreeStep) and isinstance(fast.env, InfoFreeStep)
    plain.env = plain.env.env  # RLlib's own vector env again
    return {"RLlib's env": plain, "InfoFreeStep": fast}


def time_steps(runner, rng: np.random.Generator) -> float:
    """Seconds for STEPS env steps of the runner's vector env, random actions."""
    env = runner.env
    n = env.num_envs
    actions = rng.uniform(-1, 1, (STEPS // n, n, *env.single_action_space.shape))
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return time.perf_counter() - start


def time_fragment(runner) -> float:
    """Seconds for one `sample_fragment` of STEPS env steps (PPO's fast path)."""
    start = time.perf_counter()
    runner.sample_fragment(num_timesteps=STEPS, compact=True, policy_outputs=True)
    return time.perf_counter() - start


def compare(num_envs: int, rounds: int) -> list[str]:
    """Table rows for one env count: per measurement and env, median ms and ratio."""
    pair = runners(num_envs)
    rng = np.random.default_rng(0)
    for runner in pair.values():
        runner.env.reset(seed=0)
        time_fragment(runner)  # warm-up (and the sampler's first reset)
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        order = list(pair.items()) if r % 2 == 0 else list(pair.items())[::-1]
        for name, runner in order:
            times.setdefault(("vector env step", name), []).append(time_steps(runner, rng))
            times.setdefault(("sample_fragment", name), []).append(time_fragment(runner))
    rows = []
    for what in ("vector env step", "sample_fragment"):
        base = times[(what, "RLlib's env")]
        for name in pair:
            mine = times[(what, name)]
            ratio = statistics.median(b / m for b, m in zip(base, mine, strict=True))
            quartiles = statistics.quantiles([b / m for b, m in zip(base, mine, strict=True)])
            rows.append(
                f"| {num_envs} | {what}, {STEPS} env steps | {name} "
                f"| {statistics.median(mine) * 1e3:.1f} "
                f"| {ratio:.2f} ({quartiles[0]:.2f}-{quartiles[2]:.2f}) |"
            )
    for runner in pair.values():
        runner.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--envs", default="4,16", help="envs per runner, comma-separated")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    started, load = time.time(), os.getloadavg()[0]
    rows = [row for n in map(int, args.envs.split(",")) for row in compare(n, args.rounds)]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    report = [
        f"# A pinned runner's vector env: RLlib's against InfoFreeStep ({args.rounds} rounds)",
        "",
        f"- command: `python benchmarks/vector_step.py --rounds {args.rounds} --envs {args.envs}`",
        f"- machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"1-minute load average at start: {load:.2f}",
        f"- date: {datetime.date.today()}, commit {commit}",
        f"- total time: {time.time() - started:.0f} s",
        "",
        "| envs per runner | what | env | ms (median) | RLlib's env / this, per round: "
        "median (IQR) |",
        "| ---: | --- | --- | ---: | --- |",
        *rows,
    ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)  # whole or not at all


if __name__ == "__main__":
    main()
