"""`rllib export`: ONNX and TorchScript heads compute `Policy.act` on their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime as ort
import pytest
import torch

from mtrl_ray import Policy
from mtrl_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
#: Raw actions (manifest) and RLlib's rescale-and-clip (a manifest that predates the key).
RAW = ROOT / "results/vanilla_multitask_raw_seed0/checkpoint/checkpoint_000250"
RESCALED = ROOT / "results/vanilla_multitask_seed0/checkpoint/checkpoint_000250"


def observations(policy: Policy, task: str, n: int = 1000) -> np.ndarray:
    """n float32 observations: half from a real episode of the task, half wide noise."""
    env = gym.make(task)
    obs, _ = env.reset(seed=0)
    seen = []
    for _ in range(n // 2):
        seen.append(obs)
        obs, *_ = env.step(policy.act(obs, task=task))
    env.close()
    # Wide noise reaches the observation clip and pushes means past the action bounds.
    noise = np.random.default_rng(0).normal(scale=10.0, size=(n - n // 2, len(obs)))
    return np.concatenate([np.stack(seen), noise]).astype(np.float32)


def run_onnx(path: Path, obs: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["action", "mean", "log_std"], {"obs": obs})


def run_torchscript(path: Path, obs: np.ndarray) -> list[np.ndarray]:
    graph = torch.jit.load(str(path))
    with torch.no_grad():
        return [t.numpy() for t in graph(torch.from_numpy(obs))]


@pytest.mark.parametrize("checkpoint", [RAW, RESCALED], ids=["raw", "rescale-and-clip"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_every_head_computes_policy_act(checkpoint, fmt, tmp_path, capsys):
    assert main(["export", str(checkpoint), "--format", fmt, "--out", str(tmp_path)]) == 0
    policy = Policy.load(checkpoint)
    ext = {"onnx": ".onnx", "torchscript": ".pt"}[fmt]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{t}{ext}" for t in policy.tasks] + ["export.json"]
    )
    assert f"wrote {tmp_path / 'export.json'}" in capsys.readouterr().out
    described = json.loads((tmp_path / "export.json").read_text())
    assert described["actions_for_env"] == policy.info.actions_for_env
    run = run_onnx if fmt == "onnx" else run_torchscript
    outputs = {}
    for task in policy.tasks:
        obs = observations(policy, task)
        action, mean, log_std = run(tmp_path / described["files"][task], obs)
        assert action.shape == (1000, 6) and action.dtype == np.float32
        np.testing.assert_allclose(action, policy.act(obs, task=task), rtol=0, atol=1e-5)
        expected_mean, expected_log_std = policy.gaussian(obs, task)
        np.testing.assert_allclose(mean, expected_mean, rtol=0, atol=1e-5)
        np.testing.assert_allclose(log_std, expected_log_std, rtol=0, atol=1e-6)
        one = run(tmp_path / described["files"][task], obs[:1])[0]
        np.testing.assert_allclose(one[0], policy.act(obs[0], task=task), rtol=0, atol=1e-5)
        outputs[task] = action
    first, second = (outputs[t] for t in policy.tasks[:2])
    assert not np.allclose(first, second)  # each file is its own head
    mapped = policy.info.actions_for_env["normalize_actions"]
    assert (np.abs(outputs[policy.tasks[0]]).max() <= 1.0) == mapped


def test_onnx_file_runs_without_this_project(tmp_path):
    """A runtime with onnxruntime and numpy only: no torch, Ray or mtrl_ray imported."""
    assert main(["export", str(RESCALED), "--format", "onnx", "--out", str(tmp_path)]) == 0
    task = "HalfCheetahBigFoot-v0"
    obs = observations(Policy.load(RESCALED), task, n=8)
    np.save(tmp_path / "obs.npy", obs)
    script = (
        "import sys, numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({str(tmp_path / (task + '.onnx'))!r})\n"
        f"a = s.run(['action'], {{'obs': np.load({str(tmp_path / 'obs.npy')!r})}})[0]\n"
        f"np.save({str(tmp_path / 'action.npy')!r}, a)\n"
        "print(sorted(m for m in ('torch', 'ray', 'mtrl_ray') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    expected = Policy.load(RESCALED).act(obs, task=task)
    np.testing.assert_allclose(np.load(tmp_path / "action.npy"), expected, rtol=0, atol=1e-5)


def test_bad_export_input_is_one_line_exit_2(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        ([str(tmp_path / "missing"), "--format", "onnx"], "checkpoint not found"),
        ([str(RAW), "--format", "tflite"], "unknown format 'tflite'; choose one of onnx"),
        ([str(RAW), "--format", "onnx", "--out", str(a_file)], "exists and is not a folder"),
    ]
    for argv, message in cases:
        out = argv if "--out" in argv else [*argv, "--out", str(tmp_path / "out")]
        assert main(["export", *out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rllib export: error: ") and message in err, err
        assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()
