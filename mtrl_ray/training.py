"""The training loop behind `rllib train`: iterate, report per task, checkpoint, resume."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from mtrl_ray import metrics
from mtrl_ray.checkpoints import (
    DEFAULT_ACTIONS_FOR_ENV,
    check_same_tasks,
    read_checkpoint,
    write_manifest,
)
from mtrl_ray.modules.multi_task_actor_critic import MultiTaskModelConfig


@dataclass(frozen=True)
class RunSettings:
    """Where and how long a training run goes.

    Attributes:
        name: Experiment name; results go to `storage_path/name`.
        storage_path: Root folder of result folders.
        stop: Stop criteria: result key (path with "/" allowed) -> threshold.
        checkpoint_every: Save a checkpoint every this many iterations (and at the end).
        restore: Checkpoint to resume from (weights, optimizer, normalization, counters).
        verbose: Print one progress line per iteration.
    """

    name: str
    storage_path: Path
    stop: dict[str, float]
    checkpoint_every: int = 10
    restore: Path | None = None
    verbose: bool = True

    @property
    def run_dir(self) -> Path:
        """The result folder of this run."""
        return Path(self.storage_path).expanduser().resolve() / self.name


def lookup(result: dict[str, Any], key: str) -> Any:
    """Finds a stop key in a result dict: "a/b" paths, top level, then env runners."""
    for candidate in (key, f"{ENV_RUNNER_RESULTS}/{key}"):
        node: Any = result
        for part in candidate.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def per_task(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The per-task metrics of a result: {task: {metric: value}}."""
    return dict(result.get(ENV_RUNNER_RESULTS, {}).get(metrics.PER_TASK, {}))


class ProgressPrinter:
    """Prints one line per iteration: steps and each task's latest mean return.

    A task's return is only reported in iterations where one of its episodes
    ended (1000-step episodes span several iterations), so the last known value
    is shown, or "-" before the first episode.
    """

    def __init__(self) -> None:
        self.returns: dict[str, float] = {}

    def line(self, result: dict[str, Any]) -> str:
        """The progress line of `result`."""
        for name, m in per_task(result).items():
            value = m.get(metrics.EPISODE_RETURN_MEAN)
            if value is not None and value == value:  # not NaN
                self.returns[name] = float(value)
            self.returns.setdefault(name, float("nan"))
        steps = int(lookup(result, NUM_ENV_STEPS_SAMPLED_LIFETIME) or 0)
        shown = " ".join(
            f"{name.removeprefix('HalfCheetah').removesuffix('-v0')}="
            + ("-" if value != value else f"{value:.1f}")
            for name, value in sorted(self.returns.items())
        )
        return f"iter {result.get('training_iteration', 0):4d}  steps {steps:>9d}  {shown}"


def save_checkpoint(algo: Any, run_dir: Path) -> Path:
    """Saves an algorithm checkpoint with the mtrl-ray manifest; returns its path."""
    iteration = algo.iteration
    path = run_dir / "checkpoints" / f"checkpoint_{iteration:06d}"
    algo.save_to_path(str(path))
    module = algo.get_module()  # the local runner's copy: for its config and spaces
    model: MultiTaskModelConfig = module.cfg
    write_manifest(
        path,
        type(algo).__name__,
        model.tasks,
        asdict(model),
        observation_shape=module.observation_space.shape,
        action_shape=module.action_space.shape,
        actions_for_env={key: getattr(algo.config, key) for key in DEFAULT_ACTIONS_FOR_ENV},
        weights=learner_weights(algo),
    )
    return path


def learner_weights(algo: Any) -> dict[str, Any]:
    """The learner's module state (name -> array): the trained weights, wherever it runs."""
    state = algo.learner_group.get_state(components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}")
    return state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][DEFAULT_MODULE_ID]


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
    return out


class ResultWriter:
    """Appends each iteration's result to `result.json` (JSON lines) and `progress.csv`.

    Keys can appear late (a task's return only once its first episode ends), so
    when a result brings new keys the CSV is rewritten with the wider header.
    """

    def __init__(self, run_dir: Path):
        self.json_path = run_dir / "result.json"
        self.csv_path = run_dir / "progress.csv"
        # The CSV header; read back once from an existing file (a resumed run).
        self._fields: list[str] = self._read_csv()[1]

    def write(self, result: dict[str, Any]) -> None:
        """Appends one result."""
        flat = _flatten(result)
        with self.json_path.open("a") as f:
            f.write(json.dumps(flat) + "\n")
        new = sorted(set(flat) - set(self._fields))
        if new:
            # Only here is the file read back: to rewrite it under the wider header.
            self._fields = self._fields + new
            self._write_csv(self._fields, [*self._read_csv()[0], flat])
        else:
            with self.csv_path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._fields).writerow(flat)

    def _read_csv(self) -> tuple[list[dict[str, str]], list[str]]:
        if not self.csv_path.exists():
            return [], []
        with self.csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            return list(reader), list(reader.fieldnames or [])

    def _write_csv(self, fields: list[str], rows: list[dict[str, Any]]) -> None:
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.csv_path)  # never a half-written progress.csv


def should_stop(result: dict[str, Any], stop: dict[str, float]) -> bool:
    """True once any stop criterion's value reaches its threshold."""
    return any((lookup(result, k) or 0) >= v for k, v in stop.items())


def train(config: Any, settings: RunSettings) -> Path:
    """Builds the algorithm, trains until `settings.stop`, returns the last checkpoint.

    Checkpoints are written every `checkpoint_every` iterations and at the end; a
    run cut off resumes from its last checkpoint with `settings.restore`.
    """
    restore = None if settings.restore is None else read_checkpoint(settings.restore)
    if restore is not None:
        # Check before anything is built or written.
        check_same_tasks(restore, config.task_set.names)
    run_dir = settings.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    algo = config.build_algo()
    try:
        if restore is not None:
            algo.restore_from_path(str(restore.path))
        writer = ResultWriter(run_dir)
        progress = ProgressPrinter()
        checkpoint = None
        start = time.time()
        while True:
            result = algo.train()
            result["time_total_wall_s"] = time.time() - start
            writer.write(result)
            if settings.verbose:
                print(progress.line(result), flush=True)
            done = should_stop(result, settings.stop)
            if done or algo.iteration % settings.checkpoint_every == 0:
                checkpoint = save_checkpoint(algo, run_dir)
            if done:
                break
        if settings.verbose:
            print(f"checkpoint: {checkpoint}", flush=True)
        return checkpoint
    finally:
        algo.stop()
