"""Checkpoint layout: RLlib's algorithm checkpoint plus a small `mtrl_ray.json` manifest.

The manifest (tasks in head order, algorithm, model shape) lets commands check a
checkpoint before loading anything from it: a missing path, a foreign checkpoint
or one from another task set is a one-line error, not a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "mtrl_ray.json"
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
    """

    path: Path
    algorithm: str
    tasks: tuple[str, ...]
    model_config: dict

    @property
    def module_path(self) -> Path:
        """Directory of the saved RLModule."""
        return self.path / MODULE_SUBDIR


def write_manifest(
    path: str | Path, algorithm: str, tasks: tuple[str, ...], model_config: dict
) -> None:
    """Writes the manifest into a freshly saved checkpoint directory."""
    manifest = {"algorithm": algorithm, "tasks": list(tasks), "model_config": model_config}
    (Path(path) / MANIFEST).write_text(json.dumps(manifest, indent=2, default=list))


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
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"unreadable {MANIFEST} in {path}: {e}") from None


def check_same_tasks(info: CheckpointInfo, tasks: tuple[str, ...]) -> None:
    """Raises CheckpointError unless the checkpoint was trained on exactly `tasks`."""
    if tuple(info.tasks) != tuple(tasks):
        raise CheckpointError(
            f"checkpoint {info.path} was trained on tasks {list(info.tasks)}, not {list(tasks)}"
        )
