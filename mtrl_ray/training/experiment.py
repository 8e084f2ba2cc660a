"""`rllib train` as a Ray Tune experiment: trials, checkpoints, recovery, resume.

The project's Algorithm class is Tune's trainable and the algorithm config, as a
dict, its `param_space`; seeds and grid_search values become trials. Tune checks
the stop criteria, checkpoints every `checkpoint_every` iterations and at the end
(the Algorithm writes its own manifest into each), restarts a trial whose process
died from its last checkpoint (`max_failures`), and writes TensorBoard events;
`loggers` keeps `result.json` and `progress.csv` in order across those restarts.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtrl_ray.training.search_space import Path_, first_variant, search_space, trial_name
from mtrl_ray.training.stop import check_criteria

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm import Algorithm


class TrainingError(RuntimeError):
    """A trial failed for good (its process died more than `max_failures` times)."""


@dataclass(frozen=True)
class RunSettings:
    """Where and how an experiment runs.

    Attributes:
        name: Experiment name; trials go to `storage_path/name/<trial>/`.
        storage_path: Root folder of experiments, or a URI Tune can write
            (`s3://bucket/runs`: what a multi-node cluster needs, where a trial
            on a worker node cannot write into the head's folder).
        stop: Stop criteria: flattened result key -> threshold (see `stop`).
        checkpoint_every: Save a checkpoint every this many iterations (and at the end).
        keep_checkpoints: Keep only the newest this many checkpoints per trial (None: all).
        max_failures: Restarts of a trial from its last checkpoint before it fails.
        max_concurrent: Trials running at once (0: as many as the CPUs allow).
        verbose: Print one progress line per trial per iteration.
        callbacks: More Tune callbacks (experiment trackers).
    """

    name: str
    storage_path: str | Path
    stop: dict[str, float] = field(default_factory=lambda: {"training_iteration": 1})
    checkpoint_every: int = 10
    keep_checkpoints: int | None = None
    max_failures: int = 3
    max_concurrent: int = 0
    verbose: bool = True
    callbacks: tuple = ()

    @property
    def is_uri(self) -> bool:
        """Whether the storage path is a URI (`s3://...`) rather than a local folder."""
        return "://" in str(self.storage_path)

    @property
    def storage(self) -> str:
        """The storage path as Tune takes it (a local one made absolute)."""
        if self.is_uri:
            return str(self.storage_path).rstrip("/")
        return str(Path(self.storage_path).expanduser().resolve())

    @property
    def experiment_dir(self) -> Path:
        """The experiment's local folder (for a URI storage path: not checked here)."""
        return Path(self.storage) / self.name


@dataclass(frozen=True)
class Experiment:
    """A checked experiment: what Tune gets.

    Attributes:
        algo_class: The trainable.
        param_space: The algorithm config as a dict, with grid_search values.
        trials: Each trial's evaluated params (all validated).
        stop: Canonical stop criteria.
        settings: Where and how it runs.
    """

    algo_class: type[Algorithm]
    param_space: dict[str, Any]
    trials: list[dict[str, Any]]
    stop: dict[str, float]
    settings: RunSettings


def prepare(
    config: Any,
    settings: RunSettings,
    grids: dict[Path_, list] | None = None,
    seeds: list[int] | None = None,
    resume: bool = False,
) -> Experiment:
    """Checks an experiment without Ray: settings, stop keys, every trial's config.

    Raises:
        ValueError: one line saying what cannot work.
    """
    if settings.checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {settings.checkpoint_every}")
    if settings.keep_checkpoints is not None and settings.keep_checkpoints < 1:
        raise ValueError(f"keep_checkpoints must be >= 1, got {settings.keep_checkpoints}")
    if settings.max_failures < 0 or settings.max_concurrent < 0:
        raise ValueError("max_failures and max_concurrent must be >= 0")
    if not settings.is_uri:
        _check_local_storage(settings, resume)
    stop = check_criteria(settings.stop, config.task_set.names)
    space, trials = search_space(config, grids, seeds)
    if resume:
        space = _as_recorded(space, settings)
    return Experiment(config.algo_class, space, trials, stop, settings)


def _as_recorded(space: dict[str, Any], settings: RunSettings) -> dict[str, Any]:
    """The search space with only the config fields the experiment was started with.

    Tune refuses to resume with a search space whose keys differ from the recorded
    ones. A field the config class gained since (a newer mtrl_ray) is dropped: the
    trials yet to start take its default. A field it lost is an error: the
    experiment needs the version that started it.

    Raises:
        ValueError: the experiment's config had fields this version does not know.
    """
    from ray.tune.utils import flatten_dict

    from mtrl_ray._rllib_compat import recorded_search_space_keys

    recorded = recorded_search_space_keys(f"{settings.storage}/{settings.name}")
    if recorded is None:
        return space
    # Compared as Tune compares them: nested keys joined by "/", empty dicts left out.
    present = set(flatten_dict(space))
    lost = sorted(set(recorded) - present)
    if lost:
        raise ValueError(
            f"{settings.name} was started by an mtrl_ray whose config had "
            f"{', '.join(lost[:3])}{' ...' if len(lost) > 3 else ''}: resume it with that version"
        )
    kept = dict(space)
    for key in present - set(recorded):
        *parents, leaf = key.split("/")
        node = kept
        for parent in parents:  # copies the dicts on the way: `space` stays as it is
            node[parent] = dict(node[parent])
            node = node[parent]
        del node[leaf]
    return kept


def _check_local_storage(settings: RunSettings, resume: bool) -> None:
    storage, experiment = Path(settings.storage), settings.experiment_dir
    if storage.exists() and not storage.is_dir():
        raise ValueError(f"storage path is not a directory: {storage}")
    existing = storage.resolve()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"storage path {storage}: cannot write into {existing}")
    if resume and not _can_resume(experiment):
        raise ValueError(f"nothing to resume in {experiment}")
    if not resume and experiment.exists() and any(experiment.iterdir()):
        raise ValueError(f"{experiment} exists: --resume continues it, --name starts another")


def run(experiment: Experiment, resume: bool = False) -> Any:
    """Runs (or resumes) the experiment with Tune; returns Tune's ResultGrid.

    Raises:
        TrainingError: if a trial failed for good.
    """
    from ray import tune

    settings = experiment.settings
    # Tune's newer console output prints tables and a TensorBoard hint pointing at its
    # staging folder; the progress lines (ProgressLines) say what a user needs.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    _warn_if_unschedulable(experiment)
    if resume:
        # The search space again (rebuilt from the flags the experiment was started
        # with): Tune resolves the objects in the configs of trials it has yet to
        # start from it (without, they keep placeholders and fail to build).
        tuner = tune.Tuner.restore(
            f"{settings.storage}/{settings.name}",
            trainable=experiment.algo_class,
            param_space=experiment.param_space,
            resume_unfinished=True,
            resume_errored=True,
        )
    else:
        tuner = tune.Tuner(
            experiment.algo_class,
            param_space=experiment.param_space,
            tune_config=tune.TuneConfig(
                max_concurrent_trials=settings.max_concurrent or None,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
                reuse_actors=False,
            ),
            run_config=_run_config(settings, experiment.stop),
        )
    grid = tuner.fit()
    if grid.errors:
        raise TrainingError(f"{len(grid.errors)} trial(s) failed: {grid.errors[0]}")
    return grid


def train(config: Any, settings: RunSettings) -> Path:
    """Runs one trial of `config` (Ray already started); returns its last checkpoint."""
    grid = run(prepare(config, settings))
    return Path(grid[0].checkpoint.path)


def _run_config(settings: RunSettings, stop: dict[str, float]) -> Any:
    from ray import tune

    from mtrl_ray.training.loggers import ProgressCsv, ResultJson
    from mtrl_ray.training.progress import ProgressLines

    callbacks = [ResultJson(), ProgressCsv(), *settings.callbacks]
    if settings.verbose:
        callbacks.append(ProgressLines())
    return tune.RunConfig(
        name=settings.name,
        storage_path=settings.storage,
        stop=stop,
        checkpoint_config=tune.CheckpointConfig(
            checkpoint_frequency=settings.checkpoint_every,
            checkpoint_at_end=True,
            num_to_keep=settings.keep_checkpoints,
        ),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        callbacks=callbacks,
        verbose=0,
    )


def _warn_if_unschedulable(experiment: Experiment) -> None:
    """Says so when no trial fits the cluster's CPUs (Tune would wait for more nodes)."""
    import ray

    config = first_variant(experiment.param_space)
    needed = experiment.algo_class.default_resource_request(config).required_resources
    have = ray.cluster_resources().get("CPU", 0.0)
    if needed.get("CPU", 0.0) > have:
        print(
            f"warning: a trial needs {needed['CPU']:g} CPUs, the cluster has {have:g}: "
            "it waits until nodes join (lower num_cpus_per_env_runner to fit)",
            file=sys.stderr,
            flush=True,
        )


def _trial_name(trial: Any) -> str:
    """`seed0` for one trial of seed 0, `lr=0.001_seed1` in a grid, `trial` unseeded."""
    params = dict(trial.evaluated_params)
    if not params and trial.config.get("seed") is not None:
        params = {"seed": trial.config["seed"]}
    return trial_name(params)


def _can_resume(path: Path) -> bool:
    from ray import tune

    return path.is_dir() and tune.Tuner.can_restore(str(path))
