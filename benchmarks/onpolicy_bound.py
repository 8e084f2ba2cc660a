"""On-policy bounds on 2 cores: how high PPO's (e)/(g) and A2C's (c)/(b), (c)/(a) can go.

    python benchmarks/onpolicy_bound.py [--algos ppo,a2c] [--repeats 3] [--updates 4]
                                   [--seconds 10] [--out FILE.md]

Issue 22. A synchronous algorithm (every update on fragments of the current policy,
as the paper's algorithms) cannot sample while its learner trains: an update takes
at least L + S, its learner time plus its sampling time, and S is at least S_min,
the update's env steps at the fastest rate the machine steps the envs with no
policy. PPO: SB3's PPO, (g), takes T_sb3 per update of the same work, so

    (e)/(g) = T_sb3 / T_ours <= T_sb3 / (L + S_min).

A2C: our round of 480 env steps takes at least L + D + S_min (D: the driver's other
work), so (c) <= 480 / (L + D + S_min), divided by (b) or (a) for the ratios
(a2c_bound.py).

One run measures, `--repeats` times one after the other (drift hits all alike):

1. PPO (`--algos ppo`): (g), throughput.py's SB3 PPO model, `--updates` updates
   (after one warm-up), each split into `collect_rollouts` (stepping, policy,
   VecNormalize, GAE) and `train()` (10 epochs of 32 minibatch steps); then (e),
   throughput.py's PPO config on its fast path in a private Ray (a logical CPU per
   runner and one for the learner, as (e)), `--updates` iterations after one warm-up,
   each split into sampling and the learner group's update with ppo_profile.py's
   instrumentation, and the update per minibatch step;
2. A2C (`--algos a2c`): (b), throughput.py's SB3 A2C model, `--updates` learn() calls
   of 50 updates, per update its rollout and train(); (c), throughput.py's A2C config
   (6 tasks x 1 runner x 16 envs, t_max 5, cycle) in a private Ray, `--updates`
   iterations of 50 rounds, per round the sampling call, the learner update and the
   driver's rest; and (a), raw stepping of the six variants in one process;
3. the stepping ceiling: the paper's six HalfCheetah variants x 16 envs (`--env`:
   another env instead) stepped with random actions in each of `--processes`
   processes at once for `--seconds`, no policy.

Medians per repeat (over updates), then over repeats; the bounds use the medians.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import a2c_bound  # noqa: E402
from bound_parts import (  # noqa: E402
    Bound,
    built_algo,
    ceiling_check,
    col,
    line,
    med,
    medians,
    per_repeat,
    stepping,
)
from ppo_profile import instrument  # noqa: E402
from profile_parts import SAMPLING, UPDATE, Recorder  # noqa: E402
from throughput import (  # noqa: E402
    machine,
    mtrl_ray_ppo_config,
    sb3_ppo_model,
    sb3_quiet_logger,
)

from mtrl_ray.envs import PAPER_TASKS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.5
ALGOS = ("ppo", "a2c")
PAPER = "paper"


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
    with built_algo(mtrl_ray_ppo_config()) as algo:
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


def ppo_section(reps: list[dict], stepping_label: str) -> list[str]:
    """The report's PPO lines from the repeats' medians."""

    def sb3(q: str, scale: float = 1.0) -> list[float]:
        return col(reps, "ppo", "sb3", q, scale=scale)

    def ours(q: str, scale: float = 1.0) -> list[float]:
        return col(reps, "ppo", "ours", q, scale=scale)

    ms = 1000.0
    steps = int(reps[0]["ppo"]["sb3"]["steps"])
    mb_sb3, mb_ours = int(med(sb3("minibatches"))), int(med(ours("minibatches")))
    per_mb = [t / m for t, m in zip(sb3("train"), sb3("minibatches"), strict=True)]
    ours_mb = [t / m for t, m in zip(ours("learner"), ours("minibatches"), strict=True)]
    ours_step = [t / m for t, m in zip(ours("step"), ours("minibatches"), strict=True)]
    ceiling = col(reps, "ceiling", "rate")
    t_sb3, l_ours, l_sb3 = sb3("update"), ours("learner"), sb3("train")

    def bounds(learner: list[float]) -> list[Bound]:
        return [
            Bound(t, lrn, steps, c, mb_ours)
            for t, lrn, c in zip(t_sb3, learner, ceiling, strict=True)
        ]

    ours_b = Bound(med(t_sb3), med(l_ours), steps, med(ceiling), mb_ours)
    sb3_b = Bound(med(t_sb3), med(l_sb3), steps, med(ceiling), mb_ours)
    measured = [t / o for t, o in zip(t_sb3, ours("update"), strict=True)]
    need = ours_b.learner_needed(TARGET)
    return [
        f"## PPO: (e)/(g) ({steps} env steps per update)",
        "",
        f"Env steps per update: SB3 {steps}, ours {med(ours('steps')):.0f}; minibatch "
        f"steps per update: SB3 {mb_sb3}, ours {mb_ours}.",
        "",
        "| quantity | median | per repeat |",
        "| --- | ---: | --- |",
        line("(g) SB3 PPO: ms per update (`learn` of one update)", sb3("update", ms)),
        line("  rollout collection (`collect_rollouts`, GAE included), ms", sb3("rollout", ms)),
        line("  `train()` (the epochs of minibatch steps), ms", sb3("train", ms)),
        line("  `train()` per minibatch step, ms", [ms * x for x in per_mb], "{:.2f}"),
        line("(e) ours, fast path: ms per iteration (`algo.train()`)", ours("update", ms)),
        line("  sampling, ms", ours("sampling", ms)),
        line("  learner group update (GAE + epochs), ms", ours("learner", ms)),
        line("  learner update per minibatch step, ms", [ms * x for x in ours_mb], "{:.2f}"),
        line("  of which forward, loss, backward, Adam, ms", [ms * x for x in ours_step], "{:.2f}"),
        line(stepping_label, ceiling, "{:.0f}"),
        line("S_min = steps per update / ceiling, ms", [ms * b.s_min for b in bounds(l_ours)]),
        "",
        f"- (g) {steps / med(t_sb3):.0f} env steps/s, (e) {steps / med(ours('update')):.0f}"
        f"; measured (e)/(g) = T_sb3 / T_ours = {med(measured):.2f}; per repeat: "
        + per_repeat(measured),
        f"- on-policy bound with our learner: T_sb3 / (L_ours + S_min) = {ours_b.ratio:.2f}; "
        "per repeat: " + per_repeat([b.ratio for b in bounds(l_ours)]),
        f"- the same if our learner took SB3's train() time: T_sb3 / (L_sb3 + S_min) = "
        f"{sb3_b.ratio:.2f}; per repeat: " + per_repeat([b.ratio for b in bounds(l_sb3)]),
        f"- for (e)/(g) = {TARGET}: L + S_min <= T_sb3 / {TARGET} = "
        f"{ms * med(t_sb3) / TARGET:.0f} ms, so L <= {ms * need:.0f} ms per update"
        + (
            f", {ms * ours_b.per_minibatch_needed(TARGET):.2f} ms per minibatch step "
            f"(ours now {ms * med(ours_mb):.2f}, SB3's {ms * med(per_mb):.2f})"
            if need > 0
            else ": not reachable even with a learner that takes no time"
        ),
        *ceiling_check(ours("sampling"), [b.s_min for b in bounds(l_ours)]),
    ]


def report(args, runs: list[dict], load: float, wall: float) -> str:
    """The markdown report of all repeats (the algorithms measured are the runs' keys)."""
    reps = [medians(run) for run in runs]  # per repeat: each quantity's median
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    algos = [a for a in ALGOS if a in runs[0]]
    command = f"python benchmarks/onpolicy_bound.py --repeats {args.repeats} "
    command += f"--updates {args.updates} --seconds {args.seconds:g}"
    if tuple(algos) != ALGOS:
        command += f" --algos {','.join(algos)}"
    if args.env != PAPER or args.processes != 2:
        command += f" --env {args.env} --processes {args.processes}"
    envs = "the 6 HalfCheetah variants" if args.env == PAPER else args.env
    stepping_label = (
        f"stepping ceiling: {envs} x 16 envs in {args.processes} processes, env steps/s"
    )
    lines = [
        f"# On-policy bounds: {', '.join(a.upper() for a in algos)} (median of {args.repeats} "
        f"repeats, {args.updates} updates or iterations each)",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; 1-minute load average at start: {load:.2f}",
        f"- date: {date.today().isoformat()}, commit {commit or 'uncommitted'}",
        f"- total time: {wall:.0f} s",
    ]
    sections = {"ppo": ppo_section, "a2c": a2c_bound.section}
    for algo in algos:
        lines += ["", *sections[algo](reps, stepping_label)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default=",".join(ALGOS), help="comma-separated: ppo, a2c")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--updates", type=int, default=4, help="timed updates (A2C: iterations of 50) per repeat"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="each stepping measurement")
    parser.add_argument("--processes", type=int, default=2, help="processes stepping at once")
    parser.add_argument(
        "--env", default=PAPER, help="the ceiling's env (default: the paper's six variants)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    if not algos or set(algos) - set(ALGOS):
        parser.error(f"--algos takes ppo and/or a2c, got {args.algos!r}")
    if min(args.repeats, args.updates, args.processes) < 1 or args.seconds <= 0:
        parser.error("--repeats, --updates, --processes and --seconds must be > 0")
    tasks = PAPER_TASKS if args.env == PAPER else (args.env,)
    load, started = os.getloadavg()[0], time.perf_counter()
    runs = []
    for _ in range(args.repeats):
        run: dict = {}
        if "ppo" in algos:
            run["ppo"] = {"sb3": sb3_updates(args.updates), "ours": ours_iterations(args.updates)}
        if "a2c" in algos:
            run["a2c"] = {
                "sb3": a2c_bound.sb3_updates(args.updates),
                "ours": a2c_bound.ours_rounds(args.updates),
            }
            run["raw"] = {"rate": [stepping(args.seconds, 1, PAPER_TASKS)]}
        run["ceiling"] = {"rate": [stepping(args.seconds, args.processes, tasks)]}
        runs.append(run)
    text = report(args, runs, load, time.perf_counter() - started)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
