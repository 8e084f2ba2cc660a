"""An experiment's search space: seeds and `grid_search` values become Tune trials.

The algorithm config becomes Tune's `param_space` as a dict (what Tune hands each
trial's Algorithm); a `{"grid_search": [...]}` value anywhere in it (from a tuned
example, `--config`, or `--seeds`) makes one trial per value. Every trial's
resolved config is built and validated here, before Ray starts, so a bad value
in any trial is a one-line error rather than a trial failing later.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import re
from collections.abc import Mapping
from typing import Any

from mtrl_ray._rllib_compat import MODEL_CONFIG_DICT_KEY

GRID = "grid_search"
#: `to_dict()`'s key for `rl_module(model_config=...)`; users write "model_config".
MODEL_CONFIG = "model_config"
_MODEL_CONFIG_KEY = MODEL_CONFIG_DICT_KEY
#: Cross products larger than this are refused (each trial is validated here).
MAX_TRIALS = 256

Path_ = tuple[str, ...]


def apply_overrides(config: Any, overrides: Mapping[str, Any]) -> dict[Path_, list]:
    """Applies `--config` keys to `config`; returns the grid_search ones, unapplied.

    Raises:
        ValueError: an unknown key, or a value whose type does not fit the key's.
    """
    defaults = type(config)().to_dict()
    plain: dict[str, Any] = {}
    grids: dict[Path_, list] = {}
    for key, value in overrides.items():
        target = _MODEL_CONFIG_KEY if key == MODEL_CONFIG else key
        if target not in defaults:
            close = difflib.get_close_matches(key, [*defaults, MODEL_CONFIG], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown config key {key!r} for {type(config).__name__}{hint}")
        found = grid_paths({target: value})
        if found:
            grids.update(found)
            continue
        _check_type(key, value, defaults[target])
        plain[key] = value
    config.update_from_dict(plain)
    return grids


def search_space(
    config: Any, grids: Mapping[Path_, list] | None = None, seeds: list[int] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tune's param_space for `config` and every trial's resolved, validated config.

    Args:
        config: The algorithm config (may itself hold grid_search values).
        grids: More grid_search values by key path (from `apply_overrides`).
        seeds: One trial per seed (crossed with any grid).

    Returns:
        (param_space, [the evaluated params of each trial]).

    Raises:
        ValueError: a grid that is not a non-empty list, seeds given twice, too
            many trials, or a trial whose config does not validate.
    """
    space = config.to_dict()
    for path, values in (grids or {}).items():
        _set(space, path, {GRID: values})
    if seeds is not None:
        if any(path == ("seed",) for path, _ in grid_paths(space)):
            raise ValueError("seeds given twice: --seeds and a grid_search on `seed`")
        space["seed"] = {GRID: list(seeds)}
    found = grid_paths(space)
    combos = list(itertools.product(*(values for _, values in found)))
    if len(combos) > MAX_TRIALS:
        raise ValueError(f"{len(combos)} trials in the grid (at most {MAX_TRIALS})")
    trials = []
    for combo in combos:
        params = {_label(path): value for (path, _), value in zip(found, combo, strict=True)}
        resolved = copy.deepcopy(space)
        for (path, _), value in zip(found, combo, strict=True):
            _set(resolved, path, value)
        try:
            trial_config = type(config)()
            trial_config.update_from_dict(resolved)
            trial_config.validate()
        except (ValueError, TypeError, KeyError) as e:
            where = f" (trial {trial_name(params)})" if params else ""
            raise ValueError(f"{str(e).strip().splitlines()[0]}{where}") from None
        trials.append(params)
    return space, trials


def first_variant(space: Mapping[str, Any]) -> dict[str, Any]:
    """`space` with every grid_search replaced by its first value."""
    resolved = copy.deepcopy(dict(space))
    for path, values in grid_paths(space):
        _set(resolved, path, values[0])
    return resolved


def grid_paths(space: Mapping[str, Any], prefix: Path_ = ()) -> list[tuple[Path_, list]]:
    """(key path, values) of every grid_search in a nested dict, in order."""
    found = []
    for key, value in space.items():
        if not isinstance(value, Mapping):
            continue
        path = (*prefix, key)
        if GRID in value:
            values = value[GRID]
            if set(value) != {GRID} or not isinstance(values, list) or not values:
                raise ValueError(f"grid_search for {_label(path)} must be a non-empty list")
            found.append((path, values))
        else:
            found += grid_paths(value, path)
    return found


def trial_name(params: Mapping[str, Any]) -> str:
    """A trial's folder name from its evaluated params.

    `seed0`; `lr=0.001_seed1`; a trial over task sets is named by its tasks
    (`HalfCheetahBigFoot-v0`), as the distillation teachers' folders are.
    """
    seed = params.get("seed")
    parts = []
    for key, value in params.items():
        name = key.split("/")[-1]
        if name == "tasks":
            parts.append("+".join(map(str, value if isinstance(value, list) else [value])))
        elif key != "seed":
            parts.append(f"{name}={value}")
    if seed is not None:
        parts.append(f"seed{seed}")
    name = "_".join(parts) or "trial"
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", name)[:120]


def _label(path: Path_) -> str:
    return "/".join(MODEL_CONFIG if p == _MODEL_CONFIG_KEY else p for p in path)


def _set(space: dict, path: Path_, value: Any) -> None:
    node = space
    for key in path[:-1]:
        node[key] = dict(node.get(key) or {})
        node = node[key]
    node[path[-1]] = value


def _check_type(key: str, value: Any, default: Any) -> None:
    """A value of another kind than the key's default (a string for a number...)."""
    if default is None or value is None:
        return
    number = (int, float)
    fits = {
        bool: isinstance(value, bool),
        int: isinstance(value, number) and not isinstance(value, bool),
        float: isinstance(value, number) and not isinstance(value, bool),
        str: isinstance(value, str),
        dict: isinstance(value, Mapping),
    }.get(type(default))
    # Schedules ([[t, lr], ...]) may stand where a number does.
    if fits is False and not (type(default) in (int, float) and isinstance(value, list)):
        raise ValueError(
            f"config key {key!r} takes a {type(default).__name__}, got {value!r}"
        )
