"""`rllib report`: curves per task (seeds grouped), tables with the paper's numbers."""

from __future__ import annotations

import json
from pathlib import Path

from mtrl_ray.cli import main
from mtrl_ray.report import learning_curves

TASK = "HalfCheetahSmallFoot-v0"
KEY = f"env_runners/per_task/{TASK}"


def write_run(root: Path, name: str, returns: list[float | None], evaluation: tuple | None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    rows = [
        {f"{KEY}/num_env_steps_sampled_lifetime": 1000 * (i + 1), f"{KEY}/episode_return_mean": r}
        for i, r in enumerate(returns)
    ]
    (run / "result.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    if evaluation:
        ckpt = run / "checkpoints" / "checkpoint_000003"
        ckpt.mkdir(parents=True)
        mean, std = evaluation
        results = [{"task": TASK, "head": TASK, "episodes": 20, "mean": mean, "std": std}]
        (ckpt / "evaluation.json").write_text(json.dumps({"results": results}))
    return run


def test_report_curves_and_table(tmp_path, capsys):
    a = write_run(tmp_path, "vanilla_seed0", [None, 10.0, 30.0], (1500.0, 20.0))
    b = write_run(tmp_path, "vanilla_seed1", [5.0, float("nan"), 50.0], None)
    steps, returns = learning_curves(a)[TASK]
    assert steps.tolist() == [2000, 3000] and returns.tolist() == [10.0, 30.0]  # gaps skipped

    out = tmp_path / "report"
    assert main(["report", str(a), str(b), "--out", str(out), "--paper"]) == 0
    png = out / f"curve_{TASK}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    table = (out / "table.md").read_text().splitlines()
    assert table[0] == (
        "| environment | vanilla | paper: scratch (3M) | paper: distillation multi-task (1M) "
        "| paper: vanilla multi-task (1M) |"
    )
    row = next(line for line in table if line.startswith(f"| {TASK} "))
    assert "| 1500.00 ± 20.00 |" in row and "| 1480.89 ± 30.92 |" in row


def test_seeds_of_a_method_are_averaged_in_the_table(tmp_path, capsys):
    a = write_run(tmp_path, "vanilla_seed0", [1.0], (1500.0, 20.0))
    b = write_run(tmp_path, "vanilla_seed1", [2.0], (1000.0, 40.0))
    out = tmp_path / "report"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    table = (out / "table.md").read_text().splitlines()
    assert table[0] == "| environment | vanilla |"
    assert f"| {TASK} | 1250.00 (2 seeds: 1500.00 ± 20.00; 1000.00 ± 40.00) |" in table


def test_folder_of_runs_is_one_method_and_gzip_results_read(tmp_path, capsys):
    """Committed teachers: one gzipped run per task under one folder -> one column."""
    import gzip

    teachers = tmp_path / "teachers"
    run = write_run(teachers, "teacher_a", [1.0, 2.0], (900.0, 5.0))
    with gzip.open(run / "result.json.gz", "wt") as f:
        f.write((run / "result.json").read_text())
    (run / "result.json").unlink()
    assert learning_curves(run)[TASK][1].tolist() == [1.0, 2.0]
    out = tmp_path / "report"
    assert main(["report", str(teachers), "--out", str(out)]) == 0
    table = (out / "table.md").read_text().splitlines()
    assert table[0] == "| environment | teachers |"
    assert f"| {TASK} | 900.00 ± 5.00 |" in table


def test_report_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def _log(loggers, trial, rows):
    for row in rows:
        for logger in loggers:
            logger.log_trial_result(row["training_iteration"], trial, row)


def test_trial_logs_widen_and_drop_iterations_a_restore_repeats(tmp_path):
    """progress.csv gains late keys; a trial restored to iteration 2 rewrites 3 once."""
    import csv

    from mtrl_ray.training.loggers import ProgressCsv, ResultJson

    class Trial:  # stands in for Tune's Trial: the loggers use only these attributes
        local_path, config, checkpoint = str(tmp_path), {"seed": 0}, None

        def init_local_path(self) -> None:
            pass

    trial = Trial()
    loggers = [ResultJson(), ProgressCsv()]
    _log(loggers, trial, [
        {"training_iteration": 1, "env_runners": {"steps": 10}},
        {"training_iteration": 2, "env_runners": {"steps": 20, "return": 5.0}},
        {"training_iteration": 3, "env_runners": {"steps": 30, "return": 7.0}},
    ])  # fmt: skip

    def read() -> tuple[list[dict], list[dict]]:
        with (tmp_path / "progress.csv").open() as f:
            rows = list(csv.DictReader(f))
        lines = (tmp_path / "result.json").read_text().splitlines()
        return rows, [json.loads(line) for line in lines]

    rows, results = read()
    assert [r["env_runners/return"] for r in rows] == ["", "5.0", "7.0"]
    assert [r["env_runners/steps"] for r in rows] == ["10", "20", "30"]
    assert [r["env_runners"]["steps"] for r in results] == [10, 20, 30]
    assert json.loads((tmp_path / "params.json").read_text()) == {"seed": 0}
    # The trial failed after iteration 3 and was restored from iteration 2's
    # checkpoint: fresh loggers (a new driver, or Tune's restart) see 3 again.
    loggers = [ResultJson(), ProgressCsv()]
    _log(loggers, trial, [
        {"training_iteration": 3, "env_runners": {"steps": 31, "return": 8.0}},
        {"training_iteration": 4, "env_runners": {"steps": 40, "return": 9.0}},
    ])  # fmt: skip
    rows, results = read()
    assert [r["training_iteration"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["env_runners/steps"] for r in rows] == ["10", "20", "31", "40"]
    assert [r["training_iteration"] for r in results] == [1, 2, 3, 4]
    assert [r["env_runners"]["steps"] for r in results] == [10, 20, 31, 40]


def test_curves_read_tune_trials_and_older_flat_runs(tmp_path):
    """A Tune trial's nested result.json and a flattened one give the same curve."""
    from mtrl_ray.report import expand_runs, learning_curves

    nested = tmp_path / "exp" / "seed0"
    nested.mkdir(parents=True)
    flat = tmp_path / "old_seed0"
    flat.mkdir()
    per_task = {"episode_return_mean": 5.0, "num_env_steps_sampled_lifetime": 100}
    (nested / "result.json").write_text(
        json.dumps({"env_runners": {"per_task": {TASK: per_task}}}) + "\n"
    )
    prefix = f"env_runners/per_task/{TASK}/"
    (flat / "result.json").write_text(json.dumps({prefix + k: v for k, v in per_task.items()}))
    for run in (nested, flat):
        steps, returns = learning_curves(run)[TASK]
        assert steps.tolist() == [100] and returns.tolist() == [5.0]
    assert expand_runs([nested, flat, tmp_path / "exp"]) == [
        ("exp", nested), ("old", flat), ("exp", nested)
    ]  # fmt: skip


def test_mean_action_evaluations_get_their_own_table(tmp_path, capsys):
    """Sampled and `--deterministic` evaluations of one run never mix in a table."""
    run = write_run(tmp_path, "vanilla_seed0", [1.0], (1500.0, 20.0))
    ckpt = run / "checkpoints" / "checkpoint_000003"
    results = [{"task": TASK, "head": TASK, "episodes": 20, "mean": 2100.0, "std": 9.0}]
    (ckpt / "evaluation_deterministic.json").write_text(json.dumps({"results": results}))
    sampled_only = write_run(tmp_path, "scratch", [1.0], (1300.0, 30.0))
    out = tmp_path / "report"
    assert main(["report", str(run), str(sampled_only), "--out", str(out)]) == 0
    assert f"| {TASK} | 1500.00 ± 20.00 | 1300.00 ± 30.00 |" in (out / "table.md").read_text()
    deterministic = (out / "table_deterministic.md").read_text().splitlines()
    assert deterministic[0] == "| environment | vanilla |"  # scratch has none
    assert f"| {TASK} | 2100.00 ± 9.00 |" in deterministic


def test_no_mean_action_table_without_such_evaluations(tmp_path, capsys):
    run = write_run(tmp_path, "vanilla_seed0", [1.0], (1500.0, 20.0))
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert not (out / "table_deterministic.md").exists()


def test_seed_band_has_its_lines_colour(tmp_path, monkeypatch):
    """The min..max band of a method's seeds is drawn in that method's line colour."""
    from matplotlib.axes import Axes
    from matplotlib.colors import to_rgba

    bands, lines = [], []
    plot, fill = Axes.plot, Axes.fill_between
    monkeypatch.setattr(
        Axes, "plot", lambda self, *a, **k: lines.extend(plot(self, *a, **k)) or lines[-1:]
    )
    monkeypatch.setattr(
        Axes, "fill_between", lambda self, *a, **k: bands.append(fill(self, *a, **k)) or bands[-1]
    )
    # One seed of "a" (a line, no band), then two of "b": matplotlib picks fill
    # colours from a cycle of their own, which "a" never advanced.
    runs = [write_run(tmp_path, name, [1.0, 2.0], None) for name in ("a", "b_seed0", "b_seed1")]
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "report")]) == 0
    assert len(lines) == 2 and len(bands) == 1
    assert tuple(bands[0].get_facecolor()[0][:3]) == to_rgba(lines[1].get_color())[:3]


def test_table_figure_draws_ours_beside_the_papers(tmp_path, monkeypatch):
    """Table 2 as bars: the paper's numbers, and ours averaged over seeds with seed dots."""
    from matplotlib.axes import Axes

    bars, dots = [], []
    bar, plot = Axes.bar, Axes.plot
    monkeypatch.setattr(
        Axes, "bar", lambda self, *a, **k: bars.append((a, k)) or bar(self, *a, **k)
    )
    monkeypatch.setattr(Axes, "plot", lambda self, *a, **k: dots.append(a) or plot(self, *a, **k))
    a = write_run(tmp_path, "vanilla_seed0", [1.0], (1500.0, 20.0))
    b = write_run(tmp_path, "vanilla_seed1", [2.0], (1000.0, 40.0))
    out = tmp_path / "report"
    assert main(["report", str(a), str(b), "--out", str(out), "--paper"]) == 0
    png = out / "table.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [k["label"] for _, k in bars] == [
        "paper: scratch (3M)",
        "paper: distillation multi-task (1M)",
        "paper: vanilla multi-task (1M)",
        "vanilla (2 seeds)",
    ]
    (_, heights, _), kwargs = bars[2]  # one group: the one task evaluated
    assert list(heights) == [1480.89] and list(kwargs["yerr"]) == [30.92]
    (_, heights, _), kwargs = bars[3]
    assert list(heights) == [1250.0] and list(kwargs["yerr"]) == [30.0]
    assert [list(d[1]) for d in dots if d[2:] == ("k.",)] == [[1500.0, 1000.0]]  # the seeds
    assert not (out / "table_deterministic.png").exists()
