"""`rllib upgrade-checkpoint`, `rllib export` and `rllib serve`: a checkpoint taken
out of training."""

from __future__ import annotations

import argparse

from mtrl_ray.cli.parser import UsageError
from mtrl_ray.cli.ray_init import init_ray


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

    init_ray(args.ray_address, cpus_wanted=args.replicas * REPLICA_CPUS + 1)
    serve_until_interrupted(args.checkpoint, args.port, args.replicas, args.host)
    return 0
