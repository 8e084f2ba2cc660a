"""benchmarks/ppo_bound.py's arithmetic and report, on given times (nothing is timed)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ppo_bound.py"


@pytest.fixture(scope="module")
def ppo_bound():
    spec = importlib.util.spec_from_file_location("ppo_bound", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_bound_arithmetic(ppo_bound):
    # 12,288 steps at 8,192 steps/s: S_min = 1.5 s; T_sb3 3.0 s, learner 1.0 s.
    bound = ppo_bound.Bound(t_sb3=3.0, learner=1.0, steps=12288, ceiling=8192, minibatches=320)
    assert bound.s_min == pytest.approx(1.5)
    assert bound.ratio == pytest.approx(3.0 / 2.5)
    assert bound.learner_needed(1.5) == pytest.approx(3.0 / 1.5 - 1.5)
    assert bound.per_minibatch_needed(1.5) == pytest.approx(0.5 / 320)
    # Sampling alone at the ceiling takes more than T_sb3 / 1.5: no learner reaches 1.5.
    slow = ppo_bound.Bound(t_sb3=3.0, learner=0.0, steps=12288, ceiling=4096, minibatches=320)
    assert slow.learner_needed(1.5) < 0
    assert slow.ratio < 1.5


def _run(t_sb3: float, train: float, sampling: float, learner: float, rate: float) -> dict:
    return {
        "sb3": {
            "update": [t_sb3, t_sb3 + 1.0],
            "rollout": [t_sb3 - train] * 2,
            "train": [train] * 2,
            "minibatches": [320, 320],
            "steps": [12288],
        },
        "ours": {
            "update": [sampling + learner] * 2,
            "sampling": [sampling] * 2,
            "learner": [learner] * 2,
            "step": [0.8 * learner] * 2,
            "minibatches": [320, 320],
            "steps": [12288, 12288],
        },
        "ceiling": {"rate": [rate]},
    }


def test_report_uses_the_medians(ppo_bound):
    args = argparse.Namespace(repeats=3, updates=2, seconds=5.0, env="HalfCheetah-v5", processes=2)
    runs = [_run(2.0, 1.0, 1.0, 1.2, 12288.0), _run(3.0, 1.5, 1.2, 1.4, 6144.0)]
    runs.append(_run(2.5, 1.2, 1.1, 1.3, 8192.0))
    text = ppo_bound.report(args, runs, load=1.0, wall=60.0)
    # Medians over each repeat's two updates: T_sb3 2.5, 3.5, 3.0 -> 3.0; learner 1.3;
    # ceiling 8192 -> S_min 1.5 s; the bound 3.0 / (1.3 + 1.5).
    assert f"T_sb3 / (L_ours + S_min) = {3.0 / 2.8:.2f}" in text
    assert f"T_sb3 / (L_sb3 + S_min) = {3.0 / 2.7:.2f}" in text
    assert f"L <= {1000 * (3.0 / 1.5 - 1.5):.0f} ms per update" in text
    assert "`python benchmarks/ppo_bound.py --repeats 3 --updates 2 --seconds 5`" in text
    slow = [_run(2.0, 1.0, 1.0, 1.2, 4096.0)]
    assert "not reachable even with a learner that takes no time" in ppo_bound.report(
        argparse.Namespace(**{**vars(args), "repeats": 1}), slow, load=1.0, wall=1.0
    )
