"""Loading tuned examples: Python files (`config`, `stop`) and classic YAML files.

A Python tuned example defines `config` (an algorithm config), `stop` and
optionally `pass_criteria` (result key -> the least value each trial must reach
for `rllib train ... --as-test` to pass). The YAML form is
`{name: {run, env, stop, config, pass_criteria}}`; its `config` keys go through
the same checks as `--config` (unknown keys and mistyped values are errors, and
grid_search values become trials).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.algorithms.distill import DistillConfig
from mtrl_ray.algorithms.pinned_tasks_config import PinnedTasksConfig
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.training.search_space import Path_, apply_overrides

#: Algorithms the classic YAML form can name in `run:`.
ALGORITHMS = {
    "A2C": A2CConfig,
    "APPO": MultiTaskAPPOConfig,
    "Distill": DistillConfig,
    "PPO": MultiTaskPPOConfig,
}


class TunedExampleError(ValueError):
    """A tuned-example file that cannot be used."""


@dataclass
class TunedExample:
    """An experiment: an algorithm config and a stop condition.

    Attributes:
        name: Experiment name (the file stem, or the YAML top-level key).
        config: The algorithm config.
        stop: Stop criteria, e.g. {"num_env_steps_sampled_lifetime": 6_000_000}.
        pass_criteria: For `--as-test`: result key -> least value at the end.
        grids: grid_search values of a YAML `config:` by key path (become trials).
    """

    name: str
    config: Any
    stop: dict[str, float] = field(default_factory=dict)
    pass_criteria: dict[str, float] = field(default_factory=dict)
    grids: dict[Path_, list] = field(default_factory=dict)

#: Keys of a YAML experiment.
YAML_KEYS = ("run", "env", "stop", "config", "pass_criteria")


def load_tuned_example(path: str | Path) -> TunedExample:
    """Loads a `.py` or `.yaml`/`.yml` tuned example.

    Raises:
        TunedExampleError: missing file, unknown format, or malformed content.
    """
    path = Path(path)
    if not path.is_file():
        raise TunedExampleError(f"tuned example not found: {path}")
    if path.suffix == ".py":
        return _load_python(path)
    if path.suffix in (".yaml", ".yml"):
        return _load_yaml(path)
    raise TunedExampleError(f"tuned example must be .py or .yaml: {path}")


def _load_python(path: Path) -> TunedExample:
    spec = importlib.util.spec_from_file_location(f"tuned_example_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise TunedExampleError(f"{path}: Python cannot load it as a module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # a user's file: report it in one line
        raise TunedExampleError(f"{path}: {type(e).__name__}: {e}") from None
    if not isinstance(getattr(module, "config", None), PinnedTasksConfig):
        raise TunedExampleError(
            f"{path} must define `config`, an algorithm config of one of {list(ALGORITHMS)}"
        )
    return TunedExample(
        path.stem,
        module.config,
        _mapping(path, "stop", getattr(module, "stop", None)),
        _mapping(path, "pass_criteria", getattr(module, "pass_criteria", None)),
    )


def _mapping(path: Path, what: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TunedExampleError(f"{path}: `{what}` must be a mapping, got {value!r}")
    return dict(value)


def _load_yaml(path: Path) -> TunedExample:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise TunedExampleError(f"{path}: invalid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or len(data) != 1:
        raise TunedExampleError(
            f"{path}: expected one top-level experiment {{name: {{run, env, stop, config}}}}"
        )
    name, spec = next(iter(data.items()))
    unknown = sorted(set(spec) - set(YAML_KEYS)) if isinstance(spec, dict) else []
    if unknown:
        raise TunedExampleError(f"{path}: unknown key(s) {unknown} (known: {list(YAML_KEYS)})")
    if not isinstance(spec, dict) or "run" not in spec:
        raise TunedExampleError(
            f"{path}: experiment {name!r} needs `run:` (one of {list(ALGORITHMS)})"
        )
    if spec["run"] not in ALGORITHMS:
        raise TunedExampleError(
            f"{path}: unknown algorithm {spec['run']!r}; known: {list(ALGORITHMS)}"
        )
    config = ALGORITHMS[spec["run"]]()
    try:
        grids = apply_overrides(config, _mapping(path, "config", spec.get("config")))
    except (ValueError, TypeError) as e:
        raise TunedExampleError(f"{path}: bad config: {e}") from None
    if "env" in spec:
        config.environment(env=spec["env"])
    return TunedExample(
        str(name),
        config,
        _mapping(path, "stop", spec.get("stop")),
        _mapping(path, "pass_criteria", spec.get("pass_criteria")),
        grids,
    )
