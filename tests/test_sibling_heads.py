"""New heads that start from a chosen sibling head per new task (issue 21).

On the committed cross-family checkpoint (results/cross_family_multitask_seed0, the
one tuned_examples/a2c/cross_family_new_head*.py start from): the learner is built
locally (no Ray) from the tuned examples, with `fine_tune_source_head` given as
`--config` gives it, and its module's rows are compared with the checkpoint's.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.checkpoints import read_checkpoint
from mtrl_ray.envs import task_shapes
from mtrl_ray.modules.fine_tuning import per_task_prefixes
from mtrl_ray.training.search_space import apply_overrides, search_space
from mtrl_ray.tuned_example import load_tuned_example

EXAMPLES = Path(__file__).resolve().parents[1] / "tuned_examples" / "a2c"
FRESH = EXAMPLES / "cross_family_new_head.py"
SIBLING = EXAMPLES / "cross_family_new_head_sibling.py"
BIGLEG = ("HalfCheetahBigLeg-v0", "Walker2dBigLeg-v0", "HopperBigLeg-v0")
#: Two of the three new tasks, one by its namespaced name; HopperBigLeg stays fresh.
SOME = {"mtrl_ray/HalfCheetahBigLeg-v0": "HalfCheetahBigTorso-v0",
        "Walker2dBigLeg-v0": "mtrl_ray/Walker2dSmallFoot-v0"}  # fmt: skip


def _module(config: A2CConfig) -> torch.nn.Module:
    """The module of a learner built from `config` (no Ray), padded spaces as the env's."""
    shapes = task_shapes(config.task_set.names)
    spaces = {DEFAULT_MODULE_ID: (gym.spaces.Box(-np.inf, np.inf, (shapes.obs_dim,)),
                                  gym.spaces.Box(-1.0, 1.0, (shapes.act_dim,)))}  # fmt: skip
    return config.build_learner(spaces=spaces).module[DEFAULT_MODULE_ID].unwrapped()


def test_the_sibling_example_maps_each_bigleg_to_its_bodys_bigtorso():
    config = load_tuned_example(SIBLING).config
    config.validate()
    expected = {task: task.replace("BigLeg", "BigTorso") for task in BIGLEG}
    assert config.fine_tune_source == expected
    # Tune hands each trial the config as a dict: the mapping survives the round trip.
    space, _ = search_space(config)
    assert A2CConfig().update_from_dict(space).fine_tune_source == expected
    assert load_tuned_example(FRESH).config.fine_tune_source == {}  # every new head fresh


def test_new_heads_start_as_copies_of_their_chosen_heads():
    """Every per-task row (head, log-std, statistics, input layer, critic parts) of a
    mapped new task is its source's; a new task the mapping leaves out stays fresh."""
    config = load_tuned_example(FRESH).config
    apply_overrides(config, {"fine_tune_source_head": SOME})  # as --config sets it
    config.validate()
    info = read_checkpoint(config.fine_tune_from)
    source = torch.load(info.weights_path, weights_only=True)
    module = _module(config)
    ours = module.state_dict()
    tasks = list(module.cfg.tasks)
    starts = {task: task for task in info.tasks}
    starts |= {"HalfCheetahBigLeg-v0": "HalfCheetahBigTorso-v0",
               "Walker2dBigLeg-v0": "Walker2dSmallFoot-v0"}  # fmt: skip
    rows = [name for name in ours if name.startswith(per_task_prefixes(module))]
    assert any(name.startswith("actor.encoder.") for name in rows)  # per-task first layer
    for name in rows:
        for task, start in starts.items():
            theirs = source[name][info.tasks.index(start)].to(ours[name].dtype)
            assert torch.equal(ours[name][tasks.index(task)], theirs), f"{task}: {name}"
        fresh = ours[name][tasks.index("HopperBigLeg-v0")]
        if name != "obs_normalizer.count":
            assert not any(torch.equal(fresh, row.to(fresh.dtype)) for row in source[name]), name
    assert float(ours["obs_normalizer.count"][tasks.index("HopperBigLeg-v0")]) == 0.0
    assert float(source["obs_normalizer.count"][info.tasks.index("Walker2dSmallFoot-v0")]) > 0


@pytest.mark.parametrize(
    "heads, message",
    [
        ({"HalfCheetahBigTorso-v0": "HalfCheetahSmallFoot-v0"},
         "fine_tune_source_head maps HalfCheetahBigTorso-v0, not a new task"),
        ({"HopperBigLeg-v0": "HopperBigFoot-v0"}, "has no head HopperBigFoot-v0 (its tasks:"),
        ({"HopperBigLeg-v0": "HalfCheetahBigTorso-v0"},
         "source head HalfCheetahBigTorso-v0 has sizes (17, 6), task HopperBigLeg-v0 (11, 3)"),
        (["HopperBigTorso-v0"], "must be a checkpoint head or a mapping {new task: checkpoint"),
        ({"HopperBigLeg-v0": "NoSuchBody-v0"}, "unknown task 'NoSuchBody-v0'"),
    ],
)  # fmt: skip
def test_bad_source_heads_are_one_line_errors(heads, message, tmp_path, capsys, monkeypatch):
    """From --config, before Ray starts; the Python door raises the same."""
    import ray

    from mtrl_ray.cli import main

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started")

    monkeypatch.setattr(ray, "init", no_ray)
    argv = ["train", "file", str(FRESH), "--storage-path", str(tmp_path / "runs"),
            "--config", json.dumps({"fine_tune_source_head": heads})]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not (tmp_path / "runs").exists()
    config = load_tuned_example(FRESH).config
    config.fine_tune(config.fine_tune_from, trainable="heads", source_head=heads)
    with pytest.raises(ValueError, match=r"\A[^\n]*\Z") as raised:  # one line
        config.validate()
    assert message in str(raised.value)
