"""Table 2 as a figure: per task, a bar per method, the paper's beside ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Bar colours: the paper's methods in greys (hatched), ours in colours.
_PAPER_GREYS = ("0.80", "0.65", "0.50", "0.35")
_OURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def plot_table(
    cells: dict[str, dict[str, list[tuple[float, float]]]],
    paper: dict[str, dict[str, tuple[float, float]]],
    tasks: list[str],
    path: Path,
    protocol: str,
    title: str = "Table 2",
) -> Path:
    """A grouped bar chart of an evaluation table; returns `path` (a PNG).

    Args:
        cells: method -> task -> (mean, std over episodes) of each seed
            (`report.evaluation_cells`).
        paper: The paper's methods: method -> task -> (mean, std over 20 rollouts);
            empty to leave them out.
        tasks: The tasks (groups), in order; the paper's may add none.
        path: Where to write the PNG.
        protocol: How the actions were chosen, for the title ("mean action", ...).
        title: The table's name, first in the title.

    A bar of ours is the mean over seeds, its dots each seed's mean, its whisker the
    mean over seeds of the std over episodes; a paper bar's whisker is its std.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [(f"paper: {m}", m, True) for m in paper] + [(m, m, False) for m in cells]
    width = 0.8 / max(len(methods), 1)
    fig_width = max(7.0, 1.6 * len(tasks) + 1.0)
    fig, ax = plt.subplots(figsize=(fig_width, 5.5))
    x = np.arange(len(tasks))
    for k, (label, method, is_paper) in enumerate(methods):
        offsets = x - 0.4 + width * (k + 0.5)
        if is_paper:
            means = [paper[method].get(t, (np.nan, np.nan)) for t in tasks]
            heights = np.array([m for m, _ in means])
            errors = np.array([s for _, s in means])
            style: dict[str, Any] = {
                "color": _PAPER_GREYS[k % 4],
                "hatch": "//",
                "edgecolor": "white",
            }
        else:
            seeds = [cells[method].get(t, []) for t in tasks]
            heights = np.array([np.mean([m for m, _ in c]) if c else np.nan for c in seeds])
            errors = np.array([np.mean([s for _, s in c]) if c else np.nan for c in seeds])
            style = {"color": _OURS[(k - len(paper)) % len(_OURS)]}
            n = max((len(c) for c in seeds), default=0)
            label = f"{label} ({n} seed{'s' * (n > 1)})"
            for offset, c in zip(offsets, seeds, strict=True):
                if len(c) > 1:
                    ax.plot([offset] * len(c), [m for m, _ in c], "k.", ms=4, zorder=3)
        ax.bar(offsets, heights, width, yerr=errors, capsize=2, label=label, **style)
    ax.set_xticks(x, [t.removeprefix("HalfCheetah").removesuffix("-v0") for t in tasks])
    ax.set_ylabel("episode return")
    ax.set_title(
        f"{title}, {protocol}: bars mean over seeds, dots seeds, whiskers ± std over episodes",
        fontsize=10,
    )
    ax.axhline(0, color="black", lw=0.5)
    ax.grid(axis="y", alpha=0.3)
    ncol = max(1, min(4, int(fig_width // 2.6)))  # legend entries fit the figure's width
    ax.legend(fontsize=8, ncol=ncol, loc="upper center", bbox_to_anchor=(0.5, -0.09), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
