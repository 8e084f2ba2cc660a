"""`rllib`: train tuned examples, evaluate checkpoints (Ray 2.60 ships no `rllib` command).

rllib train file tuned_examples/a2c/halfcheetah_vanilla_multitask.py [overrides]
rllib evaluate CHECKPOINT [--tasks ...] [--episodes 20] [--deterministic] [--video DIR]
rllib render CHECKPOINT [--tasks ...] [--head H] --out gallery.gif
rllib report [RUN...] [--table FILE] [--out DIR] [--paper]
rllib export CHECKPOINT --format onnx|torchscript --out DIR
rllib serve CHECKPOINT [--port 8000] [--replicas 1] [--host 127.0.0.1] [--ray-address ...]
rllib upgrade-checkpoint CHECKPOINT
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

# Only the standard library at import time: `rllib --help` and argparse's usage
# errors answer before Ray, torch or MuJoCo load (seconds). Each command imports
# what it runs.


class UsageError(ValueError):
    """A command-line value that cannot be used (e.g. `--replicas 0`, an unknown format)."""


def user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's input, reported in one line with exit code 2."""
    from mtrl_ray.checkpoints import CheckpointError
    from mtrl_ray.envs import UnknownVariantError
    from mtrl_ray.recording import VideoError
    from mtrl_ray.tuned_example import TunedExampleError

    return (
        CheckpointError,
        UnknownVariantError,
        FileNotFoundError,
        UsageError,
        TunedExampleError,
        VideoError,
    )


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a tuned example (`rllib train file PATH`)")
    p.add_argument(
        "source", choices=["file"], help="`file`: the experiment is a tuned-example file"
    )
    p.add_argument("path", type=Path, help="tuned example (.py with `config` and `stop`, or .yaml)")
    p.add_argument("--tasks", help="comma-separated task names (e.g. HalfCheetahBigFoot-v0)")
    p.add_argument("--stop-timesteps", type=int, help="stop after this many env steps (all tasks)")
    p.add_argument("--stop-iters", type=int, help="stop after this many iterations")
    p.add_argument("--runners-per-task", type=int, help="pinned EnvRunners per task")
    p.add_argument("--envs-per-runner", type=int, help="parallel envs in each runner")
    p.add_argument("--update", choices=["cycle", "joint"], help="multi-task update mode")
    p.add_argument("--updates-per-iteration", type=int, help="A2C updates per RLlib iteration")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--seeds", help="comma-separated seeds: one Tune trial per seed, e.g. 0,1,2")
    p.add_argument(
        "--config",
        help='JSON of algorithm config keys, e.g. \'{"normalize_rewards": true, "lr": 0.001}\'; '
        '{"grid_search": [...]} values become trials',
    )
    p.add_argument(
        "--storage-path", default="runs",
        help="results root (default: ./runs); on a multi-node cluster a shared one, "
        "e.g. s3://bucket/runs",
    )  # fmt: skip
    p.add_argument("--name", help="experiment name (default: the tuned example's)")
    p.add_argument(
        "--checkpoint-every", type=int, default=10, help="iterations between checkpoints"
    )
    p.add_argument("--keep-checkpoints", type=int, help="keep only the newest K checkpoints")
    p.add_argument(
        "--max-failures", type=int, default=3,
        help="restarts of a failed trial from its last checkpoint (default 3)",
    )  # fmt: skip
    p.add_argument(
        "--max-concurrent", type=int, default=0,
        help="trials at once (default: as many as the CPUs allow)",
    )  # fmt: skip
    p.add_argument("--restore", type=Path, help="start the run from this checkpoint")
    p.add_argument(
        "--resume", action="store_true",
        help="continue the interrupted experiment storage-path/name where it stopped",
    )  # fmt: skip
    p.add_argument(
        "--as-test", action="store_true",
        help="exit 1 unless every trial reaches the tuned example's pass_criteria",
    )  # fmt: skip
    p.add_argument("--wandb", metavar="PROJECT", help="log to Weights & Biases (`track` extra)")
    p.add_argument(
        "--mlflow", metavar="URI", nargs="?", const="mlruns",
        help="log to MLflow (`track` extra; default URI: ./mlruns)",
    )  # fmt: skip
    p.add_argument("--ray-address", help="join a running Ray cluster (default: start a local one)")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint: mean ± std return per task")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--tasks", help="comma-separated tasks (default: all of the checkpoint's)")
    p.add_argument("--episodes", type=int, default=20, help="episodes per task (default 20)")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="act with the mean action, as the paper's evaluation script did "
        "(writes evaluation_deterministic.json)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--head", help="act with this task's head on every --tasks variant")
    p.add_argument(
        "--transfer",
        action="store_true",
        help="every head on every --tasks variant of its sizes (default: every body-part "
        "variant of the checkpoint's bodies): a transfer matrix",
    )
    p.add_argument("--out", type=Path, help="output folder (default: the checkpoint folder)")
    p.add_argument(
        "--video",
        type=Path,
        metavar="DIR",
        help="record each task's first episode(s) (each head x variant with --transfer) "
        "to MP4 files in DIR, rendered headless (MUJOCO_GL, default egl)",
    )
    p.add_argument(
        "--video-episodes", type=int, default=1, help="episodes recorded per task (default 1)"
    )
    p.add_argument("--ray-address", help="join a running Ray cluster (default: start a local one)")


def _render_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="a GIF of the policy on several tasks, side by side")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--tasks", help="comma-separated tasks (default: all of the checkpoint's)")
    p.add_argument(
        "--head", help="the head acting on --tasks the checkpoint has no head for (held out)"
    )
    p.add_argument("--frames", type=int, default=100, help="frames per panel (default 100)")
    p.add_argument(
        "--every", type=int, default=2, help="keep every k-th env step (default 2: 10 fps)"
    )
    p.add_argument("--size", default="240x180", help="panel size WxH in pixels (default 240x180)")
    p.add_argument("--columns", type=int, help="panels per row (default: up to 4)")
    p.add_argument("--sampled", action="store_true", help="sample actions (default: the mean)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("gallery.gif"), help="the GIF to write")
    p.add_argument("--ray-address", help="join a running Ray cluster (default: start a local one)")


def _report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="learning curves (PNG) and evaluation tables from runs")
    p.add_argument("runs", type=Path, nargs="*", help="run folders written by `rllib train`")
    p.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    p.add_argument("--paper", action="store_true", help="put the paper's Table 2 beside ours")
    p.add_argument(
        "--table",
        type=Path,
        action="append",
        default=[],
        help="a results table (results/table2.json): Markdown over seeds with 95 %% "
        "intervals, and bar charts (repeatable)",
    )


def _upgrade_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upgrade-checkpoint",
        help="add module_weights.pt (weights-only loading) to an older checkpoint you trust",
    )
    p.add_argument("checkpoint", type=Path)


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write one ONNX or TorchScript file per task head (see mtrl_ray/export.py)"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--format", required=True, help="onnx or torchscript")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the policy over HTTP with Ray Serve: POST /act")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--replicas", type=int, default=1, help="policy replicas (default 1)")
    p.add_argument(
        "--host", default="127.0.0.1", help="listen address (default 127.0.0.1; 0.0.0.0: all)"
    )
    p.add_argument("--ray-address", help="join a running Ray cluster (default: start a local one)")


def build_parser() -> argparse.ArgumentParser:
    """The `rllib` argument parser."""
    parser = argparse.ArgumentParser(prog="rllib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _render_parser(sub)
    _report_parser(sub)
    _upgrade_parser(sub)
    _export_parser(sub)
    _serve_parser(sub)
    return parser


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


def _apply_overrides(example, args: argparse.Namespace) -> dict:
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


def _init_ray(address: str | None, cpus_wanted: float = 0.0) -> None:
    """Joins `address` (or a running cluster), else starts a local Ray.

    A local Ray gets at least as many logical CPUs as the experiment asks for: on a
    small machine the runners share the cores (MuJoCo stepping is light), while
    Ray would otherwise wait forever for CPUs that will never appear.
    """
    import ray

    if ray.is_initialized():
        return
    _probe_address(address)
    num_cpus = None
    starts_local = address == "local" or (address is None and not _cluster_running())
    if starts_local:
        num_cpus = max(os.cpu_count() or 1, int(math.ceil(cpus_wanted)))
    ray.init(address=address, num_cpus=num_cpus, log_to_driver=False)


#: How long `_probe_address` waits for a cluster's port to accept a connection.
PROBE_SECONDS = 10.0


def _probe_address(address: str | None) -> None:
    """Raises UsageError unless something accepts TCP connections at `address`.

    `ray.init` retries an address where nothing listens for minutes (ignoring
    SIGTERM meanwhile); one connect attempt to the GCS (or Ray Client) port tells
    within seconds. "auto", "local" and no address are ray.init's to resolve.
    """
    import socket

    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address}: expected HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise UsageError(f"--ray-address {address}: no Ray cluster there ({reason})") from None


def _cluster_running() -> bool:
    """Whether `ray.init()` would join a cluster (RAY_ADDRESS, or one from `ray start`).

    Exactly ray.init's own test: a Ray that another program started with `ray.init()`
    is not joined, so it must not stop us from sizing the local Ray we start.
    """
    from mtrl_ray._rllib_compat import ray_would_join_a_cluster

    return ray_would_join_a_cluster()


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
        grids = _apply_overrides(example, args)
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
    _init_ray(args.ray_address, cpus_wanted=actors + 1)
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


def _check_evaluate_inputs(args: argparse.Namespace, info, out: Path) -> None:
    """What `rllib evaluate` checks before Ray starts: counts, --out, the weights."""
    from mtrl_ray import evaluation, evaluation_runners

    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {args.episodes}")
    evaluation.check_out_dir(out)
    evaluation_runners.module_state(info)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`rllib evaluate CHECKPOINT`."""
    from mtrl_ray import evaluation, recording, transfer
    from mtrl_ray.checkpoints import read_checkpoint
    from mtrl_ray.tasks.task_set import canonical_task_name

    info = read_checkpoint(args.checkpoint)  # fail fast, before Ray starts
    tasks = [canonical_task_name(t) for t in args.tasks.split(",")] if args.tasks else None
    if args.head is not None:
        head = evaluation.chosen_tasks(info, [args.head])[0]
        evaluation.check_transfer_sizes(info, head, tasks or list(info.tasks))
    elif not args.transfer:
        evaluation.chosen_tasks(info, tasks)
    out = args.out or info.path
    _check_evaluate_inputs(args, info, out)
    video = None  # checked before Ray starts: GL backend, encoder, --video-episodes
    if args.video is not None:
        video = recording.evaluation_settings(args.episodes, args.video_episodes)
    if args.transfer:
        variants = tasks or transfer.default_transfer_variants(info)
        transfer.transfer_pairs(info, variants)  # some head fits some variant
        _init_ray(args.ray_address, cpus_wanted=len(variants) + 1)
        results = transfer.transfer_matrix(
            info.path, variants, args.episodes, args.seed, video, args.video, args.deterministic
        )
        kind = "mean action" if args.deterministic else "sampled"
        title = f"{info.path.name}: head x environment, {kind}"
        stem = evaluation.evaluation_stem(args.deterministic, "transfer")
        text = transfer.format_matrix(results, title=title)
        paths = evaluation.write_results(
            results, out, info.path, args.deterministic, stem=stem, text=text
        )
    else:
        # One runner per --tasks variant with --head, else one per checkpoint task
        # (pinned by worker index: a --tasks subset still starts them all).
        runners = len(tasks or info.tasks) if args.head else len(info.tasks)
        _init_ray(args.ray_address, cpus_wanted=runners + 1)
        results = evaluation.evaluate_checkpoint(
            info.path,
            tasks,
            args.episodes,
            args.deterministic,
            args.seed,
            args.head,
            video=video,
            video_dir=args.video,
        )
        text = evaluation.format_table(
            results, f"{info.path.name}: {args.episodes} episodes per task"
        )
        stem = evaluation.evaluation_stem(args.deterministic)
        paths = evaluation.write_results(
            results, out, info.path, args.deterministic, stem=stem, text=text
        )
    print(text)
    print(f"wrote {paths[0]} and {paths[1]}")
    for video_path in (v for r in results for v in r.videos):
        print(f"wrote {video_path}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """`rllib render CHECKPOINT --out gallery.gif`."""
    from mtrl_ray import gallery
    from mtrl_ray.checkpoints import read_checkpoint

    info = read_checkpoint(args.checkpoint)
    tasks = args.tasks.split(",") if args.tasks else None
    panels = gallery.gallery_panels(info, tasks, args.head)
    settings = gallery.gallery_settings(args.size, args.frames, args.every, args.columns)
    _init_ray(args.ray_address, cpus_wanted=len(panels) + 1)
    recordings = gallery.render_gallery(
        info, panels, args.out, settings, not args.sampled, args.seed, args.columns
    )
    for panel, rec in zip(panels, recordings, strict=True):
        print(f"{panel.title}: return {rec.ret:.1f} over {rec.length} steps")
    print(f"wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """`rllib report RUN...`."""
    from mtrl_ray.report import PAPER_TABLE2, ReportError, report
    from mtrl_ray.tables import read_records, table_report

    if not args.runs and not args.table:
        raise UsageError("give run folders, or --table FILE")
    for table in args.table:  # all read before anything is written
        try:
            read_records(table)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"--table {table}: not a results table ({e})") from None
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder")
    written = []
    try:
        if args.runs:
            written += report(args.runs, args.out, paper=args.paper)
    except ReportError as e:
        raise UsageError(str(e)) from None
    for table in args.table:
        written += table_report(table, args.out, paper=PAPER_TABLE2 if args.paper else None)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_upgrade_checkpoint(args: argparse.Namespace) -> int:
    """`rllib upgrade-checkpoint CHECKPOINT`."""
    from mtrl_ray.checkpoints import add_weights_file

    info = add_weights_file(args.checkpoint)
    print(f"wrote {info.weights_path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """`rllib export CHECKPOINT --format onnx|torchscript --out DIR` (no Ray needed)."""
    from mtrl_ray.export import ExportError, export_policy

    try:
        written = export_policy(args.checkpoint, args.format, args.out)
    except ExportError as e:
        raise UsageError(str(e)) from None
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """`rllib serve CHECKPOINT`: deploys the policy, serves until Ctrl-C, then stops it."""
    from mtrl_ray.policy import Policy

    if args.replicas < 1 or not 0 < args.port < 65536:
        raise UsageError(
            f"--replicas must be >= 1, --port in 1..65535: {args.replicas}, {args.port}"
        )
    Policy.load(args.checkpoint)  # fail fast, before Ray starts
    try:
        from mtrl_ray.serving import REPLICA_CPUS, serve_until_interrupted
    except ImportError as e:
        raise UsageError(f"rllib serve needs Ray Serve ({e}): pip install 'ray[serve]'") from None

    _init_ray(args.ray_address, cpus_wanted=args.replicas * REPLICA_CPUS + 1)
    serve_until_interrupted(args.checkpoint, args.port, args.replicas, args.host)
    return 0


#: RLlib log records that say nothing to a user of this project (logger, text in it).
_RLLIB_NOTICES = (
    ("ray.rllib.algorithms.algorithm_config", "on the new API stack"),
    ("ray._common.deprecation", "RLModule(config=[RLModuleConfig object])"),
)


def _quiet_rllib_notices() -> None:
    """Drops RLlib's notices that would stand beside an input error as more stderr lines.

    "Running X on the new API stack!" (the project's only stack) is logged on every
    config validation; the `RLModuleConfig` deprecation on every module built (RLlib
    makes that object itself).
    """
    import logging

    for name, text in _RLLIB_NOTICES:

        def keep(record: logging.LogRecord, text: str = text) -> bool:
            return text not in record.getMessage()

        logging.getLogger(name).addFilter(keep)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rllib` console script."""
    # The learner and every runner are small MLPs: one torch thread each leaves the
    # cores to MuJoCo.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Parsed first: --help, and usage errors, need none of the imports below.
    args = build_parser().parse_args(argv)
    import mtrl_ray

    if mtrl_ray.ENVIRONMENT_ERROR is not None:
        print(f"rllib {args.command}: error: {mtrl_ray.ENVIRONMENT_ERROR}", file=sys.stderr)
        return 2
    if args.command == "train" and not args.path.is_file():
        # Before RLlib and torch load (~4 s): a mistyped path is the commonest slip.
        print(f"rllib train: error: tuned example not found: {args.path}", file=sys.stderr)
        return 2
    from mtrl_ray.algorithms.a2c.a2c import A2CConfig  # noqa: F401  (registers envs)
    from mtrl_ray.training import TrainingError

    _quiet_rllib_notices()
    args.argv = sys.argv[1:] if argv is None else list(argv)  # for checkpoint provenance
    handlers = {
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "render": cmd_render,
        "report": cmd_report,
        "upgrade-checkpoint": cmd_upgrade_checkpoint,
        "export": cmd_export,
        "serve": cmd_serve,
    }
    try:
        return handlers[args.command](args)
    except user_errors() as e:
        print(f"rllib {args.command}: error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"rllib {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rllib {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
