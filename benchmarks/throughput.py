"""Throughput: raw env stepping vs SB3's A2C vs mtrl-ray's multi-task A2C, in one run.

    python benchmarks/throughput.py [--repeats 3] [--seconds 20] [--rows a,c,...] [--out FILE]

(a) raw stepping of the paper's six variants, 16 envs each, random actions, one
process; (b) stable-baselines3 A2C (DummyVecEnv, 16 envs, n_steps = t_max = 5, the
paper's network and RMSprop) on one variant, observations normalized as (c) and the
paper normalize them (VecNormalize, clipped to +-5; (b') without); (c) mtrl-ray
vanilla multi-task A2C, 6 tasks x 1 pinned runner x 16 envs, t_max 5; (d) mtrl-ray
multi-task distillation with the same layout, the TeacherPool's query per update
included (teachers from `--teachers`, default the committed results/teachers);
(e) multi-task PPO on its fast path, its learner compiled as in the tuned example
((e0) eager, (e') on RLlib's loops), (f) multi-task APPO on
its fast path ((f') RLlib's APPO, `fast_path=False`); (g) stable-baselines3 PPO
doing the same work per update as (e): the six variants x 4 envs in one DummyVecEnv,
n_steps 512 (12,288 env steps per update), minibatches of 384, 10 epochs, 64 x 64
tanh actor and critic, observations normalized; (h0), (h) raw stepping and
multi-task A2C on the eight Walker2d variants, (i0), (i) the same on the
cross-family task set (bodies that fall reset mid-fragment). Each is measured
`repeats` times, one repeat of every row after another; medians are reported with
(c)/(a), (c)/(b), (d)/(c), (e)/(g), (e0)/(g), (e)/(e0), (e)/(e'), (f)/(g), (f)/(e),
(f)/(f'), (h)/(h0) and (i)/(i0). `--rows` measures a subset. Needs the `bench` extra.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtrl_ray.envs import FAMILIES, PAPER_TASKS  # noqa: E402

NUM_ENVS = 16
T_MAX = 5
#: Issue 21's rows: the eight Walker2d body-part variants, and the cross-family
#: tuned example's six tasks (two each of HalfCheetah, Walker2d, Hopper).
WALKER2D_TASKS = tuple(FAMILIES["Walker2d"])
CROSS_FAMILY_TASKS = tuple(
    f"{runner}{variant}-v0"
    for runner in ("HalfCheetah", "Walker2d", "Hopper")
    for variant in ("SmallFoot", "BigTorso")
)


def raw_stepping(seconds: float, tasks: tuple[str, ...] = PAPER_TASKS, barrier=None) -> float:
    """Env steps/s of the tasks x 16 envs, random actions, one process.

    Hopper and Walker2d bodies fall: their vector envs reset the fallen ones as they
    go (gymnasium's next-step autoreset), as the runners' envs do. A `barrier`
    (multiprocessing) is waited on once the envs are built, so that processes step
    together.
    """
    envs = [gym.make_vec(t, num_envs=NUM_ENVS, vectorization_mode="sync") for t in tasks]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    if barrier is not None:
        barrier.wait()
    actions = [
        np.random.uniform(-1, 1, (256, *env.action_space.shape)).astype(np.float32) for env in envs
    ]
    steps, k, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for env, acts in zip(envs, actions, strict=True):
            env.step(acts[k % 256])
            steps += NUM_ENVS
        k += 1
    rate = steps / (time.perf_counter() - start)
    for env in envs:
        env.close()
    return rate


def sb3_a2c(seconds: float, normalize_observations: bool = True) -> float:
    """Env steps/s of stable-baselines3's A2C with the paper's settings on one variant."""
    model = sb3_a2c_model(normalize_observations)
    return _sb3_rate(model, NUM_ENVS * T_MAX * 20, NUM_ENVS * T_MAX * 200, seconds)


def sb3_a2c_model(normalize_observations: bool = True):
    """(b)'s model: SB3's A2C, 16 envs of one variant, n_steps = t_max = 5, 64 x 64 tanh.

    With `normalize_observations`, VecNormalize keeps running observation
    statistics and clips to +-5, the work (c)'s module does per task.
    """
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    env = make_vec_env(PAPER_TASKS[0], n_envs=NUM_ENVS, seed=0)
    if normalize_observations:
        env = VecNormalize(env, norm_obs=True, norm_reward=False, clip_obs=5.0)
    return A2C(
        "MlpPolicy",
        env,
        n_steps=T_MAX,
        learning_rate=7e-4,
        gamma=0.99,
        gae_lambda=1.0,
        ent_coef=0.01,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs={
            "net_arch": {"pi": [64, 64], "vf": [64, 64]},
            "activation_fn": torch.nn.Tanh,
        },
        device="cpu",
        seed=0,
    )


def sb3_ppo(seconds: float) -> float:
    """Env steps/s of stable-baselines3's PPO on the six variants x 4 envs, (e)'s work."""
    model = sb3_ppo_model()
    per_update = model.n_steps * model.n_envs
    return _sb3_rate(model, per_update, per_update, seconds)


def sb3_ppo_model():
    """(g)'s model: SB3's PPO on the six variants x 4 envs, 12,288 env steps per update."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(1)
    envs_per_task = 4
    fns = [lambda task=task: gym.make(task) for task in PAPER_TASKS for _ in range(envs_per_task)]
    env = VecNormalize(DummyVecEnv(fns), norm_obs=True, norm_reward=False, clip_obs=5.0)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=512,
        batch_size=384,
        n_epochs=10,
        learning_rate=3e-4,
        policy_kwargs={
            "net_arch": {"pi": [64, 64], "vf": [64, 64]},
            "activation_fn": torch.nn.Tanh,
        },
        device="cpu",
        seed=0,
    )
    return model


def sb3_quiet_logger(model) -> tempfile.TemporaryDirectory:
    """Gives `model` a logger that writes nothing; the caller cleans up the directory.

    Without a logger of our own, every learn() call leaves an SB3-<date> folder in /tmp.
    """
    from stable_baselines3.common.logger import configure

    log_dir = tempfile.TemporaryDirectory()
    model.set_logger(configure(log_dir.name, format_strings=[]))
    return log_dir


def _sb3_rate(model, warm_up: int, chunk: int, seconds: float) -> float:
    """Env steps/s of an SB3 model's `learn`, in chunks of `chunk` steps, after a warm-up."""
    log_dir = sb3_quiet_logger(model)
    model.learn(total_timesteps=warm_up)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.learn(total_timesteps=chunk, reset_num_timesteps=False)
        steps += chunk
    rate = steps / (time.perf_counter() - start)
    log_dir.cleanup()
    return rate


def mtrl_ray_a2c(seconds: float, update: str = "cycle") -> tuple[float, dict[str, float]]:
    """Env steps/s of mtrl-ray multi-task A2C (6 x 1 x 16, t_max 5) and its timers (ms/update)."""
    return _rate(mtrl_ray_a2c_config(update), seconds)


def mtrl_ray_a2c_config(update: str = "cycle"):
    """(c)'s config: 6 tasks x 1 runner x 16 envs, t_max 5, 50 rounds per iteration."""
    from mtrl_ray.algorithms.a2c import A2CConfig

    config = A2CConfig().multi_task(PAPER_TASKS, update=update)
    config.env_runners(num_envs_per_env_runner=NUM_ENVS, rollout_fragment_length=T_MAX)
    return config.training(updates_per_iteration=50)


def mtrl_ray_a2c_tasks(seconds: float, tasks: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    """Multi-task A2C (cycle, 1 runner x 16 envs per task) on another task set.

    Across body families the module pads and masks as the cross-family tuned
    example does (`input_layer="task"`).
    """
    from mtrl_ray.algorithms.a2c import A2CConfig
    from mtrl_ray.envs import body_family

    config = A2CConfig().multi_task(tasks, update="cycle").training(updates_per_iteration=50)
    if len({body_family(t) for t in tasks}) > 1:
        config.rl_module(model_config={"input_layer": "task"})
    return _rate(config, seconds)


def mtrl_ray_distill(
    seconds: float, teachers: Path, teacher_rollout_prob: float = 0.0
) -> tuple[float, dict[str, float]]:
    """The same for multi-task distillation (TeacherPool queries included)."""
    from mtrl_ray.algorithms.distill import DistillConfig

    config = (
        DistillConfig()
        .multi_task(PAPER_TASKS, update="cycle")
        .training(updates_per_iteration=50)
        .distillation(teachers=teachers, teacher_rollout_prob=teacher_rollout_prob)
    )
    return _rate(config, seconds)


def mtrl_ray_ppo(
    seconds: float, fast_path: bool = True, compiled: bool | None = None
) -> tuple[float, dict[str, float]]:
    """Multi-task PPO, as its tuned example runs it (`fast_path=False`: RLlib's loops).

    4 envs per runner, 2048 env steps per task per update, minibatches of 64 samples
    per task, the learner compiled on the fast path (`compiled=False`: eager). The
    compile happens in the warm-up iteration, before the timing starts.
    """
    return _rate(mtrl_ray_ppo_config(fast_path, compiled), seconds, num_envs=None)


def mtrl_ray_ppo_config(fast_path: bool = True, compiled: bool | None = None):
    """(e)'s config: defaults (6 x 1 x 4, 2048 steps per task, 10 epochs), minibatches
    of 384, `torch_compile_learner` on the fast path as in the tuned example (or
    `compiled`)."""
    from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

    config = MultiTaskPPOConfig().multi_task(PAPER_TASKS)
    config.training(minibatch_size=64 * len(PAPER_TASKS), fast_path=fast_path)
    return config.framework(torch_compile_learner=fast_path if compiled is None else compiled)


def mtrl_ray_appo(seconds: float, fast_path: bool = True) -> tuple[float, dict[str, float]]:
    """Multi-task APPO with its defaults (`fast_path=False`: RLlib's APPO as it is)."""
    from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig

    config = MultiTaskAPPOConfig().multi_task(PAPER_TASKS).training(fast_path=fast_path)
    return _rate(config, seconds, num_envs=None)


def _rate(config, seconds: float, num_envs: int | None = NUM_ENVS) -> tuple[float, dict]:
    import ray

    if num_envs is not None:  # A2C's layout: 16 envs per runner, t_max-step fragments
        config.env_runners(num_envs_per_env_runner=num_envs, rollout_fragment_length=T_MAX)
    # A logical CPU per runner and one for the learner: they share the real cores.
    cpus = config.num_env_runners + 1
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        algo = config.build_algo()
        try:
            algo.train()  # warm-up
            result, start = algo.train(), time.perf_counter()
            first = result["env_runners"]["num_env_steps_sampled_lifetime"]
            while time.perf_counter() - start < seconds:
                result = algo.train()
            elapsed = time.perf_counter() - start
            steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - first
            timers = {
                k: v * 1000 for k, v in result.get("timers", {}).items() if isinstance(v, float)
            }
            query = result.get("learners", {}).get("teacher_query_seconds")
            if query is not None:
                timers["teacher_query (per update)"] = query * 1000
            return steps / elapsed, timers
        finally:
            algo.stop()
    finally:
        ray.shutdown()


def row(label: str, rates: list[float]) -> str:
    """A table row: label, median, every run."""
    runs = ", ".join(f"{x:.0f}" for x in rates)
    return f"| {label} | {statistics.median(rates):.0f} | {runs} |"


def machine() -> str:
    """CPU model and core count."""
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


#: Every row: key -> (label, measure(seconds, teachers) -> (env steps/s, timers)).
ROWS: dict[str, tuple[str, Callable[[float, Path], tuple[float, dict[str, float]]]]] = {
    "a": (
        "(a) raw stepping, 6 variants x 16 envs, no policy",
        lambda s, _: (raw_stepping(s), {}),
    ),
    "b": (
        "(b) stable-baselines3 A2C, 16 envs, t_max 5, observations normalized",
        lambda s, _: (sb3_a2c(s), {}),
    ),
    "b'": (
        "(b') the same without observation normalization",
        lambda s, _: (sb3_a2c(s, normalize_observations=False), {}),
    ),
    "c": ("(c) mtrl-ray A2C, 6 tasks x 1 runner x 16 envs, cycle", lambda s, _: mtrl_ray_a2c(s)),
    "c'": ("(c') the same, joint update", lambda s, _: mtrl_ray_a2c(s, update="joint")),
    "d": (
        "(d) mtrl-ray distillation, same layout, student-driven (p_t = 0)",
        lambda s, t: mtrl_ray_distill(s, t),
    ),
    "d'": (
        "(d') the same, half the fragments teacher-driven (p_t = 0.5)",
        lambda s, t: mtrl_ray_distill(s, t, teacher_rollout_prob=0.5),
    ),
    "e": (
        "(e) mtrl-ray PPO (fast path, compiled learner), 6 x 1 x 4 envs, tuned example",
        lambda s, _: mtrl_ray_ppo(s),
    ),
    "e0": (
        "(e0) the same, learner eager (`torch_compile_learner=False`)",
        lambda s, _: mtrl_ray_ppo(s, compiled=False),
    ),
    "e'": (
        "(e') the same on RLlib's sampling loop and learner (`fast_path=False`)",
        lambda s, _: mtrl_ray_ppo(s, fast_path=False),
    ),
    "f": (
        "(f) mtrl-ray APPO (fast path, streaming), 6 tasks x 1 runner x 4 envs, defaults",
        lambda s, _: mtrl_ray_appo(s),
    ),
    "f'": (
        "(f') the same on RLlib's APPO loop and learner thread (`fast_path=False`)",
        lambda s, _: mtrl_ray_appo(s, fast_path=False),
    ),
    "g": (
        "(g) stable-baselines3 PPO, 6 variants x 4 envs, (e)'s work per update",
        lambda s, _: (sb3_ppo(s), {}),
    ),
    "h0": (
        "(h0) raw stepping, the 8 Walker2d variants x 16 envs, no policy",
        lambda s, _: (raw_stepping(s, WALKER2D_TASKS), {}),
    ),
    "h": (
        "(h) mtrl-ray A2C, the 8 Walker2d variants x 1 runner x 16 envs, cycle",
        lambda s, _: mtrl_ray_a2c_tasks(s, WALKER2D_TASKS),
    ),
    "i0": (
        "(i0) raw stepping, cross-family (2 HalfCheetah, 2 Walker2d, 2 Hopper) x 16 envs",
        lambda s, _: (raw_stepping(s, CROSS_FAMILY_TASKS), {}),
    ),
    "i": (
        "(i) mtrl-ray A2C, cross-family, 6 tasks x 1 runner x 16 envs, cycle, padded",
        lambda s, _: mtrl_ray_a2c_tasks(s, CROSS_FAMILY_TASKS),
    ),
}

#: The ratios printed, when both rows were measured: (numerator, denominator, note).
RATIOS = (
    ("c", "a", "target >= 0.8"),
    ("c", "b", "target >= 1.5"),
    ("c", "b'", ""),
    ("d", "c", "target >= 0.70"),
    ("e", "g", "target >= 1.5"),
    ("e0", "g", ""),
    ("e", "e0", "the compiled learner's gain"),
    ("e", "e'", "the fast path's gain"),
    ("f", "g", "target: APPO >= PPO"),
    ("f", "e", "target: APPO >= PPO (fast paths)"),
    ("f", "f'", "the fast path's gain"),
    ("h", "h0", "issue 21: within 20 % of (c)/(a)"),
    ("i", "i0", "issue 21: within 20 % of (c)/(a)"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help=f"comma-separated rows to measure (default all: {','.join(ROWS)})",
    )
    parser.add_argument(
        "--teachers",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "results" / "teachers",
        help="teachers for (d) (default: the committed ones)",
    )
    args = parser.parse_args()
    keys = [k.strip() for k in args.rows.split(",") if k.strip()]
    unknown = [k for k in keys if k not in ROWS]
    if unknown or args.repeats < 1 or args.seconds <= 0:
        parser.error(f"unknown rows {unknown}" if unknown else "--repeats/--seconds must be > 0")

    rates: dict[str, list[float]] = {k: [] for k in keys}
    timers: dict[str, dict[str, float]] = {}
    for _ in range(args.repeats):
        for key in keys:  # one repeat of every row, then the next: drift hits all alike
            rate, timers[key] = ROWS[key][1](args.seconds, args.teachers)
            rates[key].append(rate)
    med = {k: statistics.median(v) for k, v in rates.items()}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    command = f"python benchmarks/throughput.py --repeats {args.repeats} --seconds {args.seconds:g}"
    if keys != list(ROWS):
        command += f" --rows {','.join(keys)}"
    lines = [
        "# Throughput (env steps per second, median of "
        f"{args.repeats} runs of {args.seconds:g} s each)",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- date: {date.today().isoformat()}, commit {commit or 'uncommitted'}",
        "",
        "| what | env steps/s (median) | all runs |",
        "| --- | ---: | --- |",
        *[row(ROWS[k][0], rates[k]) for k in keys],
        "",
    ]
    for top, bottom, note in RATIOS:
        if top in med and bottom in med:
            per_repeat = ", ".join(
                f"{x / y:.2f}" for x, y in zip(rates[top], rates[bottom], strict=True)
            )
            lines.append(
                f"- ({top})/({bottom}) = {med[top] / med[bottom]:.2f}"
                + (f"  ({note})" if note else "")
                + f"; per repeat: {per_repeat}"
            )
    for key, label in (("c", "(c)"), ("d", "(d)")):
        if timers.get(key):
            lines += [
                "",
                f"RLlib timers of the last {label} run, ms (sampling, learner and weight sync: "
                "per update; the rest: per iteration of 50 updates; a teacher query: per update):",
                "",
                *[f"- {k}: {v:.1f}" for k, v in sorted(timers[key].items())],
            ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
