"""PPO's on-policy bound on 2 cores: how high (e)/(g) of throughput.py can go (issue 22).

    python benchmarks/ppo_bound.py [--repeats 3] [--updates 4] [--seconds 10] [--out FILE.md]

Synchronous PPO (every update on fragments of the current policy, as the paper's
algorithms) cannot sample while its learner trains: an iteration takes at least
L + S, its learner time plus its sampling time, and S is at least S_min, the
update's env steps at the fastest rate the machine steps the env with no policy.
SB3's PPO, (g), takes T_sb3 per update of the same work. So

    (e)/(g) = T_sb3 / T_ours <= T_sb3 / (L + S_min).

One run measures, `--repeats` times one after the other (drift hits all alike):

1. (g), throughput.py's SB3 PPO model: `--updates` updates (after one warm-up), each
   split into `collect_rollouts` (stepping, policy, VecNormalize, GAE) and `train()`
   (10 epochs of 32 minibatch steps), and train() per minibatch step;
2. (e), throughput.py's PPO config on its fast path in a private Ray (a logical CPU
   per runner and one for the learner, as (e)): `--updates` iterations after one
   warm-up, each split into sampling and the learner group's update with
   ppo_profile.py's instrumentation, and the update per minibatch step;
3. the stepping ceiling: HalfCheetah-v5 (`--env`) x 16 envs stepped with random
   actions in `--processes` processes at once for `--seconds`, no policy.

Medians per repeat (over updates), then over repeats; the bound uses the medians.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_ray import start_ray  # noqa: E402
from ppo_profile import instrument  # noqa: E402
from profile_parts import SAMPLING, UPDATE, Recorder  # noqa: E402
from throughput import (  # noqa: E402
    machine,
    mtrl_ray_ppo_config,
    raw_stepping,
    sb3_ppo_model,
    sb3_quiet_logger,
)

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.5


@dataclass(frozen=True)
class Bound:
    """The bound's arithmetic; times in seconds per update of `steps` env steps.

    Attributes:
        t_sb3: SB3's time per update (rollout + train()).
        learner: A learner's time per update (ours, or SB3's train()).
        steps: Env steps per update.
        ceiling: The fastest env steps/s with no policy (all cores stepping).
        minibatches: Minibatch steps per update.
    """

    t_sb3: float
    learner: float
    steps: int
    ceiling: float
    minibatches: int

    @property
    def s_min(self) -> float:
        """The least sampling time per update: its steps at the stepping ceiling."""
        return self.steps / self.ceiling

    @property
    def ratio(self) -> float:
        """The highest (e)/(g) with this learner: T_sb3 / (L + S_min)."""
        return self.t_sb3 / (self.learner + self.s_min)

    def learner_needed(self, target: float = TARGET) -> float:
        """The learner time per update that would allow `target` (<= 0: none would)."""
        return self.t_sb3 / target - self.s_min

    def per_minibatch_needed(self, target: float = TARGET) -> float:
        """The same per minibatch step."""
        return self.learner_needed(target) / self.minibatches


def sb3_updates(updates: int) -> dict[str, list[float]]:
    """(g): seconds per update, its rollout and train() parts, optimizer steps per update."""
    model = sb3_ppo_model()
    log_dir = sb3_quiet_logger(model)
    per_update = model.n_steps * model.n_envs
    rec = Recorder()
    rec.wrap(model, "collect_rollouts", "rollout")
    rec.wrap(model, "train", "train")
    rec.wrap(model.policy.optimizer, "step", "optimizer step")
    model.learn(total_timesteps=per_update)  # warm-up
    rec.take()
    out: dict[str, list[float]] = {"update": [], "rollout": [], "train": [], "minibatches": []}
    for _ in range(updates):
        start = time.perf_counter()
        model.learn(total_timesteps=per_update, reset_num_timesteps=False)
        out["update"].append(time.perf_counter() - start)
        calls = rec.take()
        out["rollout"].append(sum(calls["rollout"]))
        out["train"].append(sum(calls["train"]))
        out["minibatches"].append(len(calls["optimizer step"]))
    model.env.close()
    log_dir.cleanup()
    out["steps"] = [per_update]
    return out


def ours_iterations(updates: int) -> dict[str, list[float]]:
    """(e): seconds per iteration, its sampling and learner parts, minibatch steps."""
    import ray

    config = mtrl_ray_ppo_config()
    start_ray(config.num_env_runners + 1)
    try:
        algo = config.build_algo()
        try:
            rec = instrument(algo, "ppo")
            sampling = next(n for n in rec.names if n.startswith(SAMPLING))
            loss = next(n for n in rec.names if "forward + loss" in n)
            step = next(n for n in rec.names if "backward + optimizer step" in n)
            result = algo.train()  # warm-up
            rec.take()
            out: dict[str, list[float]] = {
                k: [] for k in ("update", "sampling", "learner", "step", "minibatches", "steps")
            }
            first = result["env_runners"]["num_env_steps_sampled_lifetime"]
            for _ in range(updates):
                start = time.perf_counter()
                result = algo.train()
                out["update"].append(time.perf_counter() - start)
                calls = rec.take()
                out["sampling"].append(sum(calls[sampling]))
                out["learner"].append(sum(calls[UPDATE]))
                out["step"].append(sum(calls[loss]) + sum(calls[step]))
                out["minibatches"].append(len(calls[loss]))
                now = result["env_runners"]["num_env_steps_sampled_lifetime"]
                out["steps"].append(now - first)
                first = now
            return out
        finally:
            algo.stop()
    finally:
        ray.shutdown()


def _step_worker(seconds: float, env_id: str, barrier, results) -> None:
    results.put(raw_stepping(seconds, (env_id,), barrier=barrier))


def stepping_ceiling(seconds: float, processes: int, env_id: str) -> float:
    """Env steps/s of `processes` processes stepping `env_id` x 16 envs at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_step_worker, args=(seconds, env_id, barrier, results))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    rates = [results.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def med(values: list[float]) -> float:
    return statistics.median(values)


def report(args, runs: list[dict[str, dict[str, list[float]]]], load: float, wall: float) -> str:
    """The markdown report of all repeats."""
    # Per repeat: each quantity's median over that repeat's updates.
    reps = [{k: {q: med(v) for q, v in part.items()} for k, part in run.items()} for run in runs]

    def col(part: str, q: str, scale: float = 1.0) -> list[float]:
        return [scale * r[part][q] for r in reps]

    def line(label: str, values: list[float], fmt: str = "{:.1f}") -> str:
        each = ", ".join(fmt.format(v) for v in values)
        return f"| {label} | {fmt.format(med(values))} | {each} |"

    steps = int(reps[0]["sb3"]["steps"])
    mb_sb3 = int(med(col("sb3", "minibatches")))
    mb_ours = int(med(col("ours", "minibatches")))
    per_mb = [r["sb3"]["train"] / r["sb3"]["minibatches"] for r in reps]
    ours_mb = [r["ours"]["learner"] / r["ours"]["minibatches"] for r in reps]
    ours_step = [r["ours"]["step"] / r["ours"]["minibatches"] for r in reps]
    ceiling = col("ceiling", "rate")
    t_sb3, l_ours, l_sb3 = col("sb3", "update"), col("ours", "learner"), col("sb3", "train")

    def bounds(learner: list[float]) -> list[Bound]:
        return [
            Bound(t, lrn, steps, c, mb_ours)
            for t, lrn, c in zip(t_sb3, learner, ceiling, strict=True)
        ]

    ours_b = Bound(med(t_sb3), med(l_ours), steps, med(ceiling), mb_ours)
    sb3_b = Bound(med(t_sb3), med(l_sb3), steps, med(ceiling), mb_ours)
    measured = [t / o for t, o in zip(t_sb3, col("ours", "update"), strict=True)]
    need = ours_b.learner_needed()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    command = (
        f"python benchmarks/ppo_bound.py --repeats {args.repeats} --updates {args.updates} "
        f"--seconds {args.seconds:g}"
    )
    if args.env != "HalfCheetah-v5" or args.processes != 2:
        command += f" --env {args.env} --processes {args.processes}"
    ms = 1000.0
    lines = [
        f"# PPO's on-policy bound on (e)/(g) (median of {args.repeats} repeats, "
        f"{args.updates} updates each)",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; 1-minute load average at start: {load:.2f}",
        f"- date: {date.today().isoformat()}, commit {commit or 'uncommitted'}",
        f"- total time: {wall:.0f} s",
        "",
        f"Env steps per update: SB3 {steps}, ours {med(col('ours', 'steps')):.0f}; minibatch "
        f"steps per update: SB3 {mb_sb3}, ours {mb_ours}.",
        "",
        "| quantity | median | per repeat |",
        "| --- | ---: | --- |",
        line("(g) SB3 PPO: ms per update (`learn` of one update)", col("sb3", "update", ms)),
        line(
            "  rollout collection (`collect_rollouts`, GAE included), ms", col("sb3", "rollout", ms)
        ),
        line("  `train()` (the epochs of minibatch steps), ms", col("sb3", "train", ms)),
        line("  `train()` per minibatch step, ms", [ms * x for x in per_mb], "{:.2f}"),
        line("(e) ours, fast path: ms per iteration (`algo.train()`)", col("ours", "update", ms)),
        line("  sampling, ms", col("ours", "sampling", ms)),
        line("  learner group update (GAE + epochs), ms", col("ours", "learner", ms)),
        line("  learner update per minibatch step, ms", [ms * x for x in ours_mb], "{:.2f}"),
        line("  of which forward, loss, backward, Adam, ms", [ms * x for x in ours_step], "{:.2f}"),
        line(
            f"stepping ceiling: {args.env} x 16 envs in {args.processes} processes, env steps/s",
            ceiling,
            "{:.0f}",
        ),
        line("S_min = steps per update / ceiling, ms", [ms * b.s_min for b in bounds(l_ours)]),
        "",
        f"- (g) {steps / med(t_sb3):.0f} env steps/s, (e) {steps / med(col('ours', 'update')):.0f}"
        f"; measured (e)/(g) = T_sb3 / T_ours = {med(measured):.2f}; per repeat: "
        + ", ".join(f"{x:.2f}" for x in measured),
        f"- on-policy bound with our learner: T_sb3 / (L_ours + S_min) = {ours_b.ratio:.2f}; "
        "per repeat: " + ", ".join(f"{b.ratio:.2f}" for b in bounds(l_ours)),
        f"- the same if our learner took SB3's train() time: T_sb3 / (L_sb3 + S_min) = "
        f"{sb3_b.ratio:.2f}; per repeat: " + ", ".join(f"{b.ratio:.2f}" for b in bounds(l_sb3)),
        f"- for (e)/(g) = {TARGET}: L + S_min <= T_sb3 / {TARGET} = "
        f"{ms * med(t_sb3) / TARGET:.0f} ms, so L <= {ms * need:.0f} ms per update"
        + (
            f", {ms * ours_b.per_minibatch_needed():.2f} ms per minibatch step "
            f"(ours now {ms * med(ours_mb):.2f}, SB3's {ms * med(per_mb):.2f})"
            if need > 0
            else ": not reachable even with a learner that takes no time"
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--updates", type=int, default=4, help="timed updates per repeat")
    parser.add_argument("--seconds", type=float, default=10.0, help="stepping ceiling's length")
    parser.add_argument("--processes", type=int, default=2, help="processes stepping at once")
    parser.add_argument("--env", default="HalfCheetah-v5", help="env of the stepping ceiling")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if min(args.repeats, args.updates, args.processes) < 1 or args.seconds <= 0:
        parser.error("--repeats, --updates, --processes and --seconds must be > 0")
    load, started = os.getloadavg()[0], time.perf_counter()
    runs = []
    for _ in range(args.repeats):
        runs.append(
            {
                "sb3": sb3_updates(args.updates),
                "ours": ours_iterations(args.updates),
                "ceiling": {"rate": [stepping_ceiling(args.seconds, args.processes, args.env)]},
            }
        )
    text = report(args, runs, load, time.perf_counter() - started)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
