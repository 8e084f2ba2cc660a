"""Every bad input to `rllib` is one stderr line, exit 2, before Ray, with nothing written.

Each case is an `rllib` command line whose `{placeholders}` name inputs built in the
case's own folder (a file, a tuned example, a corrupted copy of a committed
checkpoint or run). The test snapshots that folder and the shared checkpoint copies,
runs `rllib` in-process with `ray.init` made to fail, and checks: exit code 2,
exactly one stderr line naming the input, Ray never started, nothing on disk changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import ray
import torch

from mtrl_ray.checkpoints import MANIFEST, MODULE_SUBDIR, WEIGHTS, read_checkpoint
from mtrl_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
EXAMPLES = ROOT / "tuned_examples"
SOURCES = {
    "a2c": RESULTS / "vanilla_multitask_seed0" / "checkpoint" / "checkpoint_000250",
    "ppo": RESULTS / "ppo" / "ppo_vanilla_multitask_seed0" / "checkpoint" / "checkpoint_000489",
    "teacher": RESULTS / "teachers_raw" / "HalfCheetahBigFoot-v0" / "checkpoint",
}
TASK = "HalfCheetahBigFoot-v0"
LEARNER_STATE = Path("learner_group") / "learner" / "state.pkl"
MODULE_STATE = MODULE_SUBDIR / "module_state.pkl"
A2C_YAML = EXAMPLES / "a2c" / "halfcheetah_vanilla_multitask.yaml"
PY_IMPORT = "from mtrl_ray.algorithms.a2c import A2CConfig\n"
PY_CONFIG = PY_IMPORT + f"config = A2CConfig().multi_task({TASK!r})\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Copies of committed checkpoints and of a run folder, used unchanged by every case."""
    root = tmp_path_factory.mktemp("shared")
    for name, source in SOURCES.items():
        shutil.copytree(source, root / name)
    lines = (RESULTS / "vanilla_multitask_seed0" / "result.json").read_text().splitlines()
    (root / "run").mkdir()
    (root / "run" / "result.json").write_text("\n".join(lines[:10]) + "\n")
    return root


# -- building bad inputs --------------------------------------------------------------


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def reshape_weight(checkpoint: Path) -> None:
    """Replaces one actor tensor of `module_weights.pt` with one of another shape."""
    weights = torch.load(checkpoint / WEIGHTS, weights_only=True)
    name = next(k for k in weights if k.startswith("actor") and weights[k].ndim == 2)
    weights[name] = torch.zeros(weights[name].shape[0] + 1, weights[name].shape[1])
    torch.save(weights, checkpoint / WEIGHTS)


def corrupted(name: str, change: Callable[[Path], None]) -> Callable[[Path, Path], Path]:
    """Builds a copy of shared checkpoint `name`, changed by `change(copy)`."""

    def build(shared: Path, tmp: Path) -> Path:
        checkpoint = Path(shutil.copytree(shared / name, tmp / name))
        change(checkpoint)
        return checkpoint

    return build


def teachers(change: Callable[[Path], None]) -> Callable[[Path, Path], Path]:
    """Builds a teachers folder holding a changed copy of the committed BigFoot teacher."""

    def build(shared: Path, tmp: Path) -> Path:
        change(Path(shutil.copytree(shared / "teacher", tmp / "teachers" / TASK)))
        return tmp / "teachers"

    return build


def text_file(name: str, text: str) -> Callable[[Path, Path], Path]:
    def build(shared: Path, tmp: Path) -> Path:
        (tmp / name).write_text(text)
        return tmp / name

    return build


def yaml_example(old: str, new: str) -> Callable[[Path, Path], Path]:
    """Builds the A2C YAML example with `old` replaced by `new` (which must occur)."""
    assert old in A2C_YAML.read_text()
    return text_file("example.yaml", A2C_YAML.read_text().replace(old, new, 1))


def run_with(name: str, text: str) -> Callable[[Path, Path], Path]:
    """Builds a copy of the shared run folder with file `name` holding `text`."""

    def build(shared: Path, tmp: Path) -> Path:
        run = Path(shutil.copytree(shared / "run", tmp / "run"))
        (run / name).write_text(text)
        return run

    return build


#: Placeholder -> how to build that input (shared copies, case folder) -> path.
INPUTS: dict[str, Callable[[Path, Path], Path]] = {
    "a2c": lambda s, t: s / "a2c",
    "ppo": lambda s, t: s / "ppo",
    "run": lambda s, t: s / "run",
    "tmp": lambda s, t: t,
    "file": text_file("f", "x"),
    "a2c_learner_cut": corrupted("a2c", lambda c: truncate(c / LEARNER_STATE)),
    "a2c_module_cut": corrupted("a2c", lambda c: truncate(c / MODULE_STATE)),
    "a2c_manifest_cut": corrupted("a2c", lambda c: truncate(c / MANIFEST)),
    "a2c_weights_cut": corrupted("a2c", lambda c: truncate(c / WEIGHTS)),
    "a2c_no_weights": corrupted("a2c", lambda c: (c / WEIGHTS).unlink()),
    "a2c_misshapen": corrupted("a2c", reshape_weight),
    "teachers_misshapen": teachers(reshape_weight),
    "teachers_cut": teachers(lambda c: truncate(c / WEIGHTS)),
    "teachers_no_weights": teachers(lambda c: (c / WEIGHTS).unlink()),
    "py_syntax": text_file("e.py", "config = (\n"),
    "py_exit": text_file("e.py", "import sys\nsys.exit(0)\n"),
    "py_config_none": text_file("e.py", "config = None\n"),
    "py_stop_int": text_file("e.py", PY_CONFIG + "stop = 5\n"),
    "txt": text_file("e.txt", ""),
    "yaml_malformed": text_file("e.yaml", "x: [\n"),
    "yaml_typo": yaml_example("  stop:", "  stopp:"),
    "yaml_stop_list": yaml_example(
        "num_env_steps_sampled_lifetime: 6000000", "- num_env_steps_sampled_lifetime"
    ),
    "yaml_unknown_key": yaml_example("    gamma: 0.99", "    gamma: 0.99\n    no_such_key: 1"),
    "yaml_bad_value": yaml_example("    gamma: 0.99", "    gamma: fast"),
    "yaml_unknown_stop": yaml_example("num_env_steps_sampled_lifetime: 6000000", "no_metric: 1"),
    "yaml_unknown_algo": yaml_example("run: A2C", "run: DQN"),
    "run_bad_line": run_with("result.json", "{}\n{oops\n{}\n"),
    "run_bad_eval": run_with("evaluation.json", '{"results": [{"task": '),
}

A2C = f"train file {EXAMPLES}/a2c/halfcheetah_vanilla_multitask.py --stop-iters 1"
DISTILL = (
    f"train file {EXAMPLES}/distill/halfcheetah_multitask_distillation.py --stop-iters 1 "
    f"--tasks {TASK} --config"
)
TRAIN, TEACH = A2C.split(), DISTILL.split()
HIDDENS = json.dumps({"model_config": {"actor_hiddens": [32, 32]}})

#: (id, text the one stderr line must contain, argv: words with {placeholders}).
CASES: list[tuple[str, str, list[str]]] = [
    # flags and config values
    ("config-unknown-key", "no_such_key", [*TRAIN, "--config", '{"no_such_key": 1}']),
    ("config-key-typo", "did you mean 'gamma'", [*TRAIN, "--config", '{"gama": 0.9}']),
    ("config-bad-type", "gamma", [*TRAIN, "--config", '{"gamma": "x"}']),
    ("config-not-json", "--config", [*TRAIN, "--config", "{gamma: 1"]),
    ("config-not-object", "--config", [*TRAIN, "--config", "[1]"]),
    ("config-model-key", "fcnet", [*TRAIN, "--config", '{"model_config": {"fcnet": 1}}']),
    ("unknown-task", "HalfCheetahHugeFoot-v0", [*TRAIN, "--tasks", "HalfCheetahHugeFoot-v0"]),
    ("duplicate-task", TASK, [*TRAIN, "--tasks", f"{TASK},{TASK}"]),
    ("stop-timesteps-0", "--stop-timesteps", [*TRAIN, "--stop-timesteps", "0"]),
    ("stop-iters-negative", "--stop-iters", [*TRAIN, "--stop-iters", "-1"]),
    ("runners-0", "--runners-per-task", [*TRAIN, "--runners-per-task", "0"]),
    ("seeds-not-int", "--seeds", [*TRAIN, "--seeds", "1,x"]),
    ("seeds-twice", "--seeds", [*TRAIN, "--seeds", "1,1"]),
    ("checkpoint-every-0", "--checkpoint-every", [*TRAIN, "--checkpoint-every", "0"]),
    ("keep-checkpoints-0", "--keep-checkpoints", [*TRAIN, "--keep-checkpoints", "0"]),
    ("max-failures-negative", "max_failures", [*TRAIN, "--max-failures", "-1"]),
    ("storage-is-file", "storage path", [*TRAIN, "--storage-path", "{file}"]),
    ("resume-nothing", "nothing to resume", [*TRAIN[:3], "--resume"]),
    ("resume-with-seed", "--seed", [*TRAIN[:3], "--resume", "--seed", "1"]),
    ("unreachable-address", "--ray-address 127.0.0.1:1", [*TRAIN, "--ray-address", "127.0.0.1:1"]),
    ("address-not-host-port", "--ray-address", [*TRAIN, "--ray-address", "nowhere"]),
    # --restore and fine-tune checkpoints
    ("restore-missing", "checkpoint not found", [*TRAIN, "--restore", "{tmp}/nope"]),
    ("restore-foreign", "not an mtrl-ray checkpoint", [*TRAIN, "--restore", "{tmp}"]),
    ("restore-ppo-into-a2c", "MultiTaskPPO", [*TRAIN, "--restore", "{ppo}"]),
    ("restore-other-tasks", "trained on tasks", [*TRAIN, "--restore", "{a2c}", "--tasks", TASK]),
    ("restore-other-shape", "actor_hiddens", [*TRAIN, "--restore", "{a2c}", "--config", HIDDENS]),
    ("restore-learner-state-cut", "learner/state.pkl", [*TRAIN, "--restore", "{a2c_learner_cut}"]),
    ("restore-module-state-cut", "module_state.pkl", [*TRAIN, "--restore", "{a2c_module_cut}"]),
    ("restore-manifest-cut", MANIFEST, [*TRAIN, "--restore", "{a2c_manifest_cut}"]),
    ("fine-tune-foreign", "not an mtrl-ray", [*TRAIN, "--config", '{"fine_tune_from": "{tmp}"}']),
    # teachers
    ("teacher-missing", "no teacher for task", [*TEACH, '{"teachers": "{tmp}"}']),
    ("teacher-misshapen", "does not fit", [*TEACH, '{"teachers": "{teachers_misshapen}"}']),
    ("teacher-weights-cut", WEIGHTS, [*TEACH, '{"teachers": "{teachers_cut}"}']),
    ("teacher-no-weights", WEIGHTS, [*TEACH, '{"teachers": "{teachers_no_weights}"}']),
    # Python and YAML tuned examples
    ("example-missing", "not found", ["train", "file", "{tmp}/none.py"]),
    ("example-suffix", "e.txt", ["train", "file", "{txt}"]),
    ("py-syntax-error", "SyntaxError", ["train", "file", "{py_syntax}"]),
    ("py-sys-exit", "SystemExit", ["train", "file", "{py_exit}"]),
    ("py-config-none", "must define `config`", ["train", "file", "{py_config_none}"]),
    ("py-stop-int", "`stop` must be a mapping", ["train", "file", "{py_stop_int}"]),
    ("yaml-malformed", "invalid YAML", ["train", "file", "{yaml_malformed}"]),
    ("yaml-typo-key", "stopp", ["train", "file", "{yaml_typo}"]),
    ("yaml-stop-list", "`stop` must be a mapping", ["train", "file", "{yaml_stop_list}"]),
    ("yaml-unknown-config-key", "no_such_key", ["train", "file", "{yaml_unknown_key}"]),
    ("yaml-bad-value", "gamma", ["train", "file", "{yaml_bad_value}"]),
    ("yaml-unknown-stop-key", "no_metric", ["train", "file", "{yaml_unknown_stop}"]),
    ("yaml-unknown-algorithm", "DQN", ["train", "file", "{yaml_unknown_algo}"]),
    # evaluate
    ("episodes-0", "--episodes", ["evaluate", "{a2c}", "--episodes", "0"]),
    ("episodes-negative", "--episodes", ["evaluate", "{a2c}", "--episodes", "-1"]),
    ("out-is-file", "--out", ["evaluate", "{a2c}", "--out", "{file}"]),
    ("out-under-file", "--out", ["evaluate", "{a2c}", "--out", "{file}/sub"]),
    ("evaluate-missing", "checkpoint not found", ["evaluate", "{tmp}/nope"]),
    ("evaluate-foreign", "not an mtrl-ray checkpoint", ["evaluate", "{tmp}"]),
    ("evaluate-no-head", "no head", ["evaluate", "{a2c}", "--tasks", "HalfCheetahBigLeg-v0"]),
    ("evaluate-unknown-task", "Nope-v0", ["evaluate", "{a2c}", "--tasks", "Nope-v0"]),
    ("evaluate-unknown-head", "Nope-v0", ["evaluate", "{a2c}", "--head", "Nope-v0"]),
    ("evaluate-weights-cut", WEIGHTS, ["evaluate", "{a2c_weights_cut}"]),
    ("evaluate-no-weights", "upgrade-checkpoint", ["evaluate", "{a2c_no_weights}"]),
    ("evaluate-misshapen", "does not fit", ["evaluate", "{a2c_misshapen}"]),
    ("evaluate-unreachable", "127.0.0.1:1", ["evaluate", "{a2c}", "--ray-address", "127.0.0.1:1"]),
    # report
    ("report-not-a-run", "not a run folder", ["report", "{tmp}", "--out", "{tmp}/r"]),
    ("report-out-is-file", "--out", ["report", "{run}", "--out", "{file}"]),
    ("report-bad-middle-line", "line 2", ["report", "{run_bad_line}", "--out", "{tmp}/r"]),
    ("report-bad-evaluation", "evaluation.json", ["report", "{run_bad_eval}", "--out", "{tmp}/r"]),
    # upgrade-checkpoint
    ("upgrade-missing", "not found", ["upgrade-checkpoint", "{tmp}/nope"]),
    ("upgrade-foreign", "not an mtrl-ray", ["upgrade-checkpoint", "{tmp}"]),
    ("upgrade-manifest-cut", MANIFEST, ["upgrade-checkpoint", "{a2c_manifest_cut}"]),
    ("upgrade-module-state-cut", "module_state.pkl", ["upgrade-checkpoint", "{a2c_module_cut}"]),
]  # fmt: skip


class _Inputs(dict):
    """Builds each placeholder's input on first use (`str.format_map` asks by name)."""

    def __init__(self, shared: Path, tmp: Path):
        super().__init__()
        self.shared, self.tmp = shared, tmp

    def __missing__(self, name: str) -> str:
        self[name] = str(INPUTS[name](self.shared, self.tmp))
        return self[name]


def fill(word: str, inputs: _Inputs) -> str:
    """`word` with its {placeholders} replaced (JSON braces left alone)."""
    for name in INPUTS:
        if f"{{{name}}}" in word:
            word = word.replace(f"{{{name}}}", inputs[name])
    return word


def snapshot(*roots: Path) -> dict[str, tuple | str]:
    """Every file and folder under `roots`: (size, modification time) or "dir"."""
    seen: dict[str, tuple | str] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            stat = path.stat()
            seen[str(path)] = "dir" if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return seen


def test_at_least_forty_cases_with_unique_ids():
    ids = [case_id for case_id, _, _ in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("expected, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(expected, words, shared, tmp_path, monkeypatch, capsys):
    case = tmp_path / "case"
    case.mkdir()
    inputs = _Inputs(shared, case)
    argv = [fill(word, inputs) for word in words]
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
    run = Path(shutil.copytree(shared / "run", tmp_path / "run"))
    full = (run / "result.json").read_text()
    (run / "result.json").write_text(full + full.splitlines()[-1][:40])  # a kill mid-write
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "truncated last line" in err[0] and "result.json" in err[0], err
    assert any((tmp_path / "r").glob("curve_*.png"))


def test_evaluation_weights_need_no_rllib_pickles(shared, tmp_path):
    """`rllib evaluate` builds the module from the manifest and module_weights.pt only."""
    from mtrl_ray.evaluation_runners import module_state
    from mtrl_ray.policy import Policy

    checkpoint = Path(shutil.copytree(shared / "a2c", tmp_path / "a2c"))
    for pickled in checkpoint.rglob("*.pkl"):
        truncate(pickled, keep=0.1)
    state = module_state(read_checkpoint(checkpoint))
    for name, tensor in Policy.load(checkpoint).module.state_dict().items():
        assert torch.equal(torch.from_numpy(state[name]), tensor), name


def test_teacher_lookup_takes_the_newest_complete_checkpoint(shared, tmp_path):
    """A newer checkpoint that a kill cut short (no weights file yet) is passed over."""
    from mtrl_ray.teachers import find_teacher_checkpoint

    run = tmp_path / "teachers" / TASK / "seed0"
    older = Path(shutil.copytree(shared / "teacher", run / "checkpoint_000001"))
    newer = Path(shutil.copytree(shared / "teacher", run / "checkpoint_000002"))
    assert find_teacher_checkpoint(tmp_path / "teachers", TASK) == newer
    (newer / WEIGHTS).unlink()
    assert find_teacher_checkpoint(tmp_path / "teachers", TASK) == older
    (older / MANIFEST).write_text('{"algorithm": ')
    with pytest.raises(ValueError, match="no teacher for task"):
        find_teacher_checkpoint(tmp_path / "teachers", TASK)


def test_address_probe_passes_a_listening_port():
    """The probe refuses only where nothing listens (see `unreachable-address`)."""
    import socket

    from mtrl_ray.cli.ray_init import probe_address

    with socket.create_server(("127.0.0.1", 0)) as server:
        probe_address(f"127.0.0.1:{server.getsockname()[1]}")
        probe_address(f"ray://127.0.0.1:{server.getsockname()[1]}")


def test_committed_checkpoints_pass_the_restore_checks(shared):
    """The checks refuse bad restores only: each committed checkpoint restores into its own."""
    from mtrl_ray.algorithms.a2c import A2CConfig
    from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

    for name, config_class in (("a2c", A2CConfig), ("ppo", MultiTaskPPOConfig)):
        info = read_checkpoint(shared / name)
        config_class().multi_task(list(info.tasks)).restore(info.path).validate()


@pytest.mark.slow
def test_evaluate_a_checkpoint_whose_rllib_pickles_are_cut(ray_local, shared, tmp_path, capsys):
    """`rllib evaluate` runs on the manifest and weights: truncated .pkl files do not matter."""
    checkpoint = Path(shutil.copytree(shared / "teacher", tmp_path / "teacher"))
    for pickled in checkpoint.rglob("*.pkl"):
        truncate(pickled, keep=0.1)
    out = tmp_path / "out"
    assert main(["evaluate", str(checkpoint), "--episodes", "1", "--out", str(out)]) == 0
    (result,) = json.loads((out / "evaluation.json").read_text())["results"]
    assert result["task"] == TASK and result["episodes"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json", "evaluation.md"]


@pytest.mark.parametrize("backend", ["bogus", "osmesa"])
def test_a_mujoco_gl_mujoco_cannot_load_is_one_line(backend, tmp_path):
    """MuJoCo loads MUJOCO_GL's backend on import: a misspelt or missing one (osmesa is
    not installed here) is one line from `rllib`, before anything runs."""
    env = {**os.environ, "MUJOCO_GL": backend}
    argv = [sys.executable, "-m", "mtrl_ray.cli", "evaluate", str(tmp_path / "none")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    if backend == "osmesa" and "checkpoint not found" in done.stderr:
        pytest.skip("osmesa is installed here")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and f"MUJOCO_GL={backend}" in done.stderr, done.stderr
