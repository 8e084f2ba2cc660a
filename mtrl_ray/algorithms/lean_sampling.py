"""The runners' fast path, shared by A2C, PPO and APPO: lean connectors,
`FragmentSampler`, one remote call per runner per round with the weights inline.

`LeanSamplingConfig` (a config mixin) builds the one-piece runner connectors
(`mtrl_ray.connectors.lean_gaussian`) when the algorithm's switch is on (A2C's
`lean_connectors`, PPO's `fast_path`: `LEAN_SWITCH` names it) and refuses what they
would silently skip. `FragmentRounds` (an algorithm mixin) runs one sampling round:
the learner's weights, pickled once, travel with each runner's sample request, and
each runner answers with `Fragment`s (numpy columns); it also holds the learner
update PPO's and APPO's fast paths share.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.connectors.env_to_module import EnvToModulePipeline
from ray.rllib.connectors.module_to_env import ModuleToEnvPipeline
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE
from ray.rllib.core.learner.learner import ALL_MODULES
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.connectors import task_id_connector
from mtrl_ray.connectors.lean_gaussian import SampleDiagGaussian, lean_env_to_module

if TYPE_CHECKING:  # mixins: type checkers see the RLlib classes they are mixed into
    from ray.rllib.algorithms.algorithm import Algorithm as _AlgorithmBase
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig as _ConfigBase
else:
    _AlgorithmBase = _ConfigBase = object

#: RLlib's episode callbacks, which the lean runners never call.
EPISODE_HOOKS = ("on_episode_created", "on_episode_start", "on_episode_step", "on_episode_end")


class LeanSamplingConfig(_ConfigBase):
    """Config mixin: the lean runner connectors while `LEAN_SWITCH` is on."""

    #: The config attribute that switches the fast path on (True) or off.
    LEAN_SWITCH: str = "lean_connectors"

    @property
    def lean_sampling(self) -> bool:
        """Whether runners sample through `FragmentSampler` and the lean connectors."""
        return bool(getattr(self, self.LEAN_SWITCH))

    def _refuse_what_lean_sampling_skips(self) -> None:
        """Episode callbacks and a custom env-to-module connector, which never run.

        The lean runners sample with `FragmentSampler` and their own env-to-module
        connector: RLlib's `on_episode_*` callbacks are not called, and a connector
        given to `.env_runners(env_to_module_connector=...)` is not built.
        """
        switch = self.LEAN_SWITCH
        hint = f"{switch}=True skips them: set {switch}=False to use them"
        hooks = [h for h in EPISODE_HOOKS if getattr(self, f"callbacks_{h}", None) is not None]
        classes = self.callbacks_class
        for cls in classes if isinstance(classes, list | tuple) else [classes]:
            if isinstance(cls, type):
                hooks += [
                    h for h in EPISODE_HOOKS if getattr(cls, h) is not getattr(RLlibCallback, h)
                ]
        if hooks:
            self._value_error(f"episode callbacks ({', '.join(sorted(set(hooks)))}): {hint}")
        if compat.env_to_module_connector(self) is not task_id_connector:
            self._value_error(f"a custom env_to_module_connector: {hint}")

    def build_env_to_module_connector(self, env=None, spaces=None, device=None):
        """RLlib's pipeline, or with the fast path its one lean piece."""
        if not self.lean_sampling:
            return super().build_env_to_module_connector(env=env, spaces=spaces, device=device)
        obs_space, act_space = single_spaces(env, spaces)
        return EnvToModulePipeline(
            input_observation_space=obs_space,
            input_action_space=act_space,
            connectors=lean_env_to_module(env),
        )

    def build_module_to_env_connector(self, env=None, spaces=None):
        """RLlib's pipeline, or with the fast path `SampleDiagGaussian` alone."""
        if not self.lean_sampling:
            return super().build_module_to_env_connector(env=env, spaces=spaces)
        obs_space, act_space = single_spaces(env, spaces)
        return ModuleToEnvPipeline(
            input_observation_space=obs_space,
            input_action_space=act_space,
            connectors=[
                SampleDiagGaussian(
                    input_action_space=act_space,
                    normalize_actions=self.normalize_actions,
                    clip_actions=self.clip_actions,
                )
            ],
        )


def single_spaces(env, spaces) -> tuple:
    """(observation, action) space of one sub-env, from the env or the runner's spaces."""
    if env is not None:
        return env.single_observation_space, env.single_action_space
    return spaces[INPUT_ENV_SINGLE_SPACES]


class FragmentRounds(_AlgorithmBase):
    """Algorithm mixin: synchronous sampling rounds, one remote call per runner each."""

    def _current_weights(self) -> Any:
        """The learner's inference weights, pickled once per round for all runners.

        The bytes (~30 KB for the paper's six heads) travel inline with each sample
        request; an object-store reference would cost every runner a fetch through
        the raylet per round (measured: 4 % of A2C's throughput).
        """
        state = self.learner_group.get_state(
            components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}", inference_only=True
        )[COMPONENT_LEARNER]
        if self.env_runner_group.num_remote_env_runners() == 0:
            return state
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def _sample_round(self, method: str, weights: Any, **kwargs: Any) -> list:
        """Every runner loads `weights`, then runs `method` (a `PinnedEnvRunner`'s).

        Returns:
            The runners' results, in runner order (the local runner's alone when
            there are no remote runners).
        """
        kwargs = {"state": weights, **kwargs}
        if self.env_runner_group.num_remote_env_runners() == 0:
            return [getattr(self.env_runner, method)(**kwargs)]
        return self.env_runner_group.foreach_env_runner(
            method, kwargs=kwargs, local_env_runner=False
        )

    def _sample_train_batch(self, weights: Any) -> list:
        """Rounds of one call per runner until the train batch is full (as RLlib's
        `synchronous_parallel_sample`): each runner samples its share (RLlib's
        rollout fragment length for it x its envs, with the sampling policy's
        log-probabilities and distribution inputs) and answers with its metrics,
        which go to the algorithm's `env_runners` results."""
        fragments: list = []
        runner_metrics: list = []
        steps = 0
        while steps < self.config.total_train_batch_size:
            results = self._sample_round(
                "sample_fragment_and_metrics",
                weights,
                num_timesteps=None,
                compact=True,
                policy_outputs=True,
            )
            weights = None  # the runners have them
            sampled = 0
            for runner_fragments, metrics in results:
                fragments += runner_fragments
                runner_metrics.append(metrics)
                sampled += sum(len(f) for f in runner_fragments)
            steps += sampled
            if sampled == 0:
                break
        self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
        return fragments

    def _env_steps_lifetime(self) -> int:
        """Env steps the runners have sampled so far (the learner's schedules run on it)."""
        return self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)

    def _update_learner(self, fragments: list, trained_lifetime_key: str) -> None:
        """One learner update on `fragments` (`num_epochs` over minibatches), its
        results aggregated into the algorithm's `learners` results.

        Args:
            fragments: The train batch's fragments.
            trained_lifetime_key: The lifetime count the algorithm's learner keeps
                (RLlib's PPO counts module steps, its APPO env steps); passed back so
                that schedules and the learner's lifetime metrics go on from it.
        """
        learner_results = self.learner_group.update(
            episodes=fragments,
            timesteps={
                NUM_ENV_STEPS_SAMPLED_LIFETIME: self._env_steps_lifetime(),
                trained_lifetime_key: self.metrics.peek(
                    (LEARNER_RESULTS, ALL_MODULES, trained_lifetime_key), default=0
                ),
            },
            num_epochs=self.config.num_epochs,
            minibatch_size=self.config.minibatch_size,
            shuffle_batch_per_epoch=self.config.shuffle_batch_per_epoch,
        )
        self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
