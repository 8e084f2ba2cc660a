"""One console line per trial per iteration: env steps and each task's latest return."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.tune import Callback

from mtrl_ray import metrics


class ProgressPrinter:
    """The progress line of one trial.

    A task's return is only reported in iterations where one of its episodes
    ended (1000-step episodes span several iterations), so the last known value
    is shown, or "-" before the first episode.
    """

    def __init__(self) -> None:
        self.returns: dict[str, float] = {}

    def line(self, result: dict[str, Any]) -> str:
        """The progress line of `result`."""
        per_task = result.get(ENV_RUNNER_RESULTS, {}).get(metrics.PER_TASK, {})
        for name, m in per_task.items():
            value = m.get(metrics.EPISODE_RETURN_MEAN)
            if value is not None and value == value:  # not NaN
                self.returns[name] = float(value)
            self.returns.setdefault(name, float("nan"))
        steps = int(result.get(NUM_ENV_STEPS_SAMPLED_LIFETIME) or 0)
        # HalfCheetah's variants by their part alone, unless other bodies train too.
        cheetahs = all(name.startswith("HalfCheetah") for name in self.returns)
        shown = " ".join(
            f"{(name.removeprefix('HalfCheetah') if cheetahs else name).removesuffix('-v0')}="
            + ("-" if value != value else f"{value:.1f}")
            for name, value in sorted(self.returns.items())
        )
        return f"iter {result.get('training_iteration', 0):4d}  steps {steps:>9d}  {shown}"


class ProgressLines(Callback):
    """Prints each trial's progress line, and when a trial fails, recovers or ends.

    With several trials each line starts with the trial's folder name.
    """

    def __init__(self) -> None:
        self._printers: dict[str, ProgressPrinter] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        printer = self._printers.setdefault(trial.trial_id, ProgressPrinter())
        self._print(trials, trial, printer.line(result))

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info):
        where = trial.checkpoint.path if trial.checkpoint else "the start"
        self._print(trials, trial, f"failed ({_reason(trial)}); restarting from {where}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info):
        self._print(trials, trial, f"failed for good ({_reason(trial)}); logs: {trial.path}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        if trial.checkpoint is not None:
            self._print(trials, trial, f"checkpoint: {trial.checkpoint.path}")

    @staticmethod
    def _print(trials: list, trial: Any, text: str) -> None:
        prefix = f"{trial.storage.trial_dir_name}: " if len(trials) > 1 else ""
        print(prefix + text, file=sys.stdout, flush=True)


def _reason(trial: Any) -> str:
    """The last line of the trial's error.txt (the exception), if Tune wrote one."""
    path = trial.error_file
    lines = Path(path).read_text().splitlines() if path and Path(path).is_file() else []
    lines = [line for line in lines if line.strip()]
    return lines[-1][:200] if lines else "no error.txt"
