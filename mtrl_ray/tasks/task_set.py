"""`TaskSet`: the ordered tasks of one experiment; a task's index is its id and head."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mtrl_ray.columns import TASK_ID  # noqa: F401  (re-exported with the TaskSet)
from mtrl_ray.envs import UnknownVariantError
from mtrl_ray.envs.families import canonical_task_name  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class TaskSet:
    """The ordered tasks of one experiment.

    A task's position is its task id, which is also the index of its head in the
    multi-head module, so the order is part of a checkpoint's identity.

    Attributes:
        names: Environment ids, one per task: HalfCheetah variant names
            (e.g. "HalfCheetahBigFoot-v0") or any registered gymnasium id.
    """

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.names, str):
            raise TypeError("TaskSet takes a sequence of names, not one string")
        names = tuple(canonical_task_name(n) for n in self.names)
        if not names:
            raise ValueError("a TaskSet needs at least one task")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate tasks in {list(names)}")
        object.__setattr__(self, "names", names)

    @classmethod
    def of(cls, names: str | Iterable[str]) -> TaskSet:
        """Builds a TaskSet from a list of names or one comma-separated string."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        return cls(tuple(names))

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def task_id(self, name: str) -> int:
        """Returns the id of task `name`; raises UnknownVariantError if absent."""
        plain = canonical_task_name(name)
        if plain not in self.names:
            raise UnknownVariantError(
                f"task {plain!r} is not in this task set: {', '.join(self.names)}"
            )
        return self.names.index(plain)

    def task_for_worker(self, worker_index: int) -> int:
        """Pins an EnvRunner to a task by its worker index.

        Remote runners are numbered 1..N (training and evaluation groups each start
        at 1), and a restarted runner keeps its index, so it gets the same task
        again. Runner i runs task (i - 1) mod n: with k runners per task, the tasks
        are dealt round-robin. The local runner (index 0) only samples when there
        are no remote runners; it takes task 0.
        """
        if worker_index <= 0:
            return 0
        return (worker_index - 1) % len(self.names)
