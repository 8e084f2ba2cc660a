"""A2C's part of benchmarks/onpolicy_bound.py: (b) and (c) of throughput.py, per update and round.

(b), SB3's A2C, takes T_sb3 per update of 80 env steps (16 envs x t_max 5): its
rollout and one train() step. (c), our multi-task A2C, takes per round of 480 env
steps (6 tasks x 16 envs x 5) the sampling call S, the learner's update L (one
step per task, the cycle) and the driver's other work D (the weights' pickling,
metrics, bookkeeping). Every round trains on fragments of the current policy, so

    (c) <= 480 / (L + D + S_min),  S_min = 480 / the stepping ceiling,

and the bounds on (c)/(b) and (c)/(a) follow by dividing by (b) and (a).
"""

from __future__ import annotations

import time

from bound_parts import Bound, built_algo, ceiling_check, col, line, med, per_repeat
from profile_parts import Recorder
from throughput import mtrl_ray_a2c_config, sb3_a2c_model, sb3_quiet_logger

TARGETS = {"b": 1.5, "a": 0.8}


def sb3_updates(iterations: int, updates: int = 50) -> dict[str, list[float]]:
    """(b): per update (means over `updates` in one learn(), as throughput.py's chunks),
    seconds per update and its rollout and train() parts."""
    model = sb3_a2c_model()
    log_dir = sb3_quiet_logger(model)
    per_update = model.n_steps * model.n_envs
    rec = Recorder()
    rec.wrap(model, "collect_rollouts", "rollout")
    rec.wrap(model, "train", "train")
    model.learn(total_timesteps=20 * per_update)  # warm-up, as throughput.py's
    rec.take()
    out: dict[str, list[float]] = {"update": [], "rollout": [], "train": []}
    for _ in range(iterations):
        start = time.perf_counter()
        model.learn(total_timesteps=updates * per_update, reset_num_timesteps=False)
        wall = time.perf_counter() - start
        calls = rec.take()
        n = len(calls["train"])
        out["update"].append(wall / n)
        out["rollout"].append(sum(calls["rollout"]) / n)
        out["train"].append(sum(calls["train"]) / n)
    model.env.close()
    log_dir.cleanup()
    out["steps"] = [per_update]
    return out


def ours_rounds(iterations: int) -> dict[str, list[float]]:
    """(c): per round (means over an iteration's rounds), seconds per round, the
    sampling call, the learner update, the weights' pickling and the rest (D includes
    the weights), env steps per round. The driver's calls are timed around them, as
    scaling.py does."""
    with built_algo(mtrl_ray_a2c_config()) as algo:
        rec = Recorder()
        rec.wrap(algo, "_current_weights", "weights")
        rec.wrap(algo, "_sample_fragments", "sampling")
        rec.wrap(algo.learner_group, "update", "learner")
        result = algo.train()  # warm-up
        rec.take()
        out: dict[str, list[float]] = {
            k: [] for k in ("round", "sampling", "learner", "weights", "driver", "steps")
        }
        first = result["env_runners"]["num_env_steps_sampled_lifetime"]
        for _ in range(iterations):
            start = time.perf_counter()
            result = algo.train()
            wall = time.perf_counter() - start
            calls = rec.take()
            n = len(calls["sampling"])
            parts = {k: sum(calls[k]) / n for k in ("sampling", "learner", "weights")}
            for k, v in parts.items():
                out[k].append(v)
            out["round"].append(wall / n)
            out["driver"].append(wall / n - parts["sampling"] - parts["learner"])
            now = result["env_runners"]["num_env_steps_sampled_lifetime"]
            out["steps"].append((now - first) / n)
            first = now
        return out


def section(reps: list[dict], stepping_label: str) -> list[str]:
    """The report's A2C lines from the repeats' medians."""
    ms = 1000.0
    sb3_steps = int(reps[0]["a2c"]["sb3"]["steps"])
    steps = round(med(col(reps, "a2c", "ours", "steps")))
    t_sb3 = col(reps, "a2c", "sb3", "update")
    learner, driver = col(reps, "a2c", "ours", "learner"), col(reps, "a2c", "ours", "driver")
    ceiling, raw = col(reps, "ceiling", "rate"), col(reps, "raw", "rate")
    # A learner as fast as SB3's: one SB3 train() step per task and round (the cycle).
    tasks = steps // sb3_steps
    sb3_learner = col(reps, "a2c", "sb3", "train", scale=tasks)

    def bounds(lrn: list[float], drv: list[float]) -> tuple[Bound, list[Bound]]:
        """The bound on the medians, and each repeat's."""
        mid = Bound(
            med(t_sb3), med(lrn), steps, med(ceiling), sb3_steps=sb3_steps, overhead=med(drv)
        )
        each = [
            Bound(t, lr, steps, c, sb3_steps=sb3_steps, overhead=d)
            for t, lr, d, c in zip(t_sb3, lrn, drv, ceiling, strict=True)
        ]
        return mid, each

    zero = [0.0] * len(reps)
    ours_c = [steps / r for r in col(reps, "a2c", "ours", "round")]
    rate_b = [sb3_steps / t for t in t_sb3]
    c_b = [c / b for c, b in zip(ours_c, rate_b, strict=True)]
    c_a = [c / a for c, a in zip(ours_c, raw, strict=True)]

    def reading(label: str, lrn: list[float], drv: list[float]) -> str:
        mid, each = bounds(lrn, drv)
        over_a = [b.rate / a for b, a in zip(each, raw, strict=True)]
        return (
            f"- {label}: (c) <= {mid.rate:.0f} env steps/s, so (c)/(b) <= {mid.ratio:.2f} and "
            f"(c)/(a) <= {mid.rate / med(raw):.2f}; per repeat: (c)/(b) "
            f"{per_repeat([b.ratio for b in each])}, (c)/(a) {per_repeat(over_a)}"
        )

    mid, now = bounds(learner, driver)
    needed = []
    for key, ref in (("b", mid.sb3_rate), ("a", med(raw))):
        target = TARGETS[key]
        left = mid.learner_needed(target, ref) + mid.overhead
        needed.append(
            f"- for (c)/({key}) = {target}: L + D <= {steps} / ({target} x {ref:.0f}) - S_min "
            + (
                f"= {ms * left:.1f} ms per round (ours now {ms * (mid.learner + mid.overhead):.1f})"
                if left > 0
                else "<= 0: not reachable even with a learner and driver that take no time"
            )
        )
    s_min = [ms * b.s_min for b in now]

    def ours(q: str) -> list[float]:
        return col(reps, "a2c", "ours", q, scale=ms)

    def sb3(q: str) -> list[float]:
        return col(reps, "a2c", "sb3", q, scale=ms)

    above = [s - m for s, m in zip(ours("sampling"), s_min, strict=True)]
    f2 = "{:.2f}"
    return [
        f"## A2C: (c)/(b) and (c)/(a) ({steps} env steps per round, SB3 {sb3_steps} per update)",
        "",
        "| quantity | median | per repeat |",
        "| --- | ---: | --- |",
        line("(b) SB3 A2C: ms per update (learn() of 50 updates / 50)", sb3("update")),
        line("  rollout (`collect_rollouts`), ms", sb3("rollout"), f2),
        line("  `train()` (one RMSprop step), ms", sb3("train"), f2),
        line("(c) ours: ms per round (`algo.train()` / 50)", ours("round"), f2),
        line(
            "  sampling call S (weights out, 6 runners, fragments back), ms", ours("sampling"), f2
        ),
        line("  learner group update L (6 steps, one per task), ms", ours("learner"), f2),
        line("  driver's rest D (round - S - L), ms", ours("driver"), f2),
        line("    of which the weights' pickling, ms", ours("weights"), f2),
        line("(a) raw stepping, 6 variants x 16 envs, 1 process, env steps/s", raw, "{:.0f}"),
        line(stepping_label, ceiling, "{:.0f}"),
        line(f"S_min = {steps} / ceiling, ms", s_min, f2),
        line("S - S_min (the sampling call above the ceiling), ms", above, f2),
        "",
        f"- measured: (b) {med(rate_b):.0f}, (c) {med(ours_c):.0f}, (a) {med(raw):.0f} env "
        f"steps/s; (c)/(b) = {med(c_b):.2f} (target {TARGETS['b']}), (c)/(a) = {med(c_a):.2f} "
        f"(target {TARGETS['a']}); per repeat: (c)/(b) {per_repeat(c_b)}, (c)/(a) "
        f"{per_repeat(c_a)}",
        reading(f"synchronous bound, driver as now: {steps} / (L + D + S_min)", learner, driver),
        reading(f"the same with no driver overhead (D = 0): {steps} / (L + S_min)", learner, zero),
        reading(
            f"with a learner as fast as SB3's (L = {tasks} x its train()) and D = 0",
            sb3_learner,
            zero,
        ),
        *needed,
        *ceiling_check(ours("sampling"), s_min),
    ]
