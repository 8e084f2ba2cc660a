"""`rllib train file PATH`: a tuned example, with the command line's overrides, as a
Ray Tune run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mtrl_ray.cli.ray_init import init_ray

#: `rllib train` flags that shape a new experiment: --resume continues one as it was.
_EXPERIMENT_FLAGS = (
    "tasks", "stop_timesteps", "stop_iters", "runners_per_task", "envs_per_runner", "update",
    "updates_per_iteration", "seed", "seeds", "config", "keep_checkpoints", "restore",
)  # fmt: skip


#: In an experiment's folder: the flags that shaped it, for `--resume`.
EXPERIMENT_FLAGS_FILE = "rllib_train_flags.json"


def _save_experiment_flags(args: argparse.Namespace, experiment: Path) -> None:
    """Records the experiment-shaping flags, so that `--resume` rebuilds the same
    search space (Tune needs it again to start trials not begun before the cut)."""
    from mtrl_ray.checkpoints import write_text_whole

    flags = {f: getattr(args, f) for f in _EXPERIMENT_FLAGS if getattr(args, f) is not None}
    experiment.mkdir(parents=True, exist_ok=True)
    write_text_whole(experiment / EXPERIMENT_FLAGS_FILE, json.dumps(flags, default=str))


def _restore_experiment_flags(args: argparse.Namespace, example_name: str) -> None:
    """Sets the flags the experiment was started with (none recorded: none set)."""
    from mtrl_ray.training import RunSettings

    where = RunSettings(name=args.name or example_name, storage_path=args.storage_path)
    if where.is_uri:
        return  # flags are recorded in local experiment folders only
    saved = where.experiment_dir / EXPERIMENT_FLAGS_FILE
    if saved.is_file():
        for flag, value in json.loads(saved.read_text()).items():
            setattr(args, flag, Path(value) if flag == "restore" else value)


def apply_command_line(example, args: argparse.Namespace) -> dict:
    """Applies the command line to the example; returns --config's grid_search values."""
    from mtrl_ray.training.search_space import apply_overrides

    config = example.config
    for flag in (
        "stop_timesteps", "stop_iters", "runners_per_task", "envs_per_runner",
        "updates_per_iteration", "checkpoint_every", "keep_checkpoints",
    ):  # fmt: skip
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if args.tasks is not None:
        config.multi_task(args.tasks)
    if args.envs_per_runner is not None:
        config.env_runners(num_envs_per_env_runner=args.envs_per_runner)
    config.multi_task(runners_per_task=args.runners_per_task)
    if args.update is not None:
        config.training(multi_task_update=args.update)
    if args.updates_per_iteration is not None:
        config.training(updates_per_iteration=args.updates_per_iteration)
    if args.seed is not None:
        config.debugging(seed=args.seed)
    grids = {}
    if args.config is not None:
        grids = apply_overrides(config, _json_object(args.config))
    if args.stop_timesteps is not None:
        example.stop = {"num_env_steps_sampled_lifetime": args.stop_timesteps}
    if args.stop_iters is not None:
        example.stop = {**example.stop, "training_iteration": args.stop_iters}
    if not example.stop:
        raise ValueError("no stop criteria: give `stop` in the example, or --stop-timesteps")
    config.restore(args.restore)
    config.resolve_paths()
    return grids


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated integers, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds has a seed twice: {text}")
    return seeds


def _json_object(text: str) -> dict:
    """Parses `--config`; a ValueError says what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--config is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError("--config must be a JSON object")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    """`rllib train file PATH`: the experiment as a Ray Tune run."""
    from mtrl_ray import provenance
    from mtrl_ray.training import RunSettings, prepare, run
    from mtrl_ray.training.stop import check_criteria, for_tasks
    from mtrl_ray.training.trackers import tracker_callbacks
    from mtrl_ray.tuned_example import TunedExampleError, load_tuned_example

    example = load_tuned_example(args.path)
    try:
        if args.resume:
            given = [f for f in _EXPERIMENT_FLAGS if getattr(args, f) is not None]
            if given:
                raise ValueError(f"--resume continues the experiment as it was started; "
                                 f"drop --{given[0].replace('_', '-')}")  # fmt: skip
            _restore_experiment_flags(args, example.name)
        grids = apply_command_line(example, args)
        config = example.config
        config.provenance = provenance.collect(["rllib", *args.argv])
        name = args.name or example.name
        settings = RunSettings(
            name=name,
            storage_path=args.storage_path,
            stop=example.stop,
            checkpoint_every=args.checkpoint_every,
            keep_checkpoints=args.keep_checkpoints,
            max_failures=args.max_failures,
            max_concurrent=args.max_concurrent,
            callbacks=tracker_callbacks(name, args.wandb, args.mlflow),
        )
        experiment = prepare(
            config, settings, {**example.grids, **grids}, _seeds(args.seeds), args.resume
        )
        tasks = config.task_set.names
        criteria = check_criteria(for_tasks(example.pass_criteria, tasks), tasks, "pass_criteria")
        if args.as_test and not criteria:
            raise ValueError("--as-test needs `pass_criteria` for these tasks in the example")
    except ValueError as e:  # RLlib's and our config validation
        raise TunedExampleError(f"{args.path}: {str(e).strip().splitlines()[0]}") from None
    runners = config.num_env_runners + (config.evaluation_num_env_runners or 0)
    actors = runners * config.num_cpus_per_env_runner + getattr(config, "teacher_pool_num_cpus", 0)
    init_ray(args.ray_address, cpus_wanted=actors + 1)
    if not args.resume and not settings.is_uri:  # once Ray runs: Tune writes here next
        _save_experiment_flags(args, settings.experiment_dir)
    grid = run(experiment, resume=args.resume)
    return _check_pass(grid, criteria) if args.as_test else 0


def _check_pass(grid, criteria: dict[str, float]) -> int:
    """0 if every trial's last result meets the criteria, else 1 (each shortfall printed)."""
    from ray.tune.utils import flatten_dict

    from mtrl_ray.training.stop import unmet

    failed = 0
    for result in grid:
        short = unmet(criteria, flatten_dict(result.metrics, delimiter="/"))
        name = Path(result.path).name
        print(f"{name}: " + ("passed" if not short else "FAILED " + "; ".join(short)))
        failed += bool(short)
    return 1 if failed else 0
