"""RLlib's PPO with the multi-head module on pinned runners: real Ray, real envs."""

from __future__ import annotations

import numpy as np
import pytest
from ray.rllib.core import DEFAULT_MODULE_ID

from mtrl_ray import metrics
from mtrl_ray.algorithms.complete_checkpoints import learner_weights
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.envs.point_mass import POINT_MASS_ID
from mtrl_ray.evaluation import evaluate_checkpoint, evaluate_kinds

TWO_TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]
STEPS_PER_TASK = 64


@pytest.mark.slow
def test_two_tasks_on_pinned_runners(ray_local):
    config = (
        MultiTaskPPOConfig()
        .multi_task(TWO_TASKS, runners_per_task=1)
        .env_runners(num_envs_per_env_runner=2, num_cpus_per_env_runner=0.25)
        .training(train_batch_size_per_task=STEPS_PER_TASK, minibatch_size=32, num_epochs=2)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        result = algo.train()
        group = algo.env_runner_group
        pinned = group.foreach_env_runner(
            lambda r: (r.worker_index, r.task_name), local_env_runner=False
        )
        assert pinned == [(1, TWO_TASKS[0]), (2, TWO_TASKS[1])]

        per_task = result["env_runners"][metrics.PER_TASK]
        assert set(per_task) == set(TWO_TASKS)
        assert [per_task[t][metrics.NUM_ENV_STEPS] for t in TWO_TASKS] == [STEPS_PER_TASK] * 2
        # A multi-task batch without task ids raises in the module (GAE values and
        # loss), so a finished update already shows the ids reached the learner.
        assert result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained"] > 0

        # Each task's statistics grew by exactly its own samples (bootstrap rows
        # skipped), once per train batch, and the runners received them: on the
        # fast path (the default) with the next iteration's sample request, so a
        # runner holds the weights it last sampled with.
        def runner_counts():
            return group.foreach_env_runner(
                lambda r: r.module.obs_normalizer.count.tolist(), local_env_runner=False
            )

        counts = learner_weights(algo)["obs_normalizer.count"].tolist()
        assert counts == [STEPS_PER_TASK] * 2
        assert runner_counts() == [[0.0, 0.0]] * 2

        algo.train()
        assert runner_counts() == [counts, counts]
        counts = learner_weights(algo)["obs_normalizer.count"].tolist()
        assert counts == [2 * STEPS_PER_TASK] * 2
    finally:
        algo.stop()


def _mean_return(algo, episodes: int = 20) -> float:
    returns = algo.env_runner_group.foreach_env_runner(
        lambda r: [e.get_return() for e in r.sample(num_episodes=episodes, explore=False)],
        local_env_runner=False,
    )
    return float(np.mean([x for rs in returns for x in rs]))


@pytest.mark.slow
def test_ppo_learns_point_mass(ray_local, tmp_path):
    """Return rises well past random; the checkpoint evaluates like the trained policy."""
    config = (
        MultiTaskPPOConfig()
        .multi_task([POINT_MASS_ID], runners_per_task=1)
        .env_runners(num_envs_per_env_runner=8, num_cpus_per_env_runner=0.5)
        .training(
            train_batch_size_per_task=1000, minibatch_size=250, num_epochs=5, lr=3e-3, gamma=0.95
        )
        .debugging(seed=1)
    )
    algo = config.build_algo()
    try:
        random_return = _mean_return(algo)
        # Random: the mass drifts (about -50 per episode); a good policy reaches and
        # holds 0. Up to 20 iterations, checked every 5.
        target = random_return + 0.5 * abs(random_return)
        for _ in range(4):
            for _ in range(5):
                result = algo.train()
            trained = _mean_return(algo)
            if trained > target:
                break
        checkpoint = algo.save_to_path(tmp_path / "checkpoint")  # manifest included
    finally:
        algo.stop()
    print(f"point mass PPO: random {random_return:.1f} -> trained {trained:.1f}")
    assert metrics.EPISODE_RETURN_MEAN in result["env_runners"][metrics.PER_TASK][POINT_MASS_ID]
    assert trained > target, (random_return, trained)

    (evaluated,) = evaluate_checkpoint(checkpoint, episodes=10, deterministic=True)
    assert evaluated.task == POINT_MASS_ID
    assert evaluated.mean > target, evaluated
    # Both kinds on one set of runners, the mean action first: each kind's episodes
    # as on runners of their own (the envs are seeded again at every sample call).
    both = evaluate_kinds(checkpoint, episodes=10, kinds=(True, False))
    (sampled,) = evaluate_checkpoint(checkpoint, episodes=10, deterministic=False)
    assert both[True][0].returns == evaluated.returns
    assert both[False][0].returns == sampled.returns
    assert sampled.returns != evaluated.returns  # the two kinds act differently


def test_per_task_shares_sum_to_ppo_loss_and_weights_apply():
    """PCGrad / task weights split RLlib's PPO loss by task without changing it."""
    import torch
    from conftest import ACT_SPACE, OBS_SPACE
    from ray.rllib.core.columns import Columns
    from ray.rllib.evaluation.postprocessing import Postprocessing

    from mtrl_ray.columns import TASK_ID

    def learner_and_loss(**training):
        config = MultiTaskPPOConfig().multi_task(TWO_TASKS).training(**training)
        learner = config.build_learner(spaces={DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)})
        torch.manual_seed(0)
        learner.module[DEFAULT_MODULE_ID].load_state_dict(reference)
        g = torch.Generator().manual_seed(1)
        n = 12
        batch = {
            Columns.OBS: torch.randn(n, 17, generator=g),
            TASK_ID: torch.tensor([0] * 5 + [1] * 7),
            Columns.ACTIONS: torch.randn(n, 6, generator=g),
            Columns.ACTION_LOGP: torch.randn(n, generator=g) - 6.0,
            Postprocessing.ADVANTAGES: torch.randn(n, generator=g),
            Postprocessing.VALUE_TARGETS: torch.randn(n, generator=g),
            Columns.LOSS_MASK: torch.ones(n, dtype=torch.bool),
        }
        module = learner.module[DEFAULT_MODULE_ID]
        batch[Columns.ACTION_DIST_INPUTS] = module.forward_train(batch)[
            Columns.ACTION_DIST_INPUTS
        ].detach()
        loss = learner.compute_loss_for_module(
            module_id=DEFAULT_MODULE_ID,
            config=learner.config,
            batch=batch,
            fwd_out=module.forward_train(batch),
        )
        # The per-task shares (what PCGrad and the task weights take).
        parts = learner.per_task_losses(
            module_id=DEFAULT_MODULE_ID,
            config=learner.config,
            batch=batch,
            fwd_out=module.forward_train(batch),
        )
        return list(parts.shares.values()), loss

    base = MultiTaskPPOConfig().multi_task(TWO_TASKS)
    reference = (
        base.build_learner(spaces={DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)})
        .module[DEFAULT_MODULE_ID]
        .state_dict()
    )
    _, plain = learner_and_loss()
    shares, split = learner_and_loss(pcgrad=True)
    torch.testing.assert_close(split, plain)
    assert len(shares) == 2
    torch.testing.assert_close(sum(shares), plain)
    _, weighted = learner_and_loss(task_loss_weights={TWO_TASKS[1]: 0.0})
    torch.testing.assert_close(weighted, shares[0])  # task 1 weighted out


def test_reward_normalization_scales_the_batch_not_the_metrics():
    """PPO's runner divides rewards by the return std; episode metrics stay raw.

    On RLlib's loop (`fast_path=False`: the runner's `sample`), whose env keeps the
    step infos that hold HalfCheetah's reward terms.
    """
    from types import SimpleNamespace

    from ray.tune.registry import register_env

    from mtrl_ray.connectors.return_scaler import ReturnScaler
    from mtrl_ray.runners.pinned_env_runner import PinnedEnvRunner
    from mtrl_ray.tasks import PINNED_ENV, make_pinned_env

    config = (
        MultiTaskPPOConfig()
        .multi_task([TWO_TASKS[0]], runners_per_task=1)
        .env_runners(num_envs_per_env_runner=2)
        .training(normalize_rewards=True, fast_path=False)
    )
    # A runner in this process, without Ray. Tune's env registry keeps entries made
    # before a Ray session only until that session stores them, so after an earlier
    # test's Ray has come and gone the pinned env must be registered again.
    register_env(PINNED_ENV, make_pinned_env)
    runner = PinnedEnvRunner(config=config, worker_index=1)
    try:
        chunks = runner.sample(num_timesteps=2 * 1100)  # each env ends one episode
        replay = ReturnScaler(gamma=config.gamma)
        finished = []
        for chunk in chunks:
            # HalfCheetah's reward, as the env computed it, is in the step infos.
            infos = chunk.get_infos()[1:]
            raw = np.array([i["reward_forward"] + i["reward_ctrl"] for i in infos])
            raw_chunk = SimpleNamespace(
                id_=chunk.id_, is_done=chunk.is_done, get_rewards=lambda raw=raw: raw
            )
            np.testing.assert_allclose(chunk.get_rewards(), replay.scale(raw_chunk), rtol=1e-5)
            assert np.abs(raw / chunk.get_rewards() - 1).max() > 0.5  # really rescaled
            if chunk.is_done:
                finished.append(raw.sum())
        assert len(finished) == 2
        per_task = runner.get_metrics()[metrics.PER_TASK][TWO_TASKS[0]]
        logged = per_task[metrics.EPISODE_RETURN_MEAN].peek()
        assert logged == pytest.approx(np.mean(finished), rel=1e-4)
    finally:
        runner.stop()
