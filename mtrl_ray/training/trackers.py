"""Experiment trackers through Tune's own callbacks: Weights & Biases and MLflow.

Both are optional (`pip install "mtrl-ray[track]"`) and checked before Ray starts:
a missing package or, for W&B, no way to log in is a one-line error. W&B runs
offline with `WANDB_MODE=offline` (files under `WANDB_DIR`, `wandb sync` later);
MLflow logs to any tracking URI, by default a local `mlruns/` folder (MLflow's
file store, which MLflow 3 enables only on request: this module requests it).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any


def tracker_callbacks(
    experiment: str, wandb_project: str | None = None, mlflow_uri: str | None = None
) -> tuple[Any, ...]:
    """Tune callbacks for the chosen trackers (none: empty).

    Args:
        experiment: The experiment's name (W&B group, MLflow experiment).
        wandb_project: W&B project to log to.
        mlflow_uri: MLflow tracking URI (a plain path is a local folder).

    Raises:
        ValueError: a tracker's package is missing, or W&B has no API key and is
            not offline.
    """
    callbacks: list[Any] = []
    if wandb_project is not None:
        _need("wandb", "--wandb")
        if not _wandb_can_log_in():
            raise ValueError(
                "--wandb needs WANDB_API_KEY, `wandb login`, or WANDB_MODE=offline"
            )
        from ray.air.integrations.wandb import WandbLoggerCallback

        # The logging runs in a Ray actor: the user's offline mode and folder must
        # reach it even where the actor's process did not inherit this environment.
        settings = {k: os.environ[v] for k, v in (("mode", "WANDB_MODE"), ("dir", "WANDB_DIR"))
                    if os.environ.get(v)}  # fmt: skip
        callbacks.append(
            WandbLoggerCallback(project=wandb_project, group=experiment, **settings)
        )
    if mlflow_uri is not None:
        _need("mlflow", "--mlflow")
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        if "://" not in mlflow_uri:
            mlflow_uri = Path(mlflow_uri).expanduser().resolve().as_uri()
        if mlflow_uri.startswith("file:"):
            # MLflow 3 keeps its folder store for existing users only; a local folder
            # is what a user without a tracking server has.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        callbacks.append(MLflowLoggerCallback(tracking_uri=mlflow_uri, experiment_name=experiment))
    return tuple(callbacks)


def _need(module: str, flag: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ValueError(f'{flag} needs the {module} package: pip install "mtrl-ray[track]"')


def _wandb_can_log_in() -> bool:
    if os.environ.get("WANDB_MODE") in ("offline", "disabled") or os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
