"""Trial logs that stay in order across restores: `result.json` and `progress.csv`.

Tune's own JSON and CSV loggers append after a trial is restored from a checkpoint,
so the iterations run again after a failure appear twice (`[1, 2, 3, 2, 3]`), and
its CSV keeps the first result's columns, dropping metrics that appear later (a
task's return appears only once one of its 1000-step episodes ended). These keep
one row per iteration, in order, dropping rows past the iteration a trial was
restored to, and widen the CSV header when new keys appear. Passing them to Tune
replaces its defaults (its TensorBoard logger stays).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.result import EXPR_PROGRESS_FILE, EXPR_RESULT_FILE, TRAINING_ITERATION
from ray.tune.utils import flatten_dict
from ray.tune.utils.util import SafeFallbackEncoder

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.checkpoints import write_text_whole


class ResultJson(JsonLoggerCallback):
    """`result.json`: one JSON line per iteration (nested, as Tune writes it)."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[Any, float] = {}  # trial -> last iteration in its file

    def log_trial_start(self, trial: Any) -> None:
        self.update_config(trial, trial.config)  # params.json, params.pkl
        trial.init_local_path()
        compat.restore_trial_file(self, EXPR_RESULT_FILE, trial)
        lines = _lines(Path(trial.local_path, EXPR_RESULT_FILE))
        self._last[trial] = _iteration(json.loads(lines[-1])) if lines else 0.0

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._last:
            self.log_trial_start(trial)
        path = Path(trial.local_path, EXPR_RESULT_FILE)
        row = {k: v for k, v in result.items() if k != "config"}  # config: params.json
        line = json.dumps(row, cls=SafeFallbackEncoder)
        if _iteration(row) > self._last[trial]:
            with path.open("a") as f:
                f.write(line + "\n")
        else:  # restored to an earlier iteration: drop what came after it
            kept = [x for x in _lines(path) if _iteration(json.loads(x)) < _iteration(row)]
            write_text_whole(path, "".join(x + "\n" for x in [*kept, line]))
        self._last[trial] = _iteration(row)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        self._last.pop(trial, None)


class ProgressCsv(CSVLoggerCallback):
    """`progress.csv`: flattened results, one row per iteration, all keys as columns."""

    def __init__(self) -> None:
        super().__init__()
        self._state: dict[Any, tuple[list[str], float]] = {}  # trial -> (header, last)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        path = Path(trial.local_path, EXPR_PROGRESS_FILE)
        if trial not in self._state:
            trial.init_local_path()
            compat.restore_trial_file(self, EXPR_PROGRESS_FILE, trial)
            rows, fields = _read_csv(path)
            self._state[trial] = (fields, _iteration(rows[-1]) if rows else 0.0)
        fields, last = self._state[trial]
        row = flatten_dict({k: v for k, v in result.items() if k != "config"}, delimiter="/")
        new = sorted(k for k in row if k not in fields)
        if new or _iteration(row) <= last:
            # Rewritten whole: a wider header, or rows past a restored iteration dropped.
            kept = [r for r in _read_csv(path)[0] if _iteration(r) < _iteration(row)]
            fields = [*fields, *new]
            write_text_whole(path, _csv_text(fields, [*kept, row], header=True))
        else:
            with path.open("a", newline="") as f:
                f.write(_csv_text(fields, [row], header=False))
        self._state[trial] = (fields, _iteration(row))

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        self._state.pop(trial, None)


def _iteration(row: dict) -> float:
    return float(row.get(TRAINING_ITERATION) or 0)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def _read_csv(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader), list(reader.fieldnames or [])


def _csv_text(fields: list[str], rows: list[dict], header: bool) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
