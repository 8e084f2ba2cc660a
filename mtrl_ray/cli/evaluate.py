"""`rllib evaluate`, `rllib render` and `rllib report`: a trained policy's returns,
videos and curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from mtrl_ray.cli.parser import UsageError
from mtrl_ray.cli.ray_init import init_ray


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
        init_ray(args.ray_address, cpus_wanted=len(variants) + 1)
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
        init_ray(args.ray_address, cpus_wanted=runners + 1)
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
    init_ray(args.ray_address, cpus_wanted=len(panels) + 1)
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
