"""The Table 1 driver end to end: per-seed sources, both fine-tuning directions, the
evaluated copies and their records in `table1.json` (a real local Ray, real MuJoCo).

The end-to-end run calls the script's `main` in this process, on the session's shared
Ray: a subprocess would start Python, torch and a Ray of its own for each of its two
runs (~30 s of the test under load), and the script reuses a running Ray as `rllib`
does.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtrl_ray.checkpoints import read_checkpoint
from mtrl_ray.tables import read_records

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tuned_examples" / "a2c" / "halfcheetah_finetune_table1.py"
E1, E2 = "HalfCheetahSmallFoot-v0", "HalfCheetahSmallLeg-v0"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)  # fmt: skip


def test_bad_frames_is_one_line_error_before_anything_runs(tmp_path):
    done = _run("--frames", "1000", "--storage-path", str(tmp_path / "runs"))
    assert done.returncode == 2
    assert "multiples of 4000" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "runs").exists()


def _main(monkeypatch, *args: str) -> int:
    """The script's `main` with `args` as its command line, in this process."""
    spec = importlib.util.spec_from_file_location("halfcheetah_finetune_table1", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])
    return script.main()


def _must_not_run(*args, **kwargs):
    raise AssertionError("a finished row was trained or evaluated again")


@pytest.mark.slow
def test_table1_from_seeded_sources_writes_records_of_every_row(ray_local, tmp_path, monkeypatch):
    sources = tmp_path / "sources"
    for task in (E1, E2):  # the committed 1M teachers, laid out as seed 1 of a source run
        shutil.copytree(ROOT / "results" / "teachers_raw" / task / "checkpoint",
                        sources / task / "seed1" / "checkpoint_000000")  # fmt: skip
    results = tmp_path / "results"
    argv = ["--sources", str(sources), "--seed", "1", "--frames", "4000", "--episodes", "1"]
    argv += ["--storage-path", str(tmp_path / "runs"), "--results", str(results)]
    assert _main(monkeypatch, *argv) == 0

    records = read_records(results / "table1.json")
    methods = {r.method for r in records}
    assert methods == {
        "scratch SmallFoot",
        "scratch SmallLeg",  # no env steps in these older manifests
        "SmallFoot → SmallLeg (0.004M)",
        "SmallLeg → SmallFoot (0.004M)",
    }
    assert len(records) == 4 * 2 * 2  # rows x tasks evaluated x kinds
    assert {r.seed for r in records} == {1}
    for record in records:
        evaluation = tmp_path / record.evaluation
        assert evaluation.is_file() and evaluation.is_relative_to(results / "table1_matched")
    tuned = [r for r in records if "→" in r.method]
    for record in tuned:
        manifest = read_checkpoint((tmp_path / record.evaluation).parent)
        assert manifest.provenance["env_steps"] == 4000
        target = record.method.split(" → ")[1].split(" ")[0]
        assert manifest.tasks == (f"HalfCheetah{target}-v0",)

    # Re-running trains and evaluates nothing new and keeps one copy of each record.
    import mtrl_ray.cli
    import mtrl_ray.evaluation

    monkeypatch.setattr(mtrl_ray.cli, "main", _must_not_run)
    monkeypatch.setattr(mtrl_ray.evaluation, "evaluate_checkpoint", _must_not_run)
    monkeypatch.setattr(mtrl_ray.evaluation, "evaluate_kinds", _must_not_run)
    assert _main(monkeypatch, *argv) == 0
    assert sorted(map(repr, read_records(results / "table1.json"))) == sorted(map(repr, records))
