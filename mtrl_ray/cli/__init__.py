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

import os
import sys

# Only the standard library at import time: `rllib --help` and argparse's usage
# errors answer before Ray, torch or MuJoCo load (seconds). Each command imports
# what it runs.
from mtrl_ray.cli.parser import UsageError, build_parser

__all__ = ["UsageError", "build_parser", "main", "user_errors"]


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
    from mtrl_ray.cli import deploy, evaluate, train

    handlers = {
        "train": train.cmd_train,
        "evaluate": evaluate.cmd_evaluate,
        "render": evaluate.cmd_render,
        "report": evaluate.cmd_report,
        "upgrade-checkpoint": deploy.cmd_upgrade_checkpoint,
        "export": deploy.cmd_export,
        "serve": deploy.cmd_serve,
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
