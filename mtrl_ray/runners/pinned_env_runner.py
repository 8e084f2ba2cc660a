"""An EnvRunner that runs one task, says so, and samples a fragment per call."""

from __future__ import annotations

import copy
import pickle
from typing import Any

from ray.rllib.core import COMPONENT_MODULE_TO_ENV_CONNECTOR
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.annotations import override

from mtrl_ray import _rllib_compat as compat
from mtrl_ray import metrics, monitoring
from mtrl_ray.connectors.lean_gaussian import SampleDiagGaussian
from mtrl_ray.connectors.return_scaler import ReturnScaler
from mtrl_ray.runners.fragment_sampler import FragmentSampler
from mtrl_ray.runners.info_free_step import InfoFreeStep


class PinnedEnvRunner(SingleAgentEnvRunner):
    """A `SingleAgentEnvRunner` whose envs all belong to one task.

    Its `repr` names the task, which is what the Ray dashboard's Actors table shows
    (RLlib gives runner actors no names).
    """

    @property
    def task_name(self) -> str | None:
        """Environment id of the pinned task (None on a runner without envs)."""
        return self._pinned_task[0]

    @property
    def task_id(self) -> int | None:
        """Task id (= head index) of the pinned task (None on a runner without envs)."""
        return self._pinned_task[1]

    @property
    def _pinned_task(self) -> tuple[str | None, int | None]:
        """(task name, task id), read from the envs once per env object (RLlib may
        make new envs): asking all the sub-envs took 0.2 ms of each A2C round's call."""
        env = self.env
        cached = getattr(self, "_task_of_env", None)
        if cached is None or cached[0] is not env:
            if env is None:
                task: tuple[str | None, int | None] = (None, None)
            else:
                vector_env = env.unwrapped
                task = (vector_env.get_attr("task_name")[0], int(vector_env.get_attr("task_id")[0]))
            self._task_of_env = cached = (env, task)
        return cached[1]

    @override(SingleAgentEnvRunner)
    def make_env(self) -> None:
        """RLlib's vector env; on the fast path (`lean_sampling`), stepped by `InfoFreeStep`."""
        super().make_env()
        if getattr(self.config, "lean_sampling", False) and self.env is not None:
            self.env: Any = InfoFreeStep(self.env)

    def sample_fragment(
        self,
        *,
        state: Any = None,
        num_timesteps: int | None,
        compact: bool,
        policy_outputs: bool = False,
    ) -> list:
        """Loads new weights (if given: see `load_weights`), samples `num_timesteps` env steps.

        One remote call per A2C update instead of two (weight sync, then sample):
        with t_max = 5 steps a call costs about as much as the stepping itself.
        With `compact` (A2C's lean connectors), a `FragmentSampler` steps the envs
        and returns one `Fragment` of numpy columns: the same data as RLlib's
        sampling loop, without its per-step episode bookkeeping, and far cheaper
        to send than episode objects (with `policy_outputs`, also the sampling
        policy's action log-probabilities and distribution inputs, for PPO).
        Otherwise RLlib's loop returns episodes. `num_timesteps=None`: RLlib's
        default for this runner (its rollout fragment length x its envs).
        """
        self.load_weights(state)
        if num_timesteps is None:
            fragment_length = self.config.get_rollout_fragment_length(self.worker_index)
            num_timesteps = fragment_length * self.num_envs
        if not compact:
            return self._counted_sample(num_timesteps=num_timesteps)
        scaler = self._reward_scaler
        fragment, steps, finished = self._fragment_sampler.sample(
            self.module,
            num_timesteps,
            explore=self.config.explore,
            reward_scaler=None if scaler is None else scaler.scale_chunk,
            policy_outputs=policy_outputs,
        )
        # What RLlib's loop and `get_metrics` log for the same samples.
        compat.log_sampled(self, [(e.length, e.ret, e.seconds) for e in finished], steps)
        self._count_steps(steps)
        return [fragment]

    def sample_fragment_and_metrics(self, **kwargs: Any) -> tuple[list, Any]:
        """`sample_fragment`, then `get_metrics()`: a whole PPO round in one remote call."""
        return self.sample_fragment(**kwargs), self.get_metrics()

    def load_weights(self, state: Any) -> None:
        """Sets the runner's state from a state dict, its pickle (bytes) or nothing (None)."""
        if isinstance(state, bytes):
            # From the driver's algorithm (A2C._current_weights), never from a user.
            state = pickle.loads(state)
        if state is not None:
            self.set_state(state)

    @property
    def _fragment_sampler(self) -> FragmentSampler:
        """The lean sampling loop (built on first use; it owns the envs from then on)."""
        if getattr(self, "_sampler", None) is None:
            module_to_env = dict(self.get_checkpointable_components())[
                COMPONENT_MODULE_TO_ENV_CONNECTOR
            ]
            pieces = [c for c in module_to_env.connectors if isinstance(c, SampleDiagGaussian)]
            if not pieces:
                raise ValueError("compact sampling needs the lean connectors (SampleDiagGaussian)")
            task_id = self.task_id
            if task_id is None:
                raise ValueError("compact sampling needs a runner with envs (a pinned task)")
            self._sampler = FragmentSampler(
                env=self.env,
                sample_actions=pieces[0],
                task_id=task_id,
                seed=compat.runner_seed(self),
            )
        return self._sampler

    @property
    def _reward_scaler(self) -> ReturnScaler | None:
        """This runner's reward normalizer, if `config.normalize_rewards` is on."""
        if not getattr(self.config, "normalize_rewards", False):
            return None
        if getattr(self, "_return_scaler", None) is None:
            self._return_scaler = ReturnScaler(gamma=self.config.gamma)
        return self._return_scaler

    @override(SingleAgentEnvRunner)
    def sample(self, **kwargs) -> list:
        """RLlib's sampling (PPO and APPO call this), with rewards normalized if asked.

        With `config.normalize_rewards`, the returned training chunks carry rewards
        divided by the running std of this task's discounted return. Episode returns
        in the metrics are logged inside RLlib's sampling, before this, so they stay
        in the environment's units; evaluation runners never scale.
        """
        episodes = self._counted_sample(**kwargs)
        scaler = self._reward_scaler
        if scaler is None or self.config.in_evaluation:
            return episodes
        scaled = []
        for episode in episodes:  # each episode's chunks come in time order
            # A copy: RLlib computes the episode metrics later, from these objects.
            chunk = copy.deepcopy(episode)
            chunk.set_rewards(new_data=scaler.scale(episode))
            scaled.append(chunk)
        return scaled

    def _counted_sample(self, **kwargs) -> list:
        """RLlib's sampling, counted for the per-task Prometheus step counter.

        Every algorithm's runners sample through here (A2C's `sample_fragment`,
        RLlib's PPO and APPO via `sample`), so all of them export their steps.
        """
        episodes = super().sample(**kwargs)
        self._count_steps(sum(len(e) for e in episodes))
        return episodes

    def _count_steps(self, steps: int) -> None:
        """Adds training env steps to `mtrl_env_steps_total` (evaluation's are not counted)."""
        if self.task_name is None or steps == 0 or self.config.in_evaluation:
            return
        monitoring.runner_metrics()[1].inc(steps, tags=self._metric_tags)

    @property
    def _metric_tags(self) -> dict[str, str]:
        """This runner's Prometheus tags: the run's (from the config) and its task."""
        if getattr(self, "_tags", None) is None:
            run = monitoring.complete_run_tags(getattr(self.config, "metrics_tags", None))
            self._tags = {**run, monitoring.TASK_TAG: str(self.task_name)}
        return self._tags

    @override(SingleAgentEnvRunner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _log_episode_metrics(self, length, ret, sec) -> None:
        super()._log_episode_metrics(length, ret, sec)
        if not self.config.in_evaluation:  # like the step counter: training episodes
            monitoring.observe_return(ret, self._metric_tags)
        # Keyed by task so that aggregation merges runners of the same task only.
        key = (metrics.PER_TASK, self.task_name)
        window = self.config.metrics_num_episodes_for_smoothing
        self.metrics.log_value((*key, metrics.EPISODE_RETURN_MEAN), ret, window=window)
        self.metrics.log_value((*key, metrics.NUM_EPISODES), 1, reduce="lifetime_sum")

    @override(SingleAgentEnvRunner)  # private: see _rllib_compat.PRIVATE_OVERRIDES
    def _increase_sampled_metrics(self, num_steps, num_episodes_completed):
        if num_steps and self.task_name is not None:
            self.metrics.log_value(
                (metrics.PER_TASK, self.task_name, metrics.NUM_ENV_STEPS),
                num_steps,
                reduce="lifetime_sum",
            )
        return super()._increase_sampled_metrics(num_steps, num_episodes_completed)

    @override(SingleAgentEnvRunner)
    def __repr__(self) -> str:
        kind = "EvalEnvRunner" if self.config.in_evaluation else "EnvRunner"
        return f"{kind}(task={self.task_name}, worker={self.worker_index})"
