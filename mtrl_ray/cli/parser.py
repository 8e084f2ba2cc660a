"""The `rllib` argument parser: every command's flags (standard library only)."""

from __future__ import annotations

import argparse
from pathlib import Path


class UsageError(ValueError):
    """A command-line value that cannot be used (e.g. `--replicas 0`, an unknown format)."""


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
    """The `rllib` argument parser; its description is the package docstring's first line."""
    from mtrl_ray import cli  # the package, imported by the time a parser is built

    description = (cli.__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="rllib", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _render_parser(sub)
    _report_parser(sub)
    _upgrade_parser(sub)
    _export_parser(sub)
    _serve_parser(sub)
    return parser
