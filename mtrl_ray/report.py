"""`rllib report`: learning curves (PNG) and evaluation tables (Markdown) from runs.

A run folder is one Tune trial of `rllib train` (`runs/<experiment>/seed0/`:
`result.json` with nested results, checkpoints) or an older run folder
(flattened `result.json`, or a committed `result.json.gz`, and `checkpoints/`).
Runs whose names differ only by a `_seed<N>` suffix are one method: their curves
are averaged (shaded min..max), their evaluations listed side by side. A folder of
run folders (an experiment's trials; the six single-task teachers) is one method
named after that folder, each run giving its own tasks; trials of a grid
(`lr=0.001_seed0`) are one method per grid point.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from mtrl_ray import metrics
from mtrl_ray.evaluation import evaluation_stem
from mtrl_ray.report_figure import plot_table

#: The paper's Table 2 (6 tasks; frames per task), mean ± std over 20 rollouts.
PAPER_TABLE2 = {
    "scratch (3M)": {
        "HalfCheetahSmallFoot-v0": (1326.30, 21.15),
        "HalfCheetahBigFoot-v0": (37.80, 441.49),
        "HalfCheetahSmallLeg-v0": (1420.77, 21.66),
        "HalfCheetahSmallThigh-v0": (1444.21, 24.75),
        "HalfCheetahSmallTorso-v0": (2116.10, 29.24),
        "HalfCheetahBigTorso-v0": (1312.50, 24.75),
    },
    "distillation multi-task (1M)": {
        "HalfCheetahSmallFoot-v0": (1348.30, 16.65),
        "HalfCheetahBigFoot-v0": (-63.07, 0.93),
        "HalfCheetahSmallLeg-v0": (1413.55, 17.73),
        "HalfCheetahSmallThigh-v0": (838.35, 960.78),
        "HalfCheetahSmallTorso-v0": (2116.94, 38.00),
        "HalfCheetahBigTorso-v0": (1323.61, 29.64),
    },
    "vanilla multi-task (1M)": {
        "HalfCheetahSmallFoot-v0": (1480.89, 30.92),
        "HalfCheetahBigFoot-v0": (2188.11, 21.28),
        "HalfCheetahSmallLeg-v0": (1525.09, 25.15),
        "HalfCheetahSmallThigh-v0": (1874.04, 14.02),
        "HalfCheetahSmallTorso-v0": (2276.11, 46.14),
        "HalfCheetahBigTorso-v0": (1428.97, 7.06),
    },
}

_PREFIX = f"env_runners/{metrics.PER_TASK}/"


class ReportError(ValueError):
    """A run folder or output folder `rllib report` cannot use (named in the message)."""


def method_name(run_dir: Path) -> str:
    """A run's method: its folder name without a `_seed<N>` suffix.

    A Tune trial named only by its seed (`seed0`) takes its experiment's name.
    """
    if re.fullmatch(r"seed\d+|trial", run_dir.name):
        return run_dir.resolve().parent.name
    return re.sub(r"_seed\d+$", "", run_dir.name)


def is_run(path: Path) -> bool:
    """Whether `path` is a run folder (has `result.json` or `result.json.gz`)."""
    return (path / "result.json").is_file() or (path / "result.json.gz").is_file()


def expand_runs(paths: list[Path]) -> list[tuple[str, Path]]:
    """(method, run folder) for run folders and folders of run folders.

    Raises:
        FileNotFoundError: for a path that is neither.
    """
    runs = []
    for path in paths:
        if is_run(path):
            runs.append((method_name(path), path))
            continue
        inner = sorted(p for p in path.iterdir() if is_run(p)) if path.is_dir() else []
        if not inner:
            raise FileNotFoundError(f"not a run folder (no result.json): {path}")
        for run in inner:  # grid points of an experiment are methods of their own
            point = method_name(run)
            runs.append((f"{path.name} {point}" if "=" in point else path.name, run))
    return runs


def _result_rows(run_dir: Path) -> list[dict]:
    """The run's result rows; a truncated last line (a kill mid-write) is skipped.

    Raises:
        ReportError: a line other than the last that is not JSON.
    """
    plain = run_dir / "result.json"
    path = plain if plain.is_file() else run_dir / "result.json.gz"
    try:
        if plain.is_file():
            lines = plain.read_text().splitlines()
        else:
            with gzip.open(path, "rt") as f:
                lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise ReportError(f"cannot read {path}: {e}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if number < len(lines):
                raise ReportError(f"{path} line {number} is not JSON: {e}") from None
            print(f"rllib report: warning: {path}: skipped a truncated last line ({number})",
                  file=sys.stderr)  # fmt: skip
    return rows


def learning_curves(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per task: (env steps of that task, mean episode return), where one was reported."""
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for raw in _result_rows(run_dir):
        row = _flat(raw)
        for key, value in row.items():
            if not (key.startswith(_PREFIX) and key.endswith("/" + metrics.EPISODE_RETURN_MEAN)):
                continue
            task = key[len(_PREFIX) : -len(metrics.EPISODE_RETURN_MEAN) - 1]
            steps = row.get(f"{_PREFIX}{task}/{metrics.NUM_ENV_STEPS}")
            if value is not None and steps is not None and not math.isnan(value):
                points[task].append((steps, value))
    return {
        t: (np.array([s for s, _ in p]), np.array([r for _, r in p])) for t, p in points.items()
    }


def _flat(row: dict, prefix: str = "") -> dict:
    """A result row with nested dicts (Tune's result.json) as "a/b" keys."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def plot_curves(by_method: dict[str, list[dict]], out_dir: Path) -> list[Path]:
    """One PNG per task: return vs that task's env steps, a line per method.

    Args:
        by_method: Method -> its runs' `learning_curves`.
        out_dir: Output folder (exists).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({t for curves in by_method.values() for c in curves for t in c})
    written = []
    for task in tasks:
        fig, ax = plt.subplots(figsize=(6, 4))
        for method, seeds in sorted(by_method.items()):
            seeds = [c[task] for c in seeds if task in c]
            if not seeds:
                continue
            grid = np.linspace(0, min(s[-1] for s, _ in seeds), 200)
            ys = np.array([np.interp(grid, s, r) for s, r in seeds])
            label = f"{method} ({len(seeds)} seed{'s' * (len(seeds) > 1)})"
            (line,) = ax.plot(grid, ys.mean(0), label=label)
            if len(seeds) > 1:  # the band in its line's colour, not the cycle's next one
                ax.fill_between(grid, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.25)
        ax.set(title=task, xlabel=f"env steps of {task}", ylabel="mean episode return")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"curve_{task}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def evaluation_cells(
    runs: list[tuple[str, Path]], stem: str = "evaluation"
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """method -> task -> one (mean, std over episodes) per run (seed) that evaluated it.

    Read from the runs' `<stem>.json` files; within one run, the last file (by path)
    counts.
    """
    per_run: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for method, run in runs:
        latest: dict[str, tuple[float, float]] = {}
        for path in sorted(run.rglob(f"{stem}.json")):
            try:
                for r in json.loads(path.read_text())["results"]:
                    latest[r["task"]] = (r["mean"], r["std"])
            except (ValueError, KeyError, TypeError) as e:
                raise ReportError(f"unreadable evaluation {path}: {e!r}") from None
        for task, cell in latest.items():
            per_run[method][task].append(cell)
    return per_run


def table_tasks(tasks: set[str]) -> list[str]:
    """The paper's six tasks in its order (those present), then the others sorted."""
    paper_order = [t for t in PAPER_TABLE2["vanilla multi-task (1M)"] if t in tasks]
    return paper_order + sorted(tasks - set(paper_order))


def evaluation_table(runs: list[tuple[str, Path]], paper: bool, stem: str = "evaluation") -> str:
    """Markdown table: task x method, from the runs' `<stem>.json` evaluation files.

    A cell is the evaluation's mean ± std over episodes. Where several runs of a
    method (seeds) evaluated a task, it is the mean over the runs, then each run's
    mean ± std. Within one run, the last evaluation file (by path) counts.
    """
    per_run = evaluation_cells(runs, stem)
    columns: dict[str, dict[str, str]] = defaultdict(dict)
    for method, tasks_ in per_run.items():
        for task, cells in tasks_.items():
            each = "; ".join(f"{m:.2f} ± {s:.2f}" for m, s in cells)
            if len(cells) > 1:
                mean = sum(m for m, _ in cells) / len(cells)
                each = f"{mean:.2f} ({len(cells)} seeds: {each})"
            columns[method][task] = each
    if paper:
        for name, paper_cells in PAPER_TABLE2.items():
            columns[f"paper: {name}"] = {
                t: f"{m:.2f} ± {s:.2f}" for t, (m, s) in paper_cells.items()
            }
    tasks = table_tasks({t for c in columns.values() for t in c})
    names = list(columns)
    lines = ["| environment | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for task in tasks:
        lines.append(f"| {task} | " + " | ".join(columns[n].get(task, "") for n in names) + " |")
    return "\n".join(lines) + "\n"


def report(paths: list[Path], out_dir: Path, paper: bool = False) -> list[Path]:
    """Writes the curves and the tables into `out_dir`; returns the files written.

    `table.md` holds the sampled evaluations; `table_deterministic.md` the
    mean-action ones (`rllib evaluate --deterministic`), where a run has any; each
    table is also drawn as a bar chart beside it (`table.png`, `table_deterministic.png`).

    Args:
        paths: Run folders, or folders of run folders (one method each).
        out_dir: Output folder.
        paper: Put the paper's Table 2 beside ours.
    """
    runs = expand_runs(paths)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} is a file, not a folder")
    # Everything is read before the output folder is made: bad input leaves none.
    by_method: dict[str, list[dict]] = defaultdict(list)
    for method, run in runs:
        by_method[method].append(learning_curves(run))
    tables = {}
    for deterministic in (False, True):
        stem = evaluation_stem(deterministic)
        if deterministic and not any(any(run.rglob(f"{stem}.json")) for _, run in runs):
            continue  # mean-action tables only where such evaluations exist
        name = "table_deterministic.md" if deterministic else "table.md"
        cells = evaluation_cells(runs, stem)
        protocol = "mean action" if deterministic else "sampled actions"
        tables[out_dir / name] = (evaluation_table(runs, paper, stem), cells, protocol)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = plot_curves(by_method, out_dir)
    for table, (text, cells, protocol) in tables.items():
        table.write_text(text)
        written.append(table)
        tasks = table_tasks({t for c in cells.values() for t in c})
        if tasks:  # the figure's groups: tasks we evaluated (the paper's, where it has them)
            paper_cells = PAPER_TABLE2 if paper else {}
            written.append(
                plot_table(cells, paper_cells, tasks, table.with_suffix(".png"), protocol)
            )
    return written
