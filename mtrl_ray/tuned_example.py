"""Loading tuned examples: Python files (`config`, `stop`) and classic YAML files."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.algorithms.distill import DistillConfig
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

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
    """

    name: str
    config: Any
    stop: dict[str, float] = field(default_factory=dict)


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
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # a user's file: report it in one line
        raise TunedExampleError(f"{path}: {type(e).__name__}: {e}") from None
    if not hasattr(module, "config"):
        raise TunedExampleError(f"{path} defines no `config`")
    return TunedExample(path.stem, module.config, dict(getattr(module, "stop", {}) or {}))


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
        config.update_from_dict(dict(spec.get("config") or {}))
    except Exception as e:
        raise TunedExampleError(f"{path}: bad config: {e}") from None
    if "env" in spec:
        config.environment(env=spec["env"])
    return TunedExample(str(name), config, dict(spec.get("stop") or {}))
