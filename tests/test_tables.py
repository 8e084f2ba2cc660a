"""Results tables: Student's t quantiles, Welch intervals, records, Markdown; and the
committed tables' evaluation files and the commits that trained their checkpoints."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from mtrl_ray.tables import (
    Record,
    markdown_comparison,
    markdown_table,
    read_records,
    records_from_checkpoint,
    t_quantile,
    welch_interval,
    write_records,
)

ROOT = Path(__file__).resolve().parents[1]
TABLES = sorted((ROOT / "results").glob("table*.json"))


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.706205), (2, 4.302653), (4, 2.776445), (30, 2.042272)]
)
def test_t_quantile_matches_the_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-5)


def test_welch_interval_by_hand():
    # Equal variances 1 and n = 3: se = sqrt(1/3 + 1/3), df = 4.
    diff, low, high = welch_interval([1, 2, 3], [4, 5, 6])
    half = 2.776445 * math.sqrt(2 / 3)
    assert (diff, low, high) == pytest.approx((-3.0, -3.0 - half, -3.0 + half), abs=1e-5)
    # One seed on a side: nothing can be claimed.
    assert welch_interval([1.0], [4, 5, 6])[1:] == (-math.inf, math.inf)


def _records():
    rows = []
    for seed, (a, b) in enumerate([(100, 50), (110, 52), (105, 49)]):
        rows.append(Record("A", "T1", seed, "sampled", a, 10.0, 20, "x.json"))
        rows.append(Record("B", "T1", seed, "sampled", b, 5.0, 20, "y.json"))
        rows.append(Record("A", "T2", seed, "sampled", 10.0 + seed, 1.0, 20, "x.json"))
        rows.append(Record("B", "T2", seed, "sampled", 11.0 - seed, 1.0, 20, "y.json"))
    return rows


def test_markdown_cells_and_verdicts():
    table = markdown_table(_records(), "sampled", paper={"P": {"T1": (90.0, 3.0)}})
    assert "| T1 | 105 ± 5 (n=3) [±10] | 50 ± 2 (n=3) [±5] | 90 ± 3 |" in table
    comparison = markdown_comparison(_records(), "sampled", "A", "B")
    assert "| T1 | +55 |" in comparison and "A higher" in comparison.splitlines()[2]
    assert comparison.splitlines()[3].endswith("| level |")  # T2: 11 vs 10, wide


def test_records_round_trip_and_come_from_evaluation_files(tmp_path):
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    result = {"task": "T1", "head": "T1", "episodes": 2, "mean": 5.0, "std": 1.0}
    other_head = {**result, "head": "T0"}  # a transfer row: not the task's own head
    (checkpoint / "evaluation.json").write_text(json.dumps({"results": [result, other_head]}))
    records = records_from_checkpoint("A", 0, checkpoint, tmp_path)
    assert records == [Record("A", "T1", 0, "sampled", 5.0, 1.0, 2, "ckpt/evaluation.json")]
    write_records(tmp_path / "t.json", records)
    assert read_records(tmp_path / "t.json") == records
    with pytest.raises(FileNotFoundError):
        records_from_checkpoint("A", 0, tmp_path, tmp_path)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
def test_committed_tables_cite_committed_files_trained_by_ancestor_commits(table):
    tracked = set(_git("ls-files", "results").stdout.split())
    for record in read_records(table):
        assert record.evaluation in tracked, record
        manifest = ROOT / Path(record.evaluation).parent / "mtrl_ray.json"
        provenance = json.loads(manifest.read_text())["provenance"]
        commit = provenance["git_commit"]
        assert commit and provenance["git_dirty"] is False, (record.evaluation, provenance)
        assert _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, commit


def test_rllib_report_renders_a_table_file(tmp_path, capsys):
    from mtrl_ray.cli import main

    table = tmp_path / "table2.json"
    write_records(table, _records())
    assert main(["report", "--table", str(table), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "table2.md").read_text()
    assert "105 ± 5 (n=3)" in text and "A higher" in text
    assert (tmp_path / "out" / "table2_sampled.png").stat().st_size > 0
    assert not (tmp_path / "out" / "table2_mean_action.png").exists()  # no such records

    (tmp_path / "bad.json").write_text('{"rows": []}')
    bad = ["report", "--table", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o2")]
    assert main(bad) == 2
    assert "not a results table" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
