"""Where a multi-task PPO (and APPO) iteration's time goes, from the tuned examples' configs.

    python benchmarks/ppo_profile.py [--iterations 5] [--algos ppo,appo_fast] [--out FILE.md]
    python benchmarks/ppo_profile.py --quick      # smoke run, about a minute on an idle machine

PPO: tuned_examples/ppo/halfcheetah_vanilla_multitask.py (6 tasks x 1 runner x 4
envs, 2048 env steps per task per update, minibatches of 384, 10 epochs) on its fast
path ("ppo") and on RLlib's sampling loop and learner ("ppo_rllib"); APPO:
tuned_examples/appo/halfcheetah_vanilla_multitask.py (6 x 1 x 4, 512 env steps per
task per train batch, 8 full-batch steps) on RLlib's loop and learner thread
("appo", `fast_path=False`) and on its fast path ("appo_fast"). One warm-up
iteration (APPO: until the learner has trained a batch), then the median over
`--iterations` of each part's time per iteration, its calls per iteration and its
median time per call. The parts are timed with `time.perf_counter` around the
driver's calls (sampling, the env runners' state sync, the learner group's update,
the weight sync) and the learner's own methods (the learner connector with GAE or
v-trace's inputs, each minibatch's `_update` and, inside it, forward, loss, backward
and the optimizer step). RLlib's own timers and the runners' per-step timers of the
last iteration follow the table as RLlib reports them (RLlib's timers are moving
averages, not this iteration's values).
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_ray import start_ray  # noqa: E402
from profile_parts import (  # noqa: E402
    CONNECTOR,
    SAMPLING,
    STEP,
    STEP_PARTS,
    TO_TENSORS,
    UPDATE,
    Recorder,
    breakdown,
    flat_timers,
)
from throughput import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NUM_CPUS = 2
EXAMPLES = {
    "ppo": ROOT / "tuned_examples" / "ppo" / "halfcheetah_vanilla_multitask.py",
    "ppo_rllib": ROOT / "tuned_examples" / "ppo" / "halfcheetah_vanilla_multitask.py",
    "appo": ROOT / "tuned_examples" / "appo" / "halfcheetah_vanilla_multitask.py",
    "appo_fast": ROOT / "tuned_examples" / "appo" / "halfcheetah_vanilla_multitask.py",
}


def tuned_config(algo: str, quick: bool):
    """The tuned example's config; its runners share NUM_CPUS logical CPUs."""
    config = runpy.run_path(str(EXAMPLES[algo]), run_name="ppo_profile")["config"]
    config = config.copy(copy_frozen=False)
    if algo in ("ppo_rllib", "appo"):  # the example on RLlib's loops and learner
        config.training(fast_path=False).framework(torch_compile_learner=False)
    config.env_runners(num_cpus_per_env_runner=int(1000 * NUM_CPUS / config.num_env_runners) / 1000)
    if algo.startswith("appo") and quick:  # a few train batches per iteration (RLlib: 10 s)
        config.reporting(min_time_s_per_iteration=5)
    return config


def instrument(algo, name: str) -> Recorder:
    """Wraps the driver's and the local learner's calls with timers."""
    rec = Recorder()
    learner = algo.learner_group._learner
    if learner is None:
        raise RuntimeError("needs the learner in the driver (num_learners=0)")
    group = algo.env_runner_group
    if name == "ppo":
        return _instrument_fast_path(rec, algo, learner)
    if name == "appo_fast":
        return _instrument_appo_fast_path(rec, algo, learner)
    if name == "ppo_rllib":
        import ray.rllib.algorithms.ppo.ppo as ppo_module

        rec.wrap(ppo_module, "synchronous_parallel_sample", f"{SAMPLING} (runners -> episodes)")
    else:
        rec.wrap(algo, "_sample_and_get_connector_states", f"{SAMPLING} (poll runners)")
    rec.wrap(group, "sync_env_runner_states", "env runner states sync")
    rec.wrap(algo.learner_group, "update", UPDATE)
    # Multi-task learners build the batch themselves before RLlib's update (to keep it
    # for the statistics after it), so RLlib's call only converts that batch.
    rec.wrap(
        learner,
        "_make_batch_if_necessary",
        CONNECTOR,
        other=(TO_TENSORS, lambda *a, **kw: kw.get("training_data", a and a[0]).episodes is None),
    )
    rec.wrap(learner, "_update", STEP)
    for owner, attr, label in zip(
        (learner.module, learner, learner, learner, learner),
        ("forward_train", "compute_losses", "compute_gradients", "postprocess_gradients",
         "apply_gradients"),
        STEP_PARTS,
        strict=True,
    ):  # fmt: skip
        rec.wrap(owner, attr, label)
    if name == "ppo_rllib":
        rec.wrap(group, "sync_weights", "weight sync")
    else:  # APPO pushes weights and connector states to its state server (or syncs states)
        rec.wrap(group, "get_merged_env_runner_state", "weight sync (state for the server)")
    return rec


def _instrument_fast_path(rec: Recorder, algo, learner) -> Recorder:
    """PPO's fast path: the weights taken once, one call per runner per round (the
    weights inline), the fragment pipeline with GAE, all epochs in one `_update`."""
    from mtrl_ray.algorithms.ppo import minibatch_loop

    rec.wrap(algo, "_current_weights", "weights for the runners (state_dict to numpy)")
    rec.wrap(algo, "_sample_train_batch", f"{SAMPLING} (rounds of one call per runner)")
    rec.wrap(algo.learner_group, "update", UPDATE)
    rec.wrap(learner, "_make_batch_if_necessary", CONNECTOR.replace("episodes", "fragments"))
    rec.wrap(learner, "_update", "  epochs of minibatch steps (_update, once)")
    rec.wrap(learner, "fast_loss", "    forward + loss (per minibatch)")
    rec.wrap(minibatch_loop, "gradient_step", "    backward + optimizer step (per minibatch)")
    return rec


def _instrument_appo_fast_path(rec: Recorder, algo, learner) -> Recorder:
    """APPO's fast path: fragments as they arrive, then the update in the driver."""
    from mtrl_ray.algorithms.appo import multi_task_appo_torch_learner

    rec.wrap(algo, "_current_weights", "weights for the runners (state_dict to numpy)")
    rec.wrap(algo, "_stream_train_batch", f"{SAMPLING} (fragments as they arrive)")
    rec.wrap(algo.learner_group, "update", UPDATE)
    rec.wrap(learner, "_make_batch_if_necessary", CONNECTOR.replace("episodes", "fragments"))
    rec.wrap(learner, "_update", "  one full-batch step (_update)")
    rec.wrap(multi_task_appo_torch_learner, "appo_loss", "    forward + v-trace loss")
    rec.wrap(multi_task_appo_torch_learner, "gradient_step", "    backward + optimizer step")
    return rec


def profile(name: str, iterations: int, quick: bool) -> tuple[list[str], dict]:
    """Builds the tuned example, warms up, times `iterations` iterations."""
    algo = tuned_config(name, quick).build_algo()
    try:
        rec = instrument(algo, name)
        result = algo.train()  # warm-up (first sampling, first optimizer steps)
        while _trained(result) == 0:  # APPO: until the learner has trained a batch
            result = algo.train()
        rec.take()
        per_iter, walls, steps = [], [], []
        first = _sampled(result)
        for _ in range(iterations):
            t0 = time.perf_counter()
            result = algo.train()
            walls.append(time.perf_counter() - t0)
            per_iter.append(rec.take())
            now = _sampled(result)
            steps.append(now - first)
            first = now
        rows = breakdown(rec.names, walls, per_iter, steps, threaded_learner=name == "appo")
        return rows, result
    finally:
        algo.stop()


def _sampled(result: dict) -> int:
    return result.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0)


def _trained(result: dict) -> int:
    learners = result.get("learners", {}).get("__all_modules__", {})
    return learners.get("num_env_steps_trained_lifetime", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5, help="measured, after 1 warm-up")
    parser.add_argument(
        "--algos",
        default="ppo,ppo_rllib,appo,appo_fast",
        help="comma-separated: ppo, ppo_rllib, appo, appo_fast",
    )
    parser.add_argument("--quick", action="store_true", help="2 iterations; APPO's last 5 s")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    if not algos or set(algos) - set(EXAMPLES):
        parser.error(f"--algos takes ppo, ppo_rllib, appo and/or appo_fast, got {args.algos!r}")
    if args.iterations < 1:
        parser.error("--iterations must be >= 1")
    iterations = 2 if args.quick else args.iterations

    import ray

    load = os.getloadavg()[0]
    start_ray(NUM_CPUS)
    sections: list[str] = []
    started = time.perf_counter()
    try:
        for name in algos:
            rows, result = profile(name, iterations, args.quick)
            sections += [
                f"## {name.upper()}: {EXAMPLES[name].relative_to(ROOT)}",
                "",
                *rows,
                "",
                "RLlib's timers of the last iteration, ms (moving averages as RLlib reports "
                "them; the runners' are per env step or per call, averaged over runners):",
                "",
                *[f"- {k}: {v:.3f}" for k, v in flat_timers(result)],
                "",
            ]
    finally:
        ray.shutdown()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    command = sys.argv[1:] if argv is None else argv
    lines = [
        f"# PPO / APPO profile (median over {iterations} iterations after 1 warm-up)",
        "",
        f"- command: `{' '.join(['python benchmarks/ppo_profile.py', *command])}`",
        f"- machine: {machine()}; 1-minute load average at start: {load:.2f}; "
        f"Ray with num_cpus={NUM_CPUS}",
        f"- date: {date.today().isoformat()}, commit {commit or 'uncommitted'}",
        f"- total time: {time.perf_counter() - started:.0f} s",
        "",
        *sections,
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
