"""Every bad input to `rllib` is one stderr line, exit 2, before Ray, with nothing written.

Each case builds its bad input (a flag, a tuned example, a corrupted copy of a
committed checkpoint or run) in its own folder, snapshots that folder and the
shared checkpoint copies, runs `rllib` in-process with `ray.init` made to fail,
and checks: exit code 2, exactly one stderr line naming the input, Ray never
started, and every file and folder as it was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import ray
import torch

from mtrl_ray.checkpoints import MODULE_SUBDIR, WEIGHTS, read_checkpoint
from mtrl_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
A2C_EXAMPLE = ROOT / "tuned_examples" / "a2c" / "halfcheetah_vanilla_multitask.py"
A2C_YAML = ROOT / "tuned_examples" / "a2c" / "halfcheetah_vanilla_multitask.yaml"
DISTILL_EXAMPLE = ROOT / "tuned_examples" / "distill" / "halfcheetah_multitask_distillation.py"
SOURCES = {
    "a2c": RESULTS / "vanilla_multitask_seed0" / "checkpoint" / "checkpoint_000250",
    "ppo": RESULTS / "ppo" / "ppo_vanilla_multitask_seed0" / "checkpoint" / "checkpoint_000489",
    "teacher": RESULTS / "teachers_raw" / "HalfCheetahBigFoot-v0" / "checkpoint",
}
TEACHER_TASK = "HalfCheetahBigFoot-v0"
LEARNER_STATE = Path("learner_group") / "learner" / "state.pkl"
MODULE_STATE = MODULE_SUBDIR / "module_state.pkl"


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Copies of committed checkpoints and of a run folder, used unchanged by every case."""
    root = tmp_path_factory.mktemp("shared")
    for name, source in SOURCES.items():
        shutil.copytree(source, root / name)
    run = root / "run"
    run.mkdir()
    lines = (RESULTS / "vanilla_multitask_seed0" / "result.json").read_text().splitlines()
    (run / "result.json").write_text("\n".join(lines[:10]) + "\n")
    return root


# -- building bad inputs --------------------------------------------------------------


def copy(shared: Path, name: str, tmp: Path) -> Path:
    """A private copy of a shared checkpoint, to corrupt."""
    return Path(shutil.copytree(shared / name, tmp / name))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def reshape_weight(checkpoint: Path) -> None:
    """Replaces one actor tensor of `module_weights.pt` with one of another shape."""
    weights = torch.load(checkpoint / WEIGHTS, weights_only=True)
    name = next(k for k in weights if k.startswith("actor") and weights[k].ndim == 2)
    weights[name] = torch.zeros(weights[name].shape[0] + 1, weights[name].shape[1])
    torch.save(weights, checkpoint / WEIGHTS)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def yaml_example(tmp: Path, old: str, new: str) -> Path:
    """The A2C YAML example with `old` replaced by `new` (which must occur)."""
    text = A2C_YAML.read_text()
    assert old in text
    return write(tmp / "example.yaml", text.replace(old, new, 1))


PY_HEAD = "from mtrl_ray.algorithms.a2c import A2CConfig\n"
PY_CONFIG = PY_HEAD + "config = A2CConfig().multi_task(['HalfCheetahBigFoot-v0'])\n"


def train(*args: str) -> list[str]:
    return ["train", "file", str(A2C_EXAMPLE), "--stop-iters", "1", *args]


def distill_with(teachers: Path, *args: str) -> list[str]:
    config = json.dumps({"teachers": str(teachers)})
    return ["train", "file", str(DISTILL_EXAMPLE), "--tasks", TEACHER_TASK, "--config", config,
            "--stop-iters", "1", *args]  # fmt: skip


def teacher_folder(shared: Path, tmp: Path, corrupt: Callable[[Path], None] | None) -> Path:
    """A teachers folder holding a (corrupted) copy of the committed BigFoot teacher."""
    folder = tmp / "teachers"
    folder.mkdir()
    checkpoint = Path(shutil.copytree(shared / "teacher", folder / TEACHER_TASK))
    if corrupt is not None:
        corrupt(checkpoint)
    return folder


def report_run(shared: Path, tmp: Path, result: str | None = None) -> Path:
    run = Path(shutil.copytree(shared / "run", tmp / "run"))
    if result is not None:
        (run / "result.json").write_text(result)
    return run


# Each case: (id, build(shared, tmp) -> argv, text the one stderr line must contain).
Case = tuple[str, Callable[[Path, Path], list[str]], str]

TRAIN: list[Case] = [
    ("config-unknown-key", lambda s, t: train("--config", '{"no_such_key": 1}'), "no_such_key"),
    ("config-bad-type", lambda s, t: train("--config", '{"gamma": "x"}'), "gamma"),
    ("config-not-json", lambda s, t: train("--config", "{gamma: 1"), "--config"),
    ("config-not-object", lambda s, t: train("--config", "[1]"), "--config"),
    ("config-model-key", lambda s, t: train("--config", '{"model_config": {"fcnet": 1}}'),
     "fcnet"),  # fmt: skip
    ("unknown-task", lambda s, t: train("--tasks", "HalfCheetahHugeFoot-v0"),
     "HalfCheetahHugeFoot-v0"),  # fmt: skip
    ("duplicate-task", lambda s, t: train("--tasks", f"{TEACHER_TASK},{TEACHER_TASK}"),
     TEACHER_TASK),  # fmt: skip
    ("stop-timesteps-0", lambda s, t: train("--stop-timesteps", "0"), "--stop-timesteps"),
    ("stop-iters-negative", lambda s, t: train("--stop-iters", "-1"), "--stop-iters"),
    ("runners-0", lambda s, t: train("--runners-per-task", "0"), "--runners-per-task"),
    ("seeds-not-int", lambda s, t: train("--seeds", "1,x"), "--seeds"),
    ("seeds-twice", lambda s, t: train("--seeds", "1,1"), "--seeds"),
    ("checkpoint-every-0", lambda s, t: train("--checkpoint-every", "0"), "checkpoint"),
    ("keep-checkpoints-0", lambda s, t: train("--keep-checkpoints", "0"), "keep"),
    ("max-failures-negative", lambda s, t: train("--max-failures", "-1"), "max_failures"),
    ("storage-is-file", lambda s, t: train("--storage-path", str(write(t / "f", "x"))),
     "storage path"),  # fmt: skip
    ("resume-nothing", lambda s, t: ["train", "file", str(A2C_EXAMPLE), "--resume"],
     "nothing to resume"),  # fmt: skip
    ("resume-with-seed", lambda s, t: ["train", "file", str(A2C_EXAMPLE), "--resume", "--seed",
                                       "1"], "--seed"),  # fmt: skip
    ("unreachable-address", lambda s, t: train("--ray-address", "127.0.0.1:1"),
     "--ray-address 127.0.0.1:1"),  # fmt: skip
    ("address-not-host-port", lambda s, t: train("--ray-address", "nowhere"), "--ray-address"),
]

RESTORE: list[Case] = [
    ("restore-missing", lambda s, t: train("--restore", str(t / "nope")), "checkpoint not found"),
    ("restore-foreign", lambda s, t: train("--restore", str(write(t / "x.json", "{}").parent)),
     "not an mtrl-ray checkpoint"),  # fmt: skip
    ("restore-ppo-into-a2c", lambda s, t: train("--restore", str(s / "ppo")), "MultiTaskPPO"),
    ("restore-other-tasks", lambda s, t: train("--restore", str(s / "a2c"), "--tasks",
                                               TEACHER_TASK), "trained on tasks"),  # fmt: skip
    ("restore-other-shape", lambda s, t: train(
        "--restore", str(s / "a2c"), "--config", '{"model_config": {"actor_hiddens": [32, 32]}}'),
     "actor_hiddens"),  # fmt: skip
    ("restore-learner-state-truncated",
     lambda s, t: train("--restore", str(_corrupt(s, t, "a2c", LEARNER_STATE))), "state.pkl"),
    ("restore-module-state-truncated",
     lambda s, t: train("--restore", str(_corrupt(s, t, "a2c", MODULE_STATE))),
     "module_state.pkl"),  # fmt: skip
    ("restore-manifest-truncated",
     lambda s, t: train("--restore", str(_corrupt(s, t, "a2c", Path("mtrl_ray.json")))),
     "mtrl_ray.json"),  # fmt: skip
    ("fine-tune-missing", lambda s, t: train("--config", json.dumps({"fine_tune_from": str(t)})),
     "mtrl_ray"),  # fmt: skip
]

TEACHERS: list[Case] = [
    ("teacher-missing", lambda s, t: distill_with(t), "no teacher for task"),
    ("teacher-wrong-shape", lambda s, t: distill_with(teacher_folder(s, t, reshape_weight)),
     "does not fit"),  # fmt: skip
    ("teacher-weights-truncated",
     lambda s, t: distill_with(teacher_folder(s, t, lambda c: truncate(c / WEIGHTS))), WEIGHTS),
    ("teacher-weights-missing",
     lambda s, t: distill_with(teacher_folder(s, t, lambda c: (c / WEIGHTS).unlink())), WEIGHTS),
]

EXAMPLES: list[Case] = [
    ("example-missing", lambda s, t: ["train", "file", str(t / "none.py")], "not found"),
    ("example-suffix", lambda s, t: ["train", "file", str(write(t / "e.txt", ""))], "e.txt"),
    ("py-syntax-error", lambda s, t: ["train", "file", str(write(t / "e.py", "config = (\n"))],
     "SyntaxError"),  # fmt: skip
    ("py-sys-exit", lambda s, t: ["train", "file", str(write(t / "e.py", "import sys\n"
                                                                         "sys.exit(0)\n"))],
     "e.py"),  # fmt: skip
    ("py-config-none", lambda s, t: ["train", "file", str(write(t / "e.py", "config = None\n"))],
     "config"),  # fmt: skip
    ("py-stop-int", lambda s, t: ["train", "file", str(write(t / "e.py", PY_CONFIG + "stop=5\n"))],
     "stop"),  # fmt: skip
    ("yaml-malformed", lambda s, t: ["train", "file", str(write(t / "e.yaml", "x: [\n"))],
     "invalid YAML"),  # fmt: skip
    ("yaml-typo-key", lambda s, t: ["train", "file", str(yaml_example(t, "  stop:", "  stopp:"))],
     "stopp"),  # fmt: skip
    ("yaml-stop-list", lambda s, t: ["train", "file", str(yaml_example(
        t, "  stop:\n    num_env_steps_sampled_lifetime: 6000000",
        "  stop:\n    - num_env_steps_sampled_lifetime"))], "stop"),  # fmt: skip
    ("yaml-unknown-config-key", lambda s, t: ["train", "file", str(yaml_example(
        t, "    gamma: 0.99", "    gamma: 0.99\n    no_such_key: 1"))], "no_such_key"),
    ("yaml-bad-value", lambda s, t: ["train", "file", str(yaml_example(
        t, "    gamma: 0.99", "    gamma: fast"))], "gamma"),  # fmt: skip
    ("yaml-unknown-stop-key", lambda s, t: ["train", "file", str(yaml_example(
        t, "num_env_steps_sampled_lifetime: 6000000", "no_such_metric: 1"))], "no_such_metric"),
    ("yaml-unknown-algorithm", lambda s, t: ["train", "file", str(yaml_example(
        t, "run: A2C", "run: DQN"))], "DQN"),  # fmt: skip
]

EVALUATE: list[Case] = [
    ("episodes-0", lambda s, t: ["evaluate", str(s / "a2c"), "--episodes", "0"], "--episodes"),
    ("episodes-negative", lambda s, t: ["evaluate", str(s / "a2c"), "--episodes", "-1"],
     "--episodes"),  # fmt: skip
    ("out-is-file", lambda s, t: ["evaluate", str(s / "a2c"), "--out", str(write(t / "o", ""))],
     "--out"),  # fmt: skip
    ("out-under-file", lambda s, t: ["evaluate", str(s / "a2c"), "--out",
                                     str(write(t / "o", "") / "sub")], "--out"),  # fmt: skip
    ("evaluate-missing", lambda s, t: ["evaluate", str(t / "nope")], "checkpoint not found"),
    ("evaluate-foreign", lambda s, t: ["evaluate", str(t)], "not an mtrl-ray checkpoint"),
    ("evaluate-no-head", lambda s, t: ["evaluate", str(s / "a2c"), "--tasks",
                                       "HalfCheetahBigLeg-v0"], "no head"),  # fmt: skip
    ("evaluate-unknown-task", lambda s, t: ["evaluate", str(s / "a2c"), "--tasks", "Nope-v0"],
     "Nope-v0"),  # fmt: skip
    ("evaluate-unknown-head", lambda s, t: ["evaluate", str(s / "a2c"), "--head", "Nope-v0"],
     "Nope-v0"),  # fmt: skip
    ("evaluate-weights-truncated",
     lambda s, t: ["evaluate", str(_corrupt(s, t, "a2c", Path(WEIGHTS)))], WEIGHTS),
    ("evaluate-weights-missing", lambda s, t: ["evaluate", str(_without_weights(s, t))],
     "upgrade-checkpoint"),  # fmt: skip
    ("evaluate-weights-wrong-shape", lambda s, t: ["evaluate", str(_reshaped(s, t))],
     "does not fit"),  # fmt: skip
    ("evaluate-unreachable-address",
     lambda s, t: ["evaluate", str(s / "a2c"), "--ray-address", "127.0.0.1:1"], "--ray-address"),
]

REPORT: list[Case] = [
    ("report-not-a-run", lambda s, t: ["report", str(t), "--out", str(t / "r")],
     "not a run folder"),  # fmt: skip
    ("report-out-is-file", lambda s, t: ["report", str(s / "run"), "--out",
                                         str(write(t / "r", ""))], "--out"),  # fmt: skip
    ("report-bad-middle-line", lambda s, t: ["report", str(report_run(s, t, "{}\n{oops\n{}\n")),
                                             "--out", str(t / "r")], "line 2"),  # fmt: skip
    ("report-bad-evaluation", lambda s, t: ["report", str(_bad_evaluation(s, t)), "--out",
                                            str(t / "r")], "evaluation.json"),  # fmt: skip
]

UPGRADE: list[Case] = [
    ("upgrade-missing", lambda s, t: ["upgrade-checkpoint", str(t / "nope")], "not found"),
    ("upgrade-foreign", lambda s, t: ["upgrade-checkpoint", str(t)], "not an mtrl-ray"),
    ("upgrade-manifest-truncated",
     lambda s, t: ["upgrade-checkpoint", str(_corrupt(s, t, "a2c", Path("mtrl_ray.json")))],
     "mtrl_ray.json"),  # fmt: skip
    ("upgrade-module-state-truncated",
     lambda s, t: ["upgrade-checkpoint", str(_corrupt(s, t, "a2c", MODULE_STATE))],
     "module_state.pkl"),  # fmt: skip
]


def _corrupt(shared: Path, tmp: Path, name: str, relative: Path) -> Path:
    checkpoint = copy(shared, name, tmp)
    truncate(checkpoint / relative)
    return checkpoint


def _without_weights(shared: Path, tmp: Path) -> Path:
    checkpoint = copy(shared, "a2c", tmp)
    (checkpoint / WEIGHTS).unlink()
    return checkpoint


def _reshaped(shared: Path, tmp: Path) -> Path:
    checkpoint = copy(shared, "a2c", tmp)
    reshape_weight(checkpoint)
    return checkpoint


def _bad_evaluation(shared: Path, tmp: Path) -> Path:
    run = report_run(shared, tmp)
    write(run / "evaluation.json", '{"results": [{"task": ')
    return run


ALL = TRAIN + RESTORE + TEACHERS + EXAMPLES + EVALUATE + REPORT + UPGRADE


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under `roots`: (size, modification time) or "dir"."""
    seen = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            stat = path.stat()
            seen[str(path)] = "dir" if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return seen


def test_at_least_forty_cases_with_unique_ids():
    ids = [case_id for case_id, _, _ in ALL]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("build, expected", [c[1:] for c in ALL], ids=[c[0] for c in ALL])
def test_bad_input(build, expected, shared, tmp_path, monkeypatch, capsys):
    case = tmp_path / "case"
    case.mkdir()
    argv = build(shared, case)
    monkeypatch.chdir(case)  # default outputs (runs/, report/) would land here

    def no_ray(*args, **kwargs):
        raise AssertionError("ray.init reached with bad input")

    monkeypatch.setattr(ray, "init", no_ray)
    before = snapshot(case, shared)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"rllib {argv[0]}: error: ") and expected in err[0], err[0]
    assert not ray.is_initialized()
    assert snapshot(case, shared) == before


def test_report_skips_a_truncated_last_line_with_one_warning(shared, tmp_path, capsys):
    run = report_run(shared, tmp_path)
    full = (run / "result.json").read_text()
    (run / "result.json").write_text(full + full.splitlines()[-1][:40])  # a kill mid-write
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "truncated last line" in err[0] and "result.json" in err[0], err
    assert any((tmp_path / "r").glob("curve_*.png"))


def test_evaluation_weights_need_no_rllib_pickles(shared, tmp_path):
    """`rllib evaluate` builds the module from the manifest and module_weights.pt only."""
    from mtrl_ray.evaluation import module_state
    from mtrl_ray.policy import Policy

    checkpoint = copy(shared, "a2c", tmp_path)
    for pickled in checkpoint.rglob("*.pkl"):
        truncate(pickled, keep=0.1)
    state = module_state(read_checkpoint(checkpoint))
    policy = Policy.load(checkpoint)
    for name, tensor in policy.module.state_dict().items():
        assert torch.equal(torch.from_numpy(state[name]), tensor), name


def test_teacher_lookup_takes_the_newest_complete_checkpoint(shared, tmp_path):
    """A newer checkpoint that a kill cut short (no weights file yet) is passed over."""
    from mtrl_ray.teachers import find_teacher_checkpoint

    run = tmp_path / "teachers" / TEACHER_TASK / "seed0"
    older = Path(shutil.copytree(shared / "teacher", run / "checkpoint_000001"))
    newer = Path(shutil.copytree(shared / "teacher", run / "checkpoint_000002"))
    assert find_teacher_checkpoint(tmp_path / "teachers", TEACHER_TASK) == newer
    (newer / WEIGHTS).unlink()
    assert find_teacher_checkpoint(tmp_path / "teachers", TEACHER_TASK) == older
    (older / "mtrl_ray.json").write_text('{"algorithm": ')
    with pytest.raises(ValueError, match="no teacher for task"):
        find_teacher_checkpoint(tmp_path / "teachers", TEACHER_TASK)
