"""The scaling benchmark's markdown: tables, fitted lines and the cluster projection.

The formulas are those of benchmarks/README.md, "Scaling".
"""

from __future__ import annotations

import numpy as np

NUM_CPUS = 2
A2C_STEPS_PER_RUNNER = 16 * 5  # env steps one runner adds to an A2C round
APPO_FRAGMENT = 512  # env steps of one APPO runner call (128 steps x 4 envs)


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares a, b of y = a + b * runners."""
    x = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def report(results: dict, axes: dict, algos: list[str], nodes: int, cpus: int) -> list[str]:
    """Markdown lines for `results` {(algo, kind, layout | "alone"): value}."""
    lines: list[str] = []
    if "a2c" in algos:
        lines += _a2c(results, axes, nodes, cpus)
    if "appo" in algos:
        lines += _appo(results, axes, nodes, cpus)
    return lines


def _layouts(axes: dict) -> list[tuple[int, int]]:
    return sorted({lay for axis in axes.values() for lay in axis}, key=lambda t: (t[0] * t[1], t))


def _a2c(results: dict, axes: dict, nodes: int, cpus: int) -> list[str]:
    def ms(kind, lay, key="round"):
        return 1000 * results[("a2c", kind, lay)][key]

    lines = [
        "## A2C: synchronous rounds (16 envs x t_max 5 per runner, cycle update)",
        "",
        "Wall time per round (iteration time / rounds, median over iterations; ms) and "
        "the driver's calls in it (median per round; ms): sampling (request, runners, "
        "fragments back) and the learner's update. Env steps/s: real env.",
        "",
        "| tasks x runners/task | runners | real: round | real: sampling | real: learner "
        "| cheap: round | cheap: sampling | cheap: learner | real env steps/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for lay in _layouts(axes):
        r = lay[0] * lay[1]
        lines.append(
            f"| {lay[0]} x {lay[1]} | {r} | {ms('real', lay):.1f} | "
            f"{ms('real', lay, 'sampling'):.1f} | {ms('real', lay, 'learner'):.1f} | "
            f"{ms('cheap', lay):.1f} | {ms('cheap', lay, 'sampling'):.1f} | "
            f"{ms('cheap', lay, 'learner'):.1f} | "
            f"{A2C_STEPS_PER_RUNNER * r / results[('a2c', 'real', lay)]['round']:.0f} |"
        )
    s_real, s_cheap = (1000 * results[("a2c", k, "alone")] for k in ("real", "cheap"))
    lines += [
        "",
        f"One runner alone (no Ray, this process), ms per round: real s_real = {s_real:.2f}, "
        f"cheap s_cheap = {s_cheap:.2f}.",
        "",
        "Fits T(R) = a + b * R (ms, ms per runner):",
        "",
        "| axis | env | a | b |",
        "| --- | --- | ---: | ---: |",
    ]
    fits = {}
    for axis, layouts in axes.items():
        for kind in ("real", "cheap"):
            a, b = fit([(t * k, ms(kind, (t, k))) for t, k in layouts])
            fits[(axis, kind)] = (a, b)
            lines.append(f"| {axis} | {kind} | {a:.2f} | {b:.3f} |")
    a_c, b_c = fits[("runners", "cheap")]
    b_r = fits[("runners", "real")][1]
    b_drv = b_c - s_cheap / NUM_CPUS
    lines += [
        "",
        f"- driver's cost per runner b_drv = b_cheap - s_cheap / {NUM_CPUS} cores "
        f"= {b_drv:.3f} ms (runners axis)",
        f"- env's share of the real slope: b_real - b_cheap = {b_r - b_c:.3f} ms; "
        f"expected from one runner alone, (s_real - s_cheap) / {NUM_CPUS} = "
        f"{(s_real - s_cheap) / NUM_CPUS:.3f} ms",
        f"- extra cost of a task over a runner: b(tasks axis, cheap) - b(runners axis, "
        f"cheap) = {fits[('tasks', 'cheap')][1] - b_c:.3f} ms",
    ]
    lines += _a2c_projection(a_c, b_drv, s_real, nodes, cpus)
    return lines


def _a2c_projection(a: float, b_drv: float, s_real: float, nodes: int, cpus: int) -> list[str]:
    runners = nodes * cpus
    if b_drv <= 0:
        return ["", "- projection: b_drv <= 0 (noise dominates the fit): none."]
    t = a + b_drv * runners + s_real
    return [
        "",
        f"Projection to {nodes} nodes x {cpus} CPUs = {runners} runners (one per CPU): "
        f"T = a_cheap + b_drv * R + s_real = {t:.1f} ms per round, "
        f"{A2C_STEPS_PER_RUNNER * runners / t * 1000:.0f} env steps/s; ceiling "
        f"{A2C_STEPS_PER_RUNNER / b_drv * 1000:.0f} env steps/s (R -> infinity); the "
        f"driver's share reaches half the round at R = {(a + s_real) / b_drv:.0f} runners.",
        "",
    ]


def _appo(results: dict, axes: dict, nodes: int, cpus: int) -> list[str]:
    def rate(kind, lay, key):
        return results[("appo", kind, lay)][key]

    lines = [
        "## APPO: asynchronous (tuned example's settings, 4 envs per runner)",
        "",
        "Env steps per second sampled by the runners and trained by the learner (each "
        "counted once: RLlib's trained count divided by num_epochs).",
        "",
        "| tasks x runners/task | runners | real: sampled | real: trained | cheap: sampled "
        "| cheap: trained |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for lay in _layouts(axes):
        lines.append(
            f"| {lay[0]} x {lay[1]} | {lay[0] * lay[1]} | {rate('real', lay, 'sampled'):.0f} | "
            f"{rate('real', lay, 'trained'):.0f} | {rate('cheap', lay, 'sampled'):.0f} | "
            f"{rate('cheap', lay, 'trained'):.0f} |"
        )
    r1 = {k: APPO_FRAGMENT / results[("appo", k, "alone")] for k in ("real", "cheap")}
    ceiling = max(rate("cheap", lay, "trained") for lay in _layouts(axes))
    runners = nodes * cpus
    lines += [
        "",
        f"One runner alone (RLlib's sampling loop, no Ray): real r1 = {r1['real']:.0f}, "
        f"cheap {r1['cheap']:.0f} env steps/s.",
        f"Learner ceiling L (best trained rate with the cheap env; on {NUM_CPUS} cores "
        f"a lower bound): {ceiling:.0f} env steps/s.",
        "",
        f"Projection to {nodes} nodes x {cpus} CPUs = {runners} runners: min(R * r1, L) = "
        f"{min(runners * r1['real'], ceiling):.0f} env steps/s; the learner saturates at "
        f"R = L / r1 = {ceiling / r1['real']:.1f} runners.",
        "",
    ]
    return lines
