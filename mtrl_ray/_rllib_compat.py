"""The private Ray and RLlib APIs mtrl-ray relies on: each one here, with why.

Ray promises nothing about underscore names, and the project pins one Ray minor
release (`SUPPORTED_RAY`). Every read or call of a private Ray/RLlib name in
`mtrl_ray/` goes through a function of this module. A subclass's override of a
private method cannot move here: those are listed in `PRIVATE_OVERRIDES`, and
`tests/test_rllib_compat.py` checks that each still exists on the installed RLlib
with the parameters the override takes (and that no unlisted override exists), so
a Ray upgrade fails one clear test rather than a training run. The equivalence
tests (`test_fragment_sampler.py`, `test_a2c_math.py`, `test_ppo.py`) check that
the hooks still do what the project expects of them.

Importing this module imports only the standard library: `mtrl_ray/__init__.py`
runs `check_ray_version` on every import, `rllib --help` included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from importlib import metadata
from typing import Any, NamedTuple

#: Ray releases the project supports: [lowest, first unsupported). The code and its
#: private hooks are tested on 2.60.0 (pyproject.toml pins `ray==2.60.0`).
SUPPORTED_RAY = ("2.60.0", "2.61.0")

#: Set to 1 to import mtrl_ray on another Ray anyway (e.g. to run
#: `tests/test_rllib_compat.py` against a candidate release).
IGNORE_VERSION_ENV = "MTRL_RAY_IGNORE_RAY_VERSION"


def _release(version: str) -> tuple[int, ...]:
    """(2, 60, 0) from "2.60.0", "2.60.0rc1" or "2.61.0.dev0" (the numeric prefix)."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in numbers.group(0).split(".")) if numbers else ()


def check_ray_version(installed: str | None = None) -> None:
    """Raises ImportError unless the installed Ray is in `SUPPORTED_RAY`.

    Reads the installed distribution's metadata; Ray itself is not imported.

    Args:
        installed: The version to check (default: the installed `ray`'s).

    Raises:
        ImportError: Ray is missing or outside `SUPPORTED_RAY` (one-line message),
            unless the environment variable `IGNORE_VERSION_ENV` is "1".
    """
    if os.environ.get(IGNORE_VERSION_ENV) == "1":
        return
    low, high = SUPPORTED_RAY
    wanted = f"ray>={low},<{high}"
    if installed is None:
        try:
            installed = metadata.version("ray")
        except metadata.PackageNotFoundError:
            raise ImportError(f"mtrl-ray needs {wanted}; ray is not installed") from None
    if not _release(low) <= _release(installed) < _release(high):
        raise ImportError(
            f"mtrl-ray supports {wanted}, found ray {installed}: "
            f"pip install 'ray[rllib,default]=={low}' (or set {IGNORE_VERSION_ENV}=1 to try it)"
        )


class PrivateOverride(NamedTuple):
    """A private RLlib method a project class overrides (it cannot move here)."""

    rllib_class: str  #: "module:Class" of the RLlib class that defines it
    method: str
    parameters: tuple[str, ...]  #: its parameter names, as the override takes them
    why: str  #: why no public API does it


_LEARNER = "ray.rllib.core.learner.learner:Learner"
_TORCH_LEARNER = "ray.rllib.core.learner.torch.torch_learner:TorchLearner"
_RUNNER = "ray.rllib.env.single_agent_env_runner:SingleAgentEnvRunner"
_MODULE = "ray.rllib.core.rl_module.rl_module:RLModule"
_BATCH_HOOK = (
    "the one point where every Learner holds the whole train batch of an update; the "
    "per-task observation statistics are updated from it once, after all minibatches "
    "(RLlib has no public after-update hook that sees the batch)"
)

PRIVATE_OVERRIDES: tuple[PrivateOverride, ...] = (
    PrivateOverride(
        _MODULE, "_forward", ("self", "batch", "kwargs"),
        "RLlib's documented way to define an RLModule's forward (the public "
        "`forward_*` methods wrap it and must not be overridden)",
    ),
    PrivateOverride(
        _MODULE, "_forward_train", ("self", "batch", "kwargs"),
        "as `_forward`: the documented extension point for the training forward",
    ),
    PrivateOverride(
        _TORCH_LEARNER, "_update", ("self", "batch"),
        "A2C's `cycle` update takes one optimizer step per task, and PPO's fast path "
        "all its epochs of minibatch steps, inside one RLlib update, and the "
        "statistics update must follow the gradient steps; `compute_loss_for_module` "
        "sees one loss per update only",
    ),
    PrivateOverride(
        _TORCH_LEARNER, "_get_clip_function", (),
        "the only way to replace RLlib's gradient clipping (A2C's fused global-norm "
        "clip gives the same result in one op instead of 3 per tensor)",
    ),
    PrivateOverride(
        _LEARNER,
        "_create_iterator_if_necessary",
        ("self", "training_data", "num_total_minibatches", "num_epochs", "minibatch_size",
         "shuffle_batch_per_epoch", "kwargs"),  # fmt: skip
        _BATCH_HOOK + " (`multi_task_learner.StatisticsAfterUpdate`: A2C's, PPO's and "
        "APPO's learner thread's `update()` all pass through it)",
    ),
    PrivateOverride(
        _RUNNER, "_log_episode_metrics", ("self", "length", "ret", "sec"),
        "the one place every finished episode passes on a runner (RLlib's loop and "
        "the lean sampler): per-task returns are logged beside RLlib's",
    ),
    PrivateOverride(
        _RUNNER, "_increase_sampled_metrics", ("self", "num_steps", "num_episodes_completed"),
        "as `_log_episode_metrics`, for the per-task env-step counts",
    ),
)


# -- Calls and reads of private names -------------------------------------------


def forward_train(module: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """`module._forward_train(batch)`: the training forward, without a mode switch.

    The public `TorchRLModule.forward_train` calls `module.train()` (a walk over every
    submodule) each time; A2C's `cycle` update calls it once per task per update, after
    one `train()` of its own.
    """
    return module._forward_train(batch)


def forward(module: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """`module._forward(batch)`: the module's one forward, for tracing in `export.py`.

    The public `forward_inference` / `forward_exploration` go through RLlib's
    dispatch (and `forward` through `forward_train`'s inference-only check); the
    traced graph should hold the network alone.
    """
    return module._forward(batch)


def exploration_forward(module: Any) -> Any:
    """`module._forward_exploration` (or the public method if a module has no such).

    The public `TorchRLModule.forward_exploration` calls `module.eval()` (a walk over
    every submodule) at every call; the lean sampler's module never trains, so it
    switches once and calls what the public method wraps.
    """
    return getattr(module, "_forward_exploration", module.forward_exploration)


def log_sampled(runner: Any, episodes: Iterable[tuple[int, float, float]], steps: int) -> None:
    """Logs what RLlib's own sampling loop logs for `steps` steps and the finished episodes.

    The lean sampler (`FragmentSampler`) bypasses `SingleAgentEnvRunner._sample`,
    whose metrics are written by these private methods and no public one.

    Args:
        runner: A `SingleAgentEnvRunner`.
        episodes: (length, return, seconds) of each episode that finished.
        steps: Env steps sampled.
    """
    episodes = list(episodes)
    for length, ret, seconds in episodes:
        runner._log_episode_metrics(length, ret, seconds)
    runner._increase_sampled_metrics(steps, len(episodes))
    # The Ray (Prometheus) counter RLlib's loop increments; it exists only privately.
    runner._log_env_steps(metric=runner._metrics_num_env_steps_sampled, num_steps=steps)


def remote_env_runners(group: Any) -> dict[int, Any]:
    """{runner id: actor handle} of an `EnvRunnerGroup`'s healthy remote runners.

    APPO's fast path keeps one sample request in flight per runner and waits with
    `ray.wait(num_returns=1)` for whichever answers first. The group's public async
    API (`foreach_env_runner_async` + `fetch_ready_async_reqs`) waits for all
    outstanding requests or a timeout, and exposes neither the object refs nor
    the handles; its actor manager keeps the handles privately.
    """
    handles = group._worker_manager.actors()
    return {i: handles[i] for i in group.healthy_env_runner_ids()}


def runner_seed(runner: Any) -> int | None:
    """The seed of a runner's first env reset, as RLlib's own loop uses it.

    `EnvRunner.__init__` derives it (config seed + worker index, +1e6 on evaluation
    runners) and keeps it only as `_seed`; recomputing it here would drift from
    RLlib's formula unnoticed.
    """
    return runner._seed


def user_model_config(config: Any) -> Any:
    """The dict (or dataclass) given to `config.rl_module(model_config=...)`.

    The public `config.model_config` merges in the algorithm's auto-includes (PPO's
    `vf_share_layers`), which are not fields of the project's module.
    """
    return config._model_config


#: `AlgorithmConfig.to_dict()`'s key for the user's model config (see `user_model_config`).
MODEL_CONFIG_DICT_KEY = "_model_config"


def env_to_module_connector(config: Any) -> Any:
    """What `config.env_runners(env_to_module_connector=...)` set (RLlib has no getter)."""
    return config._env_to_module_connector


def explicit_train_batch_size_per_learner(config: Any) -> int | None:
    """`train_batch_size_per_learner` if set by the user, else None.

    RLlib's property infers a value when unset; its storage is the only way to tell
    whether the user set one (and its `training()` writes that storage directly).
    """
    return config._train_batch_size_per_learner


def set_train_batch_size_per_learner(config: Any, value: int | None) -> None:
    """Writes the storage behind `train_batch_size_per_learner` (see above)."""
    config._train_batch_size_per_learner = value


def update_learners(learner_group: Any, *, reduce: bool, **kwargs: Any) -> Any:
    """`LearnerGroup.update(**kwargs)`, its learners' metrics reduced only if `reduce`.

    `Learner.update` reduces its `MetricsLogger` at the end of every call; its
    private `_no_metrics_reduce=True` skips that and returns None, so the values stay
    on the learner until an update with `reduce`. A2C's rounds are small updates (80
    samples per task, 50 rounds per iteration): reducing some 40 stats per round cost
    about a tenth of the learner's update time in one process, besides the driver's
    aggregation of each round's results.

    Returns:
        The learner group's results with `reduce`; None without.
    """
    results = learner_group.update(**kwargs, _no_metrics_reduce=not reduce)
    return results if reduce else None


def make_train_batch(learner: Any, training_data: Any) -> Any:
    """`Learner._make_batch_if_necessary`: the update's train batch from its data.

    Runs the learner connector on episodes (or converts a given batch to tensors)
    exactly as `Learner.update` would; `StatisticsAfterUpdate` builds the batch once
    itself so that it can keep it until after the update.
    """
    return learner._make_batch_if_necessary(training_data=training_data)


def module_batches(batch: Any) -> dict[str, Any] | None:
    """The per-module batches of a Learner's train batch, or None if it is none.

    RLlib's new-stack Learner still builds its train batch as the old stack's
    `MultiAgentBatch` (no new-stack type exists in 2.60).
    """
    from ray.rllib.policy.sample_batch import MultiAgentBatch

    return batch.policy_batches if isinstance(batch, MultiAgentBatch) else None


def restore_trial_file(callback: Any, file_name: str, trial: Any) -> None:
    """Tune's logger callbacks' `_restore_from_remote`: a trial's log file from storage.

    A restored trial's `result.json` / `progress.csv` must first come back from the
    (possibly remote) storage before the project's loggers rewrite it; Tune does this
    only in its own private method.
    """
    callback._restore_from_remote(file_name, trial)


def ray_would_join_a_cluster() -> bool:
    """Whether `ray.init()` would join a cluster (RAY_ADDRESS, or one from `ray start`).

    `ray._private.services.canonicalize_bootstrap_address` is exactly `ray.init`'s own
    test; Ray has no public one.
    """
    from ray._private.services import canonicalize_bootstrap_address

    return canonicalize_bootstrap_address(None) is not None


def recorded_search_space_keys(experiment: str) -> list[str] | None:
    """The flattened keys of the search space a Tune experiment was started with.

    `Tuner.restore(param_space=...)` refuses a search space whose keys differ from
    these (recorded under a private key of the experiment's `tuner.pkl`), so a
    resume must know them when the config class has gained a field since the
    experiment started. None if the file or the key is missing. Unpickling needs
    the trainable's class importable (mtrl_ray is).

    Args:
        experiment: The experiment's folder or URI (storage path / name).
    """
    import pickle

    import pyarrow.fs

    if "://" in experiment:
        fs, path = pyarrow.fs.FileSystem.from_uri(experiment)
    else:
        fs, path = pyarrow.fs.LocalFileSystem(), experiment
    try:
        with fs.open_input_file(f"{path}/tuner.pkl") as f:
            state = pickle.loads(f.readall())
    except OSError:  # no such file (or unreadable): nothing recorded
        return None
    keys = state.get("__flattened_param_space_keys")
    return list(keys) if keys is not None else None
