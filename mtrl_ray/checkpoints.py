"""Checkpoint layout: RLlib's algorithm checkpoint plus a manifest and a weights file.

The manifest `mtrl_ray.json` (tasks in head order, algorithm, model shape, spaces)
lets commands check a checkpoint before loading anything from it: a missing path, a
foreign checkpoint or one from another task set is a one-line error, not a
traceback. `module_weights.pt` holds the module's tensors only (parameters and
normalization buffers), readable with `torch.load(weights_only=True)`, which runs
no pickled code: that is what the TeacherPool loads, so a teacher checkpoint can
be used without trusting RLlib's `.pkl` files.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mtrl_ray.legacy_keys import current_names

MANIFEST = "mtrl_ray.json"
#: The module's tensors, for weights-only loading.
WEIGHTS = "module_weights.pt"
#: How sampled actions reach the env when a manifest does not say (RLlib's defaults:
#: the module acts in [-1, 1], rescaled to the bounds and clipped).
DEFAULT_ACTIONS_FOR_ENV = {"normalize_actions": True, "clip_actions": False}
#: Where RLlib keeps the learner's module inside an algorithm checkpoint.
MODULE_SUBDIR = Path("learner_group") / "learner" / "rl_module" / "default_policy"


class CheckpointError(ValueError):
    """A checkpoint path that is missing, foreign, or does not fit the experiment."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What the manifest says about a checkpoint.

    Attributes:
        path: The checkpoint directory.
        algorithm: Algorithm class name, e.g. "A2C".
        tasks: Task names in head order.
        model_config: The module's model config (JSON form).
        observation_shape: Shape of one observation (None in older checkpoints); across
            body families the padded one (each task's own: `task_sizes`).
        action_shape: Shape of one action (None in older checkpoints); padded likewise.
        actions_for_env: How sampled actions reached the env in training:
            {"normalize_actions": bool, "clip_actions": bool} (RLlib's config keys);
            older checkpoints, which lack it, were trained with RLlib's defaults.
        provenance: What trained it: package version, git commit and whether the
            tree was dirty, command line, env steps so far (empty in older ones);
            `started_at_commit` when the code that saved it is not the code that
            started the run (a resume).
    """

    path: Path
    algorithm: str
    tasks: tuple[str, ...]
    model_config: dict
    observation_shape: tuple[int, ...] | None = None
    action_shape: tuple[int, ...] | None = None
    actions_for_env: dict = field(default_factory=lambda: dict(DEFAULT_ACTIONS_FOR_ENV))
    provenance: dict = field(default_factory=dict)

    @property
    def task_sizes(self) -> dict[str, tuple[int, int]]:
        """Each head's task's own (observation, action) sizes.

        A module across body families records them in its model config
        (`task_obs_dims`, `task_act_dims`; its spaces are the padded ones); any
        other has its spaces' sizes for every task.

        Raises:
            CheckpointError: An older checkpoint without spaces in its manifest.
        """
        obs, act = self.model_config.get("task_obs_dims"), self.model_config.get("task_act_dims")
        if obs is not None and act is not None:
            return {t: (int(o), int(a)) for t, o, a in zip(self.tasks, obs, act, strict=True)}
        if self.observation_shape is None or self.action_shape is None:
            raise CheckpointError(
                f"checkpoint {self.path} has no spaces in {MANIFEST}: add them with "
                "`rllib upgrade-checkpoint`"
            )
        return dict.fromkeys(self.tasks, (self.observation_shape[0], self.action_shape[0]))

    @property
    def module_path(self) -> Path:
        """Directory of the saved RLModule."""
        return self.path / MODULE_SUBDIR

    @property
    def weights_path(self) -> Path:
        """The module's weights-only file."""
        return self.path / WEIGHTS


def write_manifest(
    path: str | Path,
    algorithm: str,
    tasks: tuple[str, ...],
    model_config: dict,
    *,
    observation_shape: tuple[int, ...] | None = None,
    action_shape: tuple[int, ...] | None = None,
    actions_for_env: dict | None = None,
    weights: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Writes the manifest (and the weights file, given the module's weights).

    Each file is written whole or not at all (a temporary file renamed into place),
    the manifest last: a checkpoint with a manifest has its weights file too.

    Args:
        path: A freshly saved checkpoint directory.
        algorithm: Algorithm class name.
        tasks: Task names in head order.
        model_config: The module's model config (JSON form).
        observation_shape: Shape of one observation.
        action_shape: Shape of one action.
        actions_for_env: {"normalize_actions": ..., "clip_actions": ...} of training.
        weights: The module's state (name -> array or tensor), saved as tensors.
        provenance: What trained it (`mtrl_ray.provenance.collect()` and env steps).
    """
    manifest: dict[str, Any] = {
        "algorithm": algorithm,
        "tasks": list(tasks),
        "model_config": model_config,
    }
    if observation_shape is not None:
        manifest["observation_shape"] = list(observation_shape)
    if action_shape is not None:
        manifest["action_shape"] = list(action_shape)
    if actions_for_env is not None:
        manifest["actions_for_env"] = {k: bool(actions_for_env[k]) for k in DEFAULT_ACTIONS_FOR_ENV}
    if provenance is not None:
        manifest["provenance"] = provenance
    if weights is not None:
        tensors = {k: torch.as_tensor(v).detach().cpu().clone() for k, v in weights.items()}
        write_whole(Path(path) / WEIGHTS, lambda f: torch.save(tensors, f))
    text = json.dumps(manifest, indent=2, default=list)
    write_text_whole(Path(path) / MANIFEST, text)


def write_whole(path: Path, write: Any) -> None:
    """Writes `path` whole or not at all: `write(file)` into a temporary file (binary),
    synced, then renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def write_text_whole(path: Path, text: str) -> None:
    """`write_whole` of a text file (UTF-8, line endings as given)."""
    write_whole(path, lambda f: f.write(text.encode()))


def read_checkpoint(path: str | Path) -> CheckpointInfo:
    """Reads and checks a checkpoint's manifest.

    Raises:
        CheckpointError: if the path does not exist or is not an mtrl-ray checkpoint.
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    manifest = path / MANIFEST
    if not manifest.is_file() or not (path / MODULE_SUBDIR).is_dir():
        raise CheckpointError(f"not an mtrl-ray checkpoint (no {MANIFEST} or module): {path}")
    try:
        data = json.loads(manifest.read_text())
        return CheckpointInfo(
            path=path,
            algorithm=data["algorithm"],
            tasks=tuple(data["tasks"]),
            model_config=dict(data["model_config"]),
            observation_shape=_shape(data.get("observation_shape")),
            action_shape=_shape(data.get("action_shape")),
            actions_for_env={**DEFAULT_ACTIONS_FOR_ENV, **data.get("actions_for_env", {})},
            provenance=dict(data.get("provenance", {})),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"unreadable {MANIFEST} in {path}: {e}") from None


def newest_checkpoint(folder: str | Path) -> Path | None:
    """The newest mtrl-ray checkpoint in `folder`, or None.

    `folder` itself if it is one; else the last by name of its sub-folders holding
    one (a run's `checkpoints/`, a trial's folder), or of their sub-folders (a run
    or experiment folder). Checkpoints that are not whole (`is_complete`: a save
    that a kill cut short) do not count.
    """
    folder = Path(folder).expanduser()
    if (folder / MANIFEST).is_file():
        return folder  # the checkpoint itself: its reader says what is wrong with it
    found = sorted(folder.glob(f"*/{MANIFEST}")) + sorted(folder.glob(f"*/*/{MANIFEST}"))
    return next((m.parent for m in reversed(found) if is_complete(m.parent)), None)


def checkpoints_by_env_steps(trial: str | Path) -> dict[int, Path]:
    """{env steps: checkpoint} of a trial folder's complete checkpoints, from their
    manifests: the milestones of a run (1M frames per task, ...)."""
    found: dict[int, Path] = {}
    for path in sorted(Path(trial).expanduser().glob("checkpoint_*")):
        steps = read_checkpoint(path).provenance.get("env_steps") if is_complete(path) else None
        if steps is not None:  # a save a kill cut short is not a milestone
            found[int(steps)] = path
    return found


def read_weights(info: CheckpointInfo, what: str = "weights") -> dict[str, torch.Tensor]:
    """The checkpoint's module tensors, loaded weights-only (no pickled code runs).

    Tensors are named as the module names them now (older checkpoints' names are
    renamed: `mtrl_ray.legacy_keys`).

    Args:
        info: The checkpoint.
        what: How error messages name the file's role, e.g. "teacher weights".

    Raises:
        CheckpointError: naming the file, if it is missing or unreadable.
    """
    if not info.weights_path.is_file():
        raise CheckpointError(f"checkpoint {info.path} has no {WEIGHTS} ({what})")
    try:
        weights = torch.load(info.weights_path, map_location="cpu", weights_only=True)
    except Exception as e:  # any corruption: report the file, not a traceback
        raise CheckpointError(
            f"cannot read {what} {info.weights_path}: {type(e).__name__}: {e}"
        ) from None
    return current_names(weights)


def is_complete(path: str | Path) -> bool:
    """Whether `path` is a whole checkpoint: a readable manifest and the weights file.

    Newest-checkpoint lookups skip the others: a save that a kill cut short must not
    hide the checkpoint before it.
    """
    try:
        return read_checkpoint(path).weights_path.is_file()
    except CheckpointError:
        return False


def _shape(value: list[int] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


def check_same_tasks(info: CheckpointInfo, tasks: tuple[str, ...]) -> None:
    """Raises CheckpointError unless the checkpoint was trained on exactly `tasks`."""
    if tuple(info.tasks) != tuple(tasks):
        raise CheckpointError(
            f"checkpoint {info.path} was trained on tasks {list(info.tasks)}, not {list(tasks)}"
        )


#: The RLlib state files a `--restore` reads, relative to the checkpoint.
RESTORE_STATE_FILES = (
    Path("algorithm_state.pkl"),
    Path("learner_group") / "learner" / "state.pkl",
    MODULE_SUBDIR / "module_state.pkl",
)
#: Model config keys that fix the module's tensors (a restored state must have them).
STRUCTURE_KEYS = (
    "actor_hiddens", "critic_hiddens", "actor_shared_layers", "critic_shared_layers", "critic",
    "input_layer", "families",
)  # fmt: skip


def check_restorable(info: CheckpointInfo, algorithm: str, model_config: dict) -> None:
    """Raises CheckpointError unless `--restore` of `info` into this run can work.

    The checkpoint must come from the same algorithm (a PPO learner state holds
    Adam's moments, A2C's optimizer other keys; a distillation student has no
    critic) and describe a module of the same structure, and RLlib's state files
    must be there and complete. A `--restore` unpickles them anyway, in every trial,
    so the checkpoint is trusted (the README says so): a trial `pickle.load` of each
    here, before Ray starts, is no new exposure, and it finds a truncated file (what
    a kill mid-copy leaves) in a fraction of a second.

    Args:
        info: The checkpoint to restore.
        algorithm: This run's algorithm class name, e.g. "A2C".
        model_config: This run's model config (JSON form).
    """
    if info.algorithm != algorithm:
        raise CheckpointError(
            f"checkpoint {info.path} is a {info.algorithm} checkpoint, this run {algorithm}: "
            "--restore continues the same algorithm (fine-tune from it instead)"
        )
    for key in STRUCTURE_KEYS:
        theirs, ours = info.model_config.get(key), model_config.get(key)
        if theirs is not None and theirs != ours:
            raise CheckpointError(f"checkpoint {info.path} has {key}={theirs}, this run {ours}")
    for relative in RESTORE_STATE_FILES:
        _check_pickle(info.path / relative)


def _check_pickle(path: Path) -> None:
    """Raises CheckpointError unless `path` is a complete pickle (trusted files only)."""
    if not path.is_file() or path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint state file missing or empty: {path}")
    try:
        with path.open("rb") as f:
            pickle.load(f)  # a --restore checkpoint is trusted: see check_restorable
    except Exception as e:  # truncated or garbled: name the file
        raise CheckpointError(
            f"checkpoint state file unreadable: {path}: {type(e).__name__}: {e}"
        ) from None


def add_weights_file(path: str | Path) -> CheckpointInfo:
    """Writes `module_weights.pt` and the spaces into a checkpoint that predates them.

    This unpickles the checkpoint's RLlib module files: use it on trusted checkpoints
    only (your own).
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    info = read_checkpoint(path)
    _check_pickle(info.module_path / "module_state.pkl")  # trusted: a one-line error if cut
    module = RLModule.from_checkpoint(str(info.module_path))
    manifest = json.loads((info.path / MANIFEST).read_text())
    write_manifest(
        info.path,
        info.algorithm,
        info.tasks,
        manifest["model_config"],
        observation_shape=module.observation_space.shape,
        action_shape=module.action_space.shape,
        actions_for_env=info.actions_for_env,
        weights=module.state_dict(),
        provenance=info.provenance or None,
    )
    return read_checkpoint(path)
