"""Every tuned example loads, and its config passes its algorithm's checks."""

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "tuned_examples"
#: Python files that define an experiment (`config = ...`); the others drive several.
FILES = sorted(
    p
    for p in EXAMPLES.rglob("*")
    if p.suffix in (".yaml", ".yml") or (p.suffix == ".py" and "\nconfig = " in p.read_text())
)


def test_the_examples_are_found():
    names = {p.name for p in FILES}
    assert {"cross_family_multitask.py", "halfcheetah_vanilla_multitask.yaml"} <= names
    assert "halfcheetah_finetune_table1.py" not in names  # a driver of several runs


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_tuned_example_loads_and_validates(path):
    from mtrl_ray.tuned_example import load_tuned_example

    example = load_tuned_example(path)
    example.config.validate()
    assert example.stop, f"{path.name}: no stop condition (it would train forever)"
