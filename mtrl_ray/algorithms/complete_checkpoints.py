"""Checkpoints that are complete whoever saves them: RLlib's files, weights, manifest.

`rllib evaluate`, fine-tuning, new heads, `--restore` and the TeacherPool read a
checkpoint's `mtrl_ray.json` manifest and `module_weights.pt`. The project's
Algorithms write both inside `save_to_path`, the one method every save goes
through (Tune's checkpoints, `algo.save()`, `algo.save_to_path()`), so no
checkpoint lacks them.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.tune.result import TRIAL_INFO

from mtrl_ray import monitoring, provenance
from mtrl_ray.checkpoints import DEFAULT_ACTIONS_FOR_ENV, write_manifest

if TYPE_CHECKING:  # a mixin: type checkers see the RLlib Algorithm it is mixed into
    from ray.rllib.algorithms.algorithm import Algorithm as _AlgorithmBase
else:
    _AlgorithmBase = object

class CompleteCheckpoints(_AlgorithmBase):
    """Mixin for the project's Algorithms, listed before RLlib's class in the bases.

    Also tags the run's Prometheus metrics (`monitoring.run_tags`), and starts a run
    from `config.restore_from` (a checkpoint: weights, optimizer,
    normalization statistics and counters), so that a Tune trial can begin where
    an earlier run stopped.
    """

    config: Any  # the algorithm's AlgorithmConfig (annotated: `setup` replaces it)

    def __init__(self, config: Any = None, env: Any = None, **kwargs: Any):
        # Tune passes its trial's name in the config dict (under TRIAL_INFO), which
        # RLlib's config drops (`AlgorithmConfig.update_from_dict`): kept for the tags.
        info = config.get(TRIAL_INFO) if isinstance(config, dict) else None
        self.tune_trial_info = info
        super().__init__(config, env, **kwargs)

    def run_tags(self) -> dict[str, str]:
        """This run's Prometheus `experiment` and `trial` tags (`monitoring.run_tags`)."""
        return monitoring.run_tags(self.tune_trial_info, type(self).__name__)

    @override(Algorithm)
    def setup(self, config: Any) -> None:
        _learner_priority()
        # The run's Prometheus tags, on the config the runners and learners are built
        # from (RLlib builds them from `self.config`, frozen: set on a copy).
        tagged = self.config.copy(copy_frozen=False)
        tagged.metrics_tags = self.run_tags()
        tagged.freeze()
        self.config = tagged
        super().setup(config)
        if config.restore_from is not None:
            self.restore_from_path(config.restore_from)

    @override(Algorithm)
    def save_to_path(
        self,
        path: str | Path | None = None,
        *,
        state: dict | None = None,
        filesystem: Any = None,
        use_msgpack: bool = False,
    ) -> str:
        saved = super().save_to_path(
            path, state=state, filesystem=filesystem, use_msgpack=use_msgpack
        )
        # A given `state` may not be this algorithm's own, and a remote filesystem
        # takes RLlib's files only: the manifest describes a local, own checkpoint.
        if state is None and filesystem is None:
            self.write_manifest(Path(saved))
        return saved

    def write_manifest(self, path: Path) -> None:
        """Writes `module_weights.pt` and `mtrl_ray.json` into checkpoint `path`."""
        module = self.get_module()  # the local runner's copy: for its config and spaces
        config = self.config
        run = dict(config.provenance or provenance.collect())
        # The config keeps the provenance of the run's start; a resumed trial may run
        # other code. The code saving this checkpoint is what trained it last.
        here = provenance.code_version()
        if here["git_commit"] is not None and here["git_commit"] != run.get("git_commit"):
            run = {**run, **here, "started_at_commit": run.get("git_commit")}
        env_steps = self.metrics.peek(
            (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0
        )
        write_manifest(
            path,
            type(self).__name__,
            module.cfg.tasks,
            asdict(module.cfg),
            observation_shape=module.observation_space.shape,
            action_shape=module.action_space.shape,
            actions_for_env={key: getattr(config, key) for key in DEFAULT_ACTIONS_FOR_ENV},
            weights=learner_weights(self),
            provenance={**run, "env_steps": int(env_steps), "iteration": self.iteration},
        )


def _learner_priority() -> None:
    """Runs this process (the central learner's) at normal priority where allowed.

    Ray starts its worker processes at nice 15; a driver runs at 0. Built in the
    driver, the learner, on the critical path of every synchronous round, ran ahead
    of the runners; as a Tune trial it runs in a worker, and at nice 15 it waits
    behind them (measured: benchmarks/tune_overhead.md). Raising a priority needs
    root or CAP_SYS_NICE; without them it stays as Ray set it.
    """
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) > 0:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


def learner_weights(algo: Algorithm) -> dict[str, Any]:
    """The learner's module state (name -> array): the trained weights, wherever it runs."""
    state = algo.learner_group.get_state(components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}")
    return state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][DEFAULT_MODULE_ID]
