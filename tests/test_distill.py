"""Multi-task distillation: the KL, the TeacherPool, learning, faults, and bad teachers.

One two-task A2C checkpoint on the cheap point-mass tasks (from the session's
point-mass Tune run, tests/conftest.py `point_mass_seeds_run`) is the teacher of both
tasks: head 0 for PointMass, head 1 for PointMassHeavy, so the pool must route every
row to the right head.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.tune.utils import flatten_dict

from mtrl_ray import metrics
from mtrl_ray.algorithms.distill import DistillConfig
from mtrl_ray.algorithms.distill.distill_torch_learner import KL, PER_TASK, diagonal_gaussian_kl
from mtrl_ray.checkpoints import WEIGHTS, read_checkpoint
from mtrl_ray.cli import main
from mtrl_ray.columns import TASK_ID
from mtrl_ray.envs.point_mass import HEAVY_POINT_MASS_ID, POINT_MASS_ID
from mtrl_ray.teachers import TeacherError, load_teacher, start_teacher_pool
from mtrl_ray.training import RunSettings, train

TASKS = (POINT_MASS_ID, HEAVY_POINT_MASS_ID)
REPO = Path(__file__).resolve().parents[1]


def test_kl_matches_torch():
    """Our closed form equals torch's KL of the two diagonal Gaussians."""
    g = torch.Generator().manual_seed(0)
    mu_t, mu_s = torch.randn(64, 6, generator=g), torch.randn(64, 6, generator=g)
    log_std_t, log_std_s = torch.randn(64, 6, generator=g), torch.randn(64, 6, generator=g)
    teacher = torch.distributions.Independent(torch.distributions.Normal(mu_t, log_std_t.exp()), 1)
    student = torch.distributions.Independent(torch.distributions.Normal(mu_s, log_std_s.exp()), 1)
    expected = torch.distributions.kl_divergence(teacher, student)
    ours = diagonal_gaussian_kl(mu_t, log_std_t, mu_s, log_std_s)
    assert ours.shape == (64,)
    torch.testing.assert_close(ours, expected)
    # KL(N_T || N_S) is not symmetric: the order of the arguments matters.
    assert not torch.allclose(ours, diagonal_gaussian_kl(mu_s, log_std_s, mu_t, log_std_t))
    # Hand-computed, one dimension: N(0, 1) || N(1, 2^2) = log 2 + (1 + 1) / 8 - 1/2.
    one = diagonal_gaussian_kl(
        torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), torch.full((1, 1), np.log(2.0))
    )
    assert one.item() == pytest.approx(np.log(2.0) + 2.0 / 8.0 - 0.5)


@pytest.fixture(scope="module")
def teacher_checkpoint(ray_module, point_mass_seeds_run) -> Path:
    """A two-task A2C checkpoint trained well past random on both point-mass tasks: the
    last of seed 0 of the session's point-mass Tune run (tests/conftest.py; it passed
    the example's criteria, checked in test_tune_runs.py)."""
    assert point_mass_seeds_run.code == 0, point_mass_seeds_run.out[-2000:]
    return sorted((point_mass_seeds_run.experiment / "seed0").glob("checkpoint_*"))[-1]


def _distill_config(teacher: Path, **distillation) -> DistillConfig:
    return (
        DistillConfig()
        .multi_task(TASKS, runners_per_task=1)
        .env_runners(num_envs_per_env_runner=8, num_cpus_per_env_runner=0.25)
        .training(updates_per_iteration=50, lr=3e-3)
        .distillation(teachers={task: str(teacher) for task in TASKS}, **distillation)
        .debugging(seed=2)
    )


@pytest.mark.slow
def test_pool_answers_are_each_teachers_own_forward(ray_module, teacher_checkpoint):
    """Batched, mixed-task query == RLlib's restored module, head by head, on raw obs."""
    info = read_checkpoint(teacher_checkpoint)
    module = RLModule.from_checkpoint(str(info.module_path))
    # The teacher's saved normalization is not the identity: it must be applied.
    assert float(module.obs_normalizer.count.min()) > 0
    rng = np.random.default_rng(0)
    obs = rng.normal(scale=2.0, size=(37, 2))
    task_ids = rng.integers(0, 2, size=37)
    pool = start_teacher_pool([load_teacher(teacher_checkpoint, t) for t in TASKS], num_cpus=0.1)
    try:
        mean, log_std = ray_module.get(pool.query.remote(task_ids, obs))
    finally:
        ray_module.kill(pool)
    with torch.no_grad():
        out = module.forward_inference(
            {Columns.OBS: torch.tensor(obs), TASK_ID: torch.tensor(task_ids)}
        )
    expected_mean, expected_log_std = out[Columns.ACTION_DIST_INPUTS].chunk(2, dim=-1)
    np.testing.assert_allclose(mean, expected_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_std, expected_log_std.numpy(), rtol=1e-5, atol=1e-6)
    # The two heads really differ, so routing a row to the wrong one would show.
    both = out[Columns.ACTION_DIST_INPUTS]
    swapped = module.forward_inference(
        {Columns.OBS: torch.tensor(obs), TASK_ID: torch.tensor(1 - task_ids)}
    )[Columns.ACTION_DIST_INPUTS]
    assert not torch.allclose(both, swapped, atol=1e-3)


def _greedy_returns(algo, by_teacher: bool, episodes: int = 20) -> dict[str, float]:
    """Mean return per task of the student (or the teacher), acting with the mean action."""

    def run(runner):
        student = runner.module
        if by_teacher:
            runner.module = runner._teacher
        try:
            episodes_ = runner.sample(num_episodes=episodes, explore=False)
        finally:
            runner.module = student
        return runner.task_name, float(np.mean([e.get_return() for e in episodes_]))

    return dict(algo.env_runner_group.foreach_env_runner(run, local_env_runner=False))


@pytest.mark.slow
def test_distillation_matches_the_teachers(ray_module, teacher_checkpoint):
    """KL drops >= 10x and the student recovers >= 75% of each teacher's gain over random;
    the pool's process, SIGKILLed after the first iteration, is restarted by Ray and
    training goes on (a teacher's answers do not depend on its process)."""
    algo = _distill_config(teacher_checkpoint, teacher_rollout_prob=0.5).build_algo()
    try:
        untrained = _greedy_returns(algo, by_teacher=False)
        teacher = _greedy_returns(algo, by_teacher=True)
        kl = {task: [] for task in TASKS}
        fractions = {}
        for iteration in range(8):
            result = algo.train()
            for task in TASKS:
                kl[task].append(result["learners"]["default_policy"][PER_TASK][task][KL])
                fractions[task] = result["env_runners"][metrics.PER_TASK][task][
                    metrics.TEACHER_FRAGMENT_FRACTION
                ]
            if iteration == 0:
                pool = algo.teacher_pool
                pid = ray_module.get(pool.pid.remote())
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)  # let the kill land before the next query
        new_pid = ray_module.get(pool.pid.remote())
        student = _greedy_returns(algo, by_teacher=False)
        learners = result["learners"]
    finally:
        algo.stop()
    print(f"untrained {untrained}\nteacher {teacher}\nstudent {student}\nkl {kl}")
    assert new_pid != pid, "the pool was not restarted"
    assert algo.iteration == 8
    assert set(learners["default_policy"][PER_TASK]) == set(TASKS)
    for task in TASKS:
        assert kl[task][-1] <= kl[task][0] / 10, (task, kl[task])
        gain = teacher[task] - untrained[task]
        assert gain > 5.0, f"the teacher of {task} is no better than an untrained student"
        assert student[task] >= untrained[task] + 0.75 * gain, (task, untrained, teacher, student)
        # Half the fragments were driven by the teacher (last 100 per task: loose bounds).
        assert 0.3 <= fractions[task] <= 0.7, fractions
    assert learners["teacher_query_batch_size"] == 2 * 8 * (5 + 1)  # rows incl. bootstrap rows
    assert learners["teacher_query_seconds"] > 0


@pytest.mark.slow
def test_student_checkpoint_evaluates(ray_module, teacher_checkpoint, tmp_path, capsys):
    """`rllib evaluate` on a distilled student: one row per task, actor-only module."""
    config = _distill_config(teacher_checkpoint).training(updates_per_iteration=5)
    settings = RunSettings("student", tmp_path, {"training_iteration": 1}, verbose=False)
    checkpoint = train(config, settings)
    info = read_checkpoint(checkpoint)
    assert info.algorithm == "Distill" and info.model_config["critic"] is False
    assert main(["evaluate", str(checkpoint), "--episodes", "4"]) == 0
    out = capsys.readouterr().out
    assert all(task in out for task in TASKS)


def _cli_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_missing_teacher_is_one_line_error(tmp_path, capsys):
    """A task without a teacher stops `rllib train` before Ray starts; nothing is written."""
    example = REPO / "tuned_examples" / "distill" / "halfcheetah_multitask_distillation.yaml"
    (tmp_path / "teachers").mkdir()
    argv = ["train", "file", str(example), "--storage-path", str(tmp_path / "runs")]
    err = _cli_error([*argv, "--config", f'{{"teachers": "{tmp_path / "teachers"}"}}'], capsys)
    assert "no teacher for task HalfCheetahSmallFoot-v0" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_unreadable_teacher_names_the_file(teacher_checkpoint, tmp_path, capsys):
    """A corrupt weights file is an error naming that file; a foreign dir is one too."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(teacher_checkpoint, broken)
    (broken / WEIGHTS).write_bytes(b"not a torch file")
    with pytest.raises(TeacherError, match=f"cannot read teacher weights {broken / WEIGHTS}"):
        load_teacher(broken, POINT_MASS_ID)
    with pytest.raises(TeacherError, match="not an mtrl-ray checkpoint"):
        load_teacher(tmp_path, POINT_MASS_ID)
    config = _distill_config(teacher_checkpoint)
    config.distillation(teachers={POINT_MASS_ID: str(broken), HEAVY_POINT_MASS_ID: str(broken)})
    with pytest.raises(TeacherError, match=str(broken / WEIGHTS)):
        config.validate()


@pytest.mark.slow
def test_teacher_with_other_spaces_is_refused(teacher_checkpoint, tmp_path):
    """A teacher whose shapes differ from its task's is refused before anything runs."""
    import json
    import shutil

    config = DistillConfig().multi_task(["HalfCheetahSmallFoot-v0"])
    config.distillation(teachers={"HalfCheetahSmallFoot-v0": str(teacher_checkpoint)})
    with pytest.raises(TeacherError, match="has no head for HalfCheetahSmallFoot-v0"):
        config.validate()
    # A point-mass teacher (2-d observations, 1-d actions) relabelled as a cheetah's.
    relabelled = tmp_path / "relabelled"
    shutil.copytree(teacher_checkpoint, relabelled)
    manifest = json.loads((relabelled / "mtrl_ray.json").read_text())
    manifest["tasks"] = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]
    (relabelled / "mtrl_ray.json").write_text(json.dumps(manifest))
    config.distillation(teachers={"HalfCheetahSmallFoot-v0": str(relabelled)})
    with pytest.raises(TeacherError, match=r"shapes \(2,\)/\(1,\), the task has \(17,\)/\(6,\)"):
        config.validate()


DISTILL_EXAMPLE = REPO / "tuned_examples" / "distill" / "halfcheetah_multitask_distillation"


def test_tuned_examples_validate_with_the_committed_teachers(monkeypatch):
    """The Python and YAML forms agree, and every committed teacher loads and fits."""
    from mtrl_ray.envs import PAPER_TASKS
    from mtrl_ray.tuned_example import load_tuned_example

    monkeypatch.chdir(REPO)  # the YAML's teachers path is relative to the repository
    py = load_tuned_example(DISTILL_EXAMPLE.with_suffix(".py"))
    yml = load_tuned_example(DISTILL_EXAMPLE.with_suffix(".yaml"))
    assert py.stop == yml.stop == {"num_env_steps_sampled_lifetime": 6_000_000}
    for key in ("env_config", "num_env_runners", "teacher_rollout_prob", "kl_coeff", "lr"):
        assert getattr(py.config, key) == getattr(yml.config, key), key
    assert Path(py.config.teachers).resolve() == Path(yml.config.teachers).resolve()
    teachers = py.config.load_teachers()
    assert [t.task for t in teachers] == list(PAPER_TASKS)
    assert all(t.observation_shape == (17,) and t.action_shape == (6,) for t in teachers)


@pytest.mark.slow
def test_distillation_example_runs_on_halfcheetah(ray_module, tmp_path, capsys):
    """`rllib train` of the YAML example: real MuJoCo, the committed teachers, the pool."""
    tasks = "HalfCheetahSmallFoot-v0,HalfCheetahBigTorso-v0"
    argv = [
        "train", "file", str(DISTILL_EXAMPLE.with_suffix(".py")), "--tasks", tasks,
        "--envs-per-runner", "2", "--updates-per-iteration", "3", "--stop-iters", "2",
        "--config", '{"num_cpus_per_env_runner": 0.25, "teacher_rollout_prob": 0.5}',
        "--storage-path", str(tmp_path), "--name", "distill",
    ]  # fmt: skip
    assert main(argv) == 0
    (trial_results,) = (tmp_path / "distill").glob("*/result.json")  # the one trial
    lines = trial_results.read_text().splitlines()
    last = flatten_dict(json.loads(lines[-1]), delimiter="/")
    for task in tasks.split(","):
        assert last[f"learners/default_policy/per_task/{task}/kl"] > 0
        assert last[f"env_runners/per_task/{task}/num_env_steps_sampled_lifetime"] == 2 * 3 * 10
    assert last["learners/teacher_query_batch_size"] == 2 * (10 + 2)
