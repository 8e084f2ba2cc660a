"""benchmarks/onpolicy_bound.py's arithmetic and report (PPO and A2C), on given times (nothing is
timed)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "onpolicy_bound.py"


@pytest.fixture(scope="module")
def onpolicy_bound():
    spec = importlib.util.spec_from_file_location("onpolicy_bound", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_bound_arithmetic(onpolicy_bound):
    # 12,288 steps at 8,192 steps/s: S_min = 1.5 s; T_sb3 3.0 s, learner 1.0 s.
    bound = onpolicy_bound.Bound(t_sb3=3.0, learner=1.0, steps=12288, ceiling=8192, minibatches=320)
    assert bound.s_min == pytest.approx(1.5)
    assert bound.ratio == pytest.approx(3.0 / 2.5)
    assert bound.learner_needed(1.5) == pytest.approx(3.0 / 1.5 - 1.5)
    assert bound.per_minibatch_needed(1.5) == pytest.approx(0.5 / 320)
    # Sampling alone at the ceiling takes more than T_sb3 / 1.5: no learner reaches 1.5.
    slow = onpolicy_bound.Bound(t_sb3=3.0, learner=0.0, steps=12288, ceiling=4096, minibatches=320)
    assert slow.learner_needed(1.5) < 0
    assert slow.ratio < 1.5


def _run(t_sb3: float, train: float, sampling: float, learner: float, rate: float) -> dict:
    ppo = {
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
    }
    return {"ppo": ppo, "ceiling": {"rate": [rate]}}


def test_report_uses_the_medians(onpolicy_bound):
    args = argparse.Namespace(repeats=3, updates=2, seconds=5.0, env="paper", processes=2)
    runs = [_run(2.0, 1.0, 1.0, 1.2, 12288.0), _run(3.0, 1.5, 1.2, 1.4, 6144.0)]
    runs.append(_run(2.5, 1.2, 1.1, 1.3, 8192.0))
    text = onpolicy_bound.report(args, runs, load=1.0, wall=60.0)
    # Medians over each repeat's two updates: T_sb3 2.5, 3.5, 3.0 -> 3.0; learner 1.3;
    # ceiling 8192 -> S_min 1.5 s; the bound 3.0 / (1.3 + 1.5).
    assert f"T_sb3 / (L_ours + S_min) = {3.0 / 2.8:.2f}" in text
    assert f"T_sb3 / (L_sb3 + S_min) = {3.0 / 2.7:.2f}" in text
    assert f"L <= {1000 * (3.0 / 1.5 - 1.5):.0f} ms per update" in text
    command = "python benchmarks/onpolicy_bound.py --repeats 3 --updates 2 --seconds 5 --algos ppo"
    assert f"`{command}`" in text
    slow = [_run(2.0, 1.0, 1.0, 1.2, 4096.0)]
    assert "not reachable even with a learner that takes no time" in onpolicy_bound.report(
        argparse.Namespace(**{**vars(args), "repeats": 1}), slow, load=1.0, wall=1.0
    )


def test_a2c_bound_arithmetic(onpolicy_bound):
    # A round: 480 steps at 24,000 steps/s (S_min 20 ms), L 30 ms, D 10 ms: 8,000 steps/s.
    # SB3: 80 steps in 16 ms, 5,000 steps/s.
    bound = onpolicy_bound.Bound(
        t_sb3=0.016, learner=0.03, steps=480, ceiling=24000, sb3_steps=80, overhead=0.01
    )
    assert bound.s_min == pytest.approx(0.02)
    assert bound.rate == pytest.approx(8000)
    assert bound.sb3_rate == pytest.approx(5000)
    assert bound.ratio == pytest.approx(1.6)
    # (c)/(b) = 1.5 needs 480 / 7,500 s per round: L <= 64 - 20 - 10 ms.
    assert bound.learner_needed(1.5) == pytest.approx(0.034)
    # (c)/(a) = 0.8 against raw stepping at 12,000 steps/s: L <= 50 - 20 - 10 ms.
    assert bound.learner_needed(0.8, reference=12000) == pytest.approx(0.02)


def _a2c_run(t_sb3: float, learner: float, driver: float, ceiling: float, raw: float) -> dict:
    sampling = 0.04
    a2c = {
        "sb3": {
            "update": [t_sb3, t_sb3 + 0.01],
            "rollout": [t_sb3 - 0.002] * 2,
            "train": [0.002] * 2,
            "steps": [80],
        },
        "ours": {
            "round": [sampling + learner + driver] * 2,
            "sampling": [sampling] * 2,
            "learner": [learner] * 2,
            "weights": [driver / 2] * 2,
            "driver": [driver] * 2,
            "steps": [480.0, 480.0],
        },
    }
    return {"a2c": a2c, "raw": {"rate": [raw]}, "ceiling": {"rate": [ceiling]}}


def test_a2c_report(onpolicy_bound):
    args = argparse.Namespace(repeats=3, updates=2, seconds=5.0, env="paper", processes=2)
    # Medians: T_sb3 (16 ms, 26 ms, 21 ms per repeat) -> 21 ms; L 30 ms; D 10 ms;
    # ceiling 24,000 (S_min 20 ms); raw stepping 12,000.
    runs = [
        _a2c_run(0.011, 0.03, 0.01, 24000.0, 12000.0),
        _a2c_run(0.021, 0.03, 0.01, 16000.0, 10000.0),
        _a2c_run(0.016, 0.03, 0.01, 30000.0, 14000.0),
    ]
    text = onpolicy_bound.report(args, runs, load=1.0, wall=60.0)
    assert "--algos a2c`" in text and "## PPO" not in text
    assert "warning" not in text  # the sampling call (40 ms) is above S_min in every repeat
    rate_b = 80 / 0.021
    # As now: 480 / (30 + 10 + 20 ms) = 8,000 steps/s; with D = 0: 480 / 50 ms = 9,600.
    assert f"(c) <= 8000 env steps/s, so (c)/(b) <= {8000 / rate_b:.2f} and (c)/(a) <= 0.67" in text
    assert f"(c) <= 9600 env steps/s, so (c)/(b) <= {9600 / rate_b:.2f} and (c)/(a) <= 0.80" in text
    # Measured: (c) 480 / 80 ms = 6,000 steps/s.
    assert f"(c)/(b) = {6000 / rate_b:.2f} (target 1.5), (c)/(a) = 0.50 (target 0.8)" in text
    # 1.5 x (b) needs L + D <= 480 / (1.5 x 80 / 21 ms) - S_min = 84 - 20 ms.
    assert (
        f"L + D <= 480 / (1.5 x {rate_b:.0f}) - S_min = 64.0 ms per round (ours now 40.0)" in text
    )
    assert "for (c)/(a) = 0.8: L + D <= 480 / (0.8 x 12000) - S_min = 30.0 ms" in text
    # At a ceiling of 8,000 steps/s S_min is 60 ms: (c)/(a) = 0.8 (50 ms per round) is out
    # of reach, (c)/(b) = 1.5 (T_sb3 16 ms: 64 ms per round) leaves 4 ms.
    slow = [_a2c_run(0.011, 0.03, 0.01, 8000.0, 12000.0)]
    text = onpolicy_bound.report(
        argparse.Namespace(**{**vars(args), "repeats": 1}), slow, load=1.0, wall=1.0
    )
    assert "S_min <= 0: not reachable even with a learner and driver that take no time" in text
    assert "(0.8 x 12000) - S_min <= 0: not reachable" in text
    assert "(1.5 x 5000) - S_min = 4.0 ms per round" in text
    # ... and the sampling call (40 ms) took less than S_min: that ceiling was no ceiling.
    assert "warning: sampling took less than S_min" in text
