"""benchmarks/commit_ab.py reads the rows and ratios its scripts print (nothing is run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def commit_ab():
    spec = importlib.util.spec_from_file_location("commit_ab", BENCHMARKS / "commit_ab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reads_throughput_rows_and_ratios(commit_ab):
    # Lines as throughput.py prints them (its `row` and its ratio lines).
    text = "\n".join(
        [
            "| what | env steps/s (median) | all runs |",
            "| --- | ---: | --- |",
            "| (e) mtrl-ray PPO (fast path, compiled learner), 6 x 1 x 4 envs | 3905 | 3905 |",
            "| (e0) the same, learner eager (`torch_compile_learner=False`) | 3100 | 3100 |",
            "| (g) stable-baselines3 PPO, 6 variants x 4 envs | 2524 | 2524 |",
            "| (b') SB3 A2C without normalization | 2000 | 2000 |",
            "",
            "- (e)/(g) = 1.55  (target >= 1.5); per repeat: 1.55",
            "- (c)/(b') = 1.10; per repeat: 1.10",
        ]
    )
    rates, ratios = commit_ab.parse(text)
    assert rates == {"e": 3905.0, "e0": 3100.0, "g": 2524.0, "b'": 2000.0}
    assert ratios == {"(e)/(g)": 1.55, "(c)/(b')": 1.10}


def test_reads_sampler_overhead_rows(commit_ab, capsys, monkeypatch):
    # What sampler_overhead.py's main prints, with the measurement replaced by
    # given numbers (its import of vector_step needs the benchmarks folder).
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(
        "sampler_overhead", BENCHMARKS / "sampler_overhead.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "overhead", lambda n, rounds: (10.0 * n, 100.0 + n))
    monkeypatch.setattr(sys, "argv", ["sampler_overhead.py", "--envs", "4,16", "--rounds", "1"])
    module.main()
    rates, ratios = commit_ab.parse(capsys.readouterr().out)
    assert rates == {"o4": 40.0, "s4": 104.0, "o16": 160.0, "s16": 116.0}
    assert ratios == {}
