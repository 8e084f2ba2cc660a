"""Results tables over seeds: records from evaluation files, intervals, Markdown.

A table (`results/table2.json`, `results/table1.json`) is a list of records, one
per (method, task, seed, evaluation kind), each naming the evaluation file it
came from. Across seeds a cell is the mean ± std of the seeds' means; a claim
that one method beats another on a task holds only where the 95 % Welch interval
of the difference of the seed means excludes zero, else the two are "level".
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mtrl_ray.checkpoints import write_text_whole

#: Evaluation kinds: the paper's text samples its 20 rollouts, its evaluation
#: script acts with the mean action. Both are reported, neither alone.
KINDS = {"sampled": "evaluation.json", "mean_action": "evaluation_deterministic.json"}


@dataclass(frozen=True)
class Record:
    """One method's evaluation on one task, one seed, one evaluation kind.

    Attributes:
        method: Row group, e.g. "scratch (3M)".
        task: The environment (and head).
        seed: The training seed.
        kind: "sampled" or "mean_action".
        mean: Mean return over the episodes.
        std: Std of the return over the episodes (one checkpoint's spread).
        episodes: Number of episodes.
        evaluation: Path of the evaluation file, relative to the repository.
    """

    method: str
    task: str
    seed: int
    kind: str
    mean: float
    std: float
    episodes: int
    evaluation: str


def records_from_checkpoint(
    method: str, seed: int, checkpoint: Path, root: Path, tasks: Sequence[str] | None = None
) -> list[Record]:
    """Records of both evaluation kinds found in a checkpoint folder.

    Args:
        method: The method's name in the table.
        seed: The training seed.
        checkpoint: A checkpoint folder holding `evaluation*.json` (`rllib evaluate`).
        root: The repository root; record paths are relative to it.
        tasks: Only these tasks (default: every task evaluated).

    Raises:
        FileNotFoundError: the checkpoint has neither evaluation file.
    """
    records = []
    for kind, name in KINDS.items():
        path = checkpoint / name
        if not path.is_file():
            continue
        for r in json.loads(path.read_text())["results"]:
            if r["task"] != r["head"] or (tasks is not None and r["task"] not in tasks):
                continue
            rel = str(path.resolve().relative_to(root.resolve()))
            records.append(
                Record(method, r["task"], seed, kind, r["mean"], r["std"], r["episodes"], rel)
            )
    if not records:
        raise FileNotFoundError(f"no evaluation file in {checkpoint} ({', '.join(KINDS.values())})")
    return records


def write_records(path: Path, records: Iterable[Record]) -> None:
    """Writes a table's records as JSON (whole or not at all)."""
    rows = [asdict(r) for r in records]
    write_text_whole(path, json.dumps({"records": rows}, indent=1) + "\n")


def read_records(path: Path) -> list[Record]:
    """The records of a table file."""
    return [Record(**row) for row in json.loads(Path(path).read_text())["records"]]


def t_quantile(p: float, df: float) -> float:
    """The p-quantile (p > 0.5) of Student's t with `df` (possibly fractional) degrees.

    By bisection on the CDF, integrated numerically (Simpson) from 0: accurate to
    ~1e-6, which is all an interval over three seeds needs.
    """
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x: float) -> float:
        grid = np.linspace(0.0, x, 2001)
        pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(grid**2 / df))
        h = x / 2000
        simpson = h / 3 * (pdf[0] + pdf[-1] + 4 * pdf[1:-1:2].sum() + 2 * pdf[2:-1:2].sum())
        return 0.5 + simpson

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def welch_interval(
    a: Sequence[float], b: Sequence[float], level: float = 0.95
) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its Welch t-interval: (difference, low, high).

    With a single value on a side, or no spread at all, the interval is infinite.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    diff = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return diff, -math.inf, math.inf
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    if se == 0:
        return diff, -math.inf, math.inf
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    return diff, diff - half, diff + half


def verdict(low: float, high: float, a: str, b: str) -> str:
    """"a higher", "b higher" or "level", from an interval of a - b."""
    if low > 0:
        return f"{a} higher"
    if high < 0:
        return f"{b} higher"
    return "level"


def seed_means(records: Iterable[Record]) -> dict[tuple[str, str, str], dict[int, float]]:
    """{(method, task, kind): {seed: mean return}}."""
    cells: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for r in records:
        cells[(r.method, r.task, r.kind)][r.seed] = r.mean
    return cells


def markdown_table(
    records: Sequence[Record],
    kind: str,
    *,
    paper: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    short: Mapping[str, str] | None = None,
) -> str:
    """One evaluation kind as Markdown: a row per task, a column per method.

    A cell: mean ± std over the seeds' means (n seeds), and in brackets the mean
    over seeds of the std over one checkpoint's episodes. `paper` adds the paper's
    columns ({method: {task: (mean, std)}}); `short` shortens task names.
    """
    chosen = [r for r in records if r.kind == kind]
    methods = list(dict.fromkeys(r.method for r in chosen))
    tasks = list(dict.fromkeys(r.task for r in chosen))
    spreads: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in chosen:
        spreads[(r.method, r.task)].append(r.std)
    cells = seed_means(chosen)
    head = ["task", *methods, *(f"paper: {m}" for m in paper or {})]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for task in tasks:
        row = [(short or {}).get(task, task)]
        for method in methods:
            means = list(cells.get((method, task, kind), {}).values())
            if not means:
                row.append("–")
                continue
            spread = float(np.mean(spreads[(method, task)]))
            sd = f" ± {np.std(means, ddof=1):.0f}" if len(means) > 1 else ""
            row.append(f"{np.mean(means):.0f}{sd} (n={len(means)}) [±{spread:.0f}]")
        for column in (paper or {}).values():
            mean, std = column.get(task, (math.nan, math.nan))
            row.append(f"{mean:.0f} ± {std:.0f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def markdown_comparison(
    records: Sequence[Record], kind: str, a: str, b: str, short: Mapping[str, str] | None = None
) -> str:
    """Per task: mean(a) - mean(b) over seeds, its 95 % Welch interval, the verdict."""
    cells = seed_means(r for r in records if r.kind == kind)
    tasks = list(dict.fromkeys(r.task for r in records if r.kind == kind))
    lines = [f"| task | {a} − {b} | 95 % interval | verdict |", "| --- | ---: | --- | --- |"]
    for task in tasks:
        xa, xb = cells.get((a, task, kind)), cells.get((b, task, kind))
        if not xa or not xb:
            continue
        diff, low, high = welch_interval(list(xa.values()), list(xb.values()))
        name = (short or {}).get(task, task)
        lines.append(f"| {name} | {diff:+.0f} | [{low:+.0f}, {high:+.0f}] | "
                     f"{verdict(low, high, a, b)} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def table_report(
    path: Path,
    out_dir: Path,
    paper: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
) -> list[Path]:
    """Markdown and bar charts of a table file, per evaluation kind; the files written.

    `<name>.md` holds, per kind, the table and each pair of methods compared per
    task; `<name>_<kind>.png` the bar chart (bars: mean over seeds, dots: seeds).
    """
    from mtrl_ray.report import table_tasks
    from mtrl_ray.report_figure import plot_table

    records = read_records(path)
    methods = list(dict.fromkeys(r.method for r in records))
    name = Path(path).stem
    sections, written = [f"# {name} (from {Path(path).name})\n"], []
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        chosen = [r for r in records if r.kind == kind]
        if not chosen:
            continue
        label = kind.replace("_", " ")
        sections += [f"\n## {label}\n", markdown_table(chosen, kind, paper=paper)]
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                title = f"\n{a} vs {b} ({label}):\n\n"
                sections += [title, markdown_comparison(chosen, kind, a, b)]
        cells: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in chosen:
            cells[r.method][r.task].append((r.mean, r.std))
        figure = out_dir / f"{name}_{kind}.png"
        tasks = table_tasks({r.task for r in chosen})
        paper_cells = {m: dict(cells_m) for m, cells_m in (paper or {}).items()}
        title = re.sub(r"^table(\d+)$", r"Table \1", name)  # table1 -> Table 1
        written.append(plot_table(cells, paper_cells, tasks, figure, label, title))
    text_path = out_dir / f"{name}.md"
    write_text_whole(text_path, "".join(sections))
    return [text_path, *written]
