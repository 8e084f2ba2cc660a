"""Two commits side by side: alternating runs of a benchmark script, one process each.

    python benchmarks/commit_ab.py BASE [NEW] [--script throughput] [--rows e,g] [--runs 3]
        [--seconds 20] [--out FILE]

For a change smaller than the machine's drift between runs (these machines are
shared): each commit is checked out in a temporary git worktree, and the script
(this checkout's `benchmarks/<script>.py`: `throughput` with `--repeats 1`, or
`sampler_overhead`) runs as a fresh process for each, alternating BASE, NEW, BASE,
NEW, ... `runs` times, with the worktree first on PYTHONPATH and as the working
directory, so that the driver and its Ray workers import that commit's `mtrl_ray`.
Reported: each run's rows and ratios (such as (e)/(g), which compares within one
process), then per row and per ratio the median over runs of each commit and the
median of NEW/BASE over the pairs (run i of BASE and run i of NEW ran one after the
other).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATIO = re.compile(r"^- \((\w+'?)\)/\((\w+'?)\) = ([0-9.]+)")
SCRIPTS = ("throughput", "sampler_overhead")
ROW = re.compile(r"^\| \((\w+'?)\) [^|]*\| ([0-9.]+) \|")


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def run_once(tree: Path, script: str, rows: str, seconds: float) -> tuple[dict, dict]:
    """One run of `script` on `tree`'s package: ({row: value}, {"(x)/(y)": ratio})."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / f"{script}.py")]
    if script == "throughput":
        command += ["--repeats", "1", "--seconds", f"{seconds:g}", "--rows", rows]
    out = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
    return parse(out.stdout)


def parse(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """A script's printed rows and ratios: ({row: value}, {"(x)/(y)": ratio})."""
    rates, ratios = {}, {}
    for line in text.splitlines():
        if m := ROW.match(line):
            rates[m[1]] = float(m[2])
        elif m := RATIO.match(line):
            ratios[f"({m[1]})/({m[2]})"] = float(m[3])
    return rates, ratios


def summary(label: str, base: list[float], new: list[float], digits: int) -> str:
    """A report line: each commit's median over runs, and NEW/BASE per pair and its median."""
    gains = [n / b for n, b in zip(new, base, strict=True)]
    return (
        f"- {label}: base median {statistics.median(base):.{digits}f}, new median "
        f"{statistics.median(new):.{digits}f}; new/base per pair "
        + ", ".join(f"{g:.2f}" for g in gains)
        + f" (median {statistics.median(gains):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the commit to compare against")
    parser.add_argument("new", nargs="?", default="HEAD", help="the changed commit (HEAD)")
    parser.add_argument("--script", default="throughput", choices=SCRIPTS)
    parser.add_argument("--rows", default="e,g", help="the rows to report (throughput's to run)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each commit")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.runs < 1 or args.seconds <= 0:
        parser.error("--runs and --seconds must be > 0")
    commits = {"base": git("rev-parse", "--short", args.base)}
    commits["new"] = git("rev-parse", "--short", args.new)
    started, load = time.time(), os.getloadavg()[0]
    results: dict[str, list[tuple[dict, dict]]] = {"base": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {side: Path(tmp) / side for side in commits}
        for side, commit in commits.items():
            git("worktree", "add", "--detach", str(trees[side]), commit)
        try:
            for _ in range(args.runs):
                for side in ("base", "new"):
                    results[side].append(
                        run_once(trees[side], args.script, args.rows, args.seconds)
                    )
        finally:
            for tree in trees.values():
                git("worktree", "remove", "--force", str(tree))

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import machine  # noqa: PLC0415 (its imports are heavy: only now)

    command = f"python benchmarks/commit_ab.py {commits['base']} {commits['new']}"
    command += f" --script {args.script} --rows {args.rows} --runs {args.runs}"
    command += f" --seconds {args.seconds:g}" if args.script == "throughput" else ""
    lines = [
        f"# {commits['new']} against {commits['base']}: {args.script}.py, alternating runs",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; 1-minute load average at start: {load:.2f}",
        f"- date: {date.today().isoformat()}; total time: {time.time() - started:.0f} s",
        "",
        "| run | commit | " + " | ".join(f"({r})" for r in args.rows.split(",")) + " | ratios |",
        "| ---: | --- |" + " ---: |" * len(args.rows.split(",")) + " --- |",
    ]
    for i in range(args.runs):
        for side in ("base", "new"):
            rates, ratios = results[side][i]
            cells = " | ".join(f"{rates.get(r, float('nan')):.0f}" for r in args.rows.split(","))
            text = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
            lines.append(f"| {i + 1} | {side} {commits[side]} | {cells} | {text} |")
    lines.append("")
    for row in args.rows.split(","):
        base = [rates.get(row, float("nan")) for rates, _ in results["base"]]
        new = [rates.get(row, float("nan")) for rates, _ in results["new"]]
        lines.append(summary(f"({row})", base, new, digits=1))
    for key in results["base"][0][1]:
        base = [ratios[key] for _, ratios in results["base"]]
        new = [ratios[key] for _, ratios in results["new"]]
        lines.append(summary(key, base, new, digits=2))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        tmp_out = args.out.with_suffix(".tmp")
        tmp_out.write_text(text)
        tmp_out.replace(args.out)  # whole or not at all


if __name__ == "__main__":
    main()
