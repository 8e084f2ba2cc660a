"""The fast path's sampling loop beyond the env: a PPO fragment's time minus its env steps.

    python benchmarks/sampler_overhead.py [--rounds 7] [--envs 4,16]

Issue 22. In this process, no Ray: a runner of the multi-task PPO tuned example
(HalfCheetahSmallFoot-v0, `InfoFreeStep`, the numpy actor) samples whole
`sample_fragment`s of 2048 env steps with PPO's policy outputs; the vector env's
`step` calls inside are timed, and the rest of the fragment's time is the loop's:
acting, sampling actions, bookkeeping, building the fragment. Prints a row per env
count (median over rounds, ms per fragment) in throughput.py's row format, so that
`commit_ab.py --script sampler_overhead` can compare two commits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from vector_step import STEPS, runners, time_fragment  # noqa: E402


def overhead(num_envs: int, rounds: int) -> tuple[float, float]:
    """(median loop ms, median env ms) per fragment, after one warm-up fragment."""
    runner = runners(num_envs)["InfoFreeStep"]
    runner.env.reset(seed=0)
    time_fragment(runner)  # warm-up (and the sampler's first reset)
    env = runner.env
    inner, spent = env.step, [0.0]

    def timed_step(actions):
        start = time.perf_counter()
        out = inner(actions)
        spent[0] += time.perf_counter() - start
        return out

    env.step = timed_step  # the sampler holds this env object: it calls the wrapper
    loop, stepping = [], []
    for _ in range(rounds):
        spent[0] = 0.0
        total = time_fragment(runner)
        loop.append((total - spent[0]) * 1e3)
        stepping.append(spent[0] * 1e3)
    runner.stop()
    return statistics.median(loop), statistics.median(stepping)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--envs", default="4,16", help="envs per runner, comma-separated")
    args = parser.parse_args()
    print(f"| what, {STEPS}-step PPO fragment | ms per fragment (median of {args.rounds}) |")
    print("| --- | ---: |")
    for n in map(int, args.envs.split(",")):
        loop, stepping = overhead(n, args.rounds)
        print(f"| (o{n}) the loop beyond the env, {n} envs | {loop:.1f} |")
        print(f"| (s{n}) the env steps inside, {n} envs | {stepping:.1f} |")


if __name__ == "__main__":
    main()
