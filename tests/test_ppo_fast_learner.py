"""PPO's fast-path learner: RLlib's update in a loop of its own, the same parameters.

Two learners start from the same weights; one runs RLlib's `PPOTorchLearner.update`
(`fast_path=False`: its minibatch iterator and per-minibatch path), the other the
fast path's own epochs loop, on the same train batch with the same minibatch order
(unshuffled: RLlib's order is then known). Every parameter, the Adam state's effect
and the normalizer statistics must agree afterwards, with PCGrad, task weights, a
binding value clip, gradient clipping and the adaptive KL term, and compiled
(`torch_compile_learner`). Also: the
vectorized GAE equals RLlib's `compute_value_targets`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ACT_SPACE, OBS_SPACE
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets

from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.algorithms.ppo.minibatch_loop import minibatch_order
from mtrl_ray.columns import TASK_ID
from mtrl_ray.connectors.fragment_gae import value_targets

TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0", "HalfCheetahSmallLeg-v0"]
SPACES = {DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)}
N = 60  # rows, some masked (bootstrap rows as RLlib's batches have them)


def _batch(module, num_tasks: int = len(TASKS)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    batch = {
        Columns.OBS: torch.randn(N, 17, generator=g) * 2,
        TASK_ID: torch.randint(0, num_tasks, (N,), generator=g),
        Columns.ACTIONS: torch.randn(N, 6, generator=g),
        Columns.ADVANTAGES: torch.randn(N, generator=g),
        Columns.VALUE_TARGETS: torch.randn(N, generator=g) * 3,
        Columns.LOSS_MASK: torch.rand(N, generator=g) > 0.1,
    }
    with torch.no_grad():
        inputs = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    pi = module.get_train_action_dist_cls().from_logits(inputs)
    # The sampling policy: a little off the current one, so that ratios clip.
    batch[Columns.ACTION_LOGP] = pi.logp(batch[Columns.ACTIONS]) + 0.3 * torch.randn(
        N, generator=g
    )
    noise = 0.05 * torch.randn(inputs.shape, generator=g)
    noise[:, 12:] = 0.0  # across body families, the action mask stays as it is
    batch[Columns.ACTION_DIST_INPUTS] = inputs + noise
    return batch


def _trained(
    fast_path: bool, start: dict, batch: dict, tasks=TASKS, compiled=False, **training
) -> dict:
    config = (
        MultiTaskPPOConfig()
        .multi_task(tasks)
        .training(fast_path=fast_path, minibatch_size=20, num_epochs=3, **training)
        .framework(torch_compile_learner=compiled)
    )
    learner = config.build_learner(spaces=SPACES)
    learner.module[DEFAULT_MODULE_ID].load_state_dict(start)
    torch.manual_seed(11)  # PCGrad's task order
    np.random.seed(11)
    for _ in range(2):  # two updates: Adam's state carries over
        learner.update(
            batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(dict(batch))}, env_steps=N),
            num_epochs=config.num_epochs,
            minibatch_size=config.minibatch_size,
            shuffle_batch_per_epoch=False,
        )
    kl_coeff = float(learner.curr_kl_coeffs_per_module[DEFAULT_MODULE_ID])
    state = learner.module[DEFAULT_MODULE_ID].state_dict()
    return {**state, "kl_coeff": torch.tensor(kl_coeff)}


def _start(tasks=TASKS) -> tuple[dict, dict, object]:
    """Starting weights of a fresh module, a batch for it, and the module."""
    reference = MultiTaskPPOConfig().multi_task(tasks).build_learner(spaces=SPACES)
    module = reference.module[DEFAULT_MODULE_ID]
    start = {k: v.clone() for k, v in module.state_dict().items()}
    return start, _batch(module, num_tasks=len(tasks)), module


def _assert_same(fast: dict, rllib: dict) -> None:
    for key, value in rllib.items():
        torch.testing.assert_close(fast[key], value, rtol=1e-4, atol=1e-5, msg=key)


# The plain case stays in the fast lane; the loss variants (~1-2 s each) run in the
# full suite.
@pytest.mark.parametrize(
    "training",
    [
        {},
        pytest.param({"pcgrad": True}, marks=pytest.mark.slow),
        pytest.param({"task_loss_weights": {TASKS[0]: 0.5, TASKS[2]: 2.0}}, marks=pytest.mark.slow),
        pytest.param(
            {"vf_clip_param": 1.0, "entropy_coeff": 0.01, "grad_clip": 0.5},
            marks=pytest.mark.slow,
        ),
        pytest.param(
            {"use_kl_loss": True, "kl_coeff": 0.3, "kl_target": 1e-4}, marks=pytest.mark.slow
        ),
    ],
    ids=["plain", "pcgrad", "task-weights", "clips-entropy", "kl"],
)
def test_fast_loop_gives_rllibs_parameters(training):
    start, batch, _ = _start()
    rllib = _trained(False, start, batch, **training)
    fast = _trained(True, start, batch, **training)
    _assert_same(fast, rllib)
    moved = max(
        float((value - start[key]).abs().max())
        for key, value in rllib.items()
        if key in start and value.is_floating_point()
    )
    assert moved > 1e-3  # the updates changed the weights (the comparison is not vacuous)
    assert fast["obs_normalizer.count"].sum() == 2 * batch[Columns.LOSS_MASK].sum()


def test_the_comparison_catches_a_loss_that_differs():
    """A fast path whose loss is off by one term's setting (another PPO clip) fails the
    comparison above: its tolerances do not hide a difference in the loss."""
    start, batch, _ = _start()
    rllib = _trained(False, start, batch, clip_param=0.3)
    fast = _trained(True, start, batch, clip_param=0.1)
    with pytest.raises(AssertionError):
        _assert_same(fast, rllib)


@pytest.mark.slow
def test_fast_loop_gives_rllibs_parameters_across_body_families():
    """HalfCheetah + Hopper: padded spaces, per-task input layers, the masked Gaussian."""
    tasks = ("HalfCheetahSmallFoot-v0", "HopperSmallFoot-v0")
    start, batch, module = _start(tasks)
    assert module.cfg.mixed
    rllib = _trained(False, start, batch, tasks=tasks, use_kl_loss=True, kl_coeff=0.2)
    fast = _trained(True, start, batch, tasks=tasks, use_kl_loss=True, kl_coeff=0.2)
    _assert_same(fast, rllib)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tasks", "training"),
    [
        (TASKS, {"entropy_coeff": 0.01, "task_loss_weights": {TASKS[1]: 2.0}}),
        (("HalfCheetahSmallFoot-v0", "HopperSmallFoot-v0"), {"use_kl_loss": True}),
    ],
    ids=["one-family", "across-body-families-kl"],
)
def test_compiled_fast_loop_gives_rllibs_parameters(tasks, training):
    """`torch_compile_learner`: each minibatch's forward and loss one compiled graph
    (inductor, ~10-15 s to compile), the same parameters as RLlib's eager update.

    (Not across one family with the KL term: torch's `kl_divergence` dispatch breaks
    the graph there; the loss is still right, in two graphs.)
    """
    from torch._dynamo.utils import counters

    start, batch, _ = _start(tasks)
    rllib = _trained(False, start, batch, tasks=tasks, **training)
    counters.clear()
    compiled = _trained(True, start, batch, tasks=tasks, compiled=True, **training)
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"] and not counters["recompiles"]
    _assert_same(compiled, rllib)


def test_minibatch_order_is_rllibs_cycle_and_shuffles_every_pass():
    order = [m.tolist() for m in minibatch_order(10, 4, 2, shuffle=False)]
    # RLlib's cyclic iterator: ceil(2 x 10 / 4) = 5 minibatches over the batch in order.
    assert order == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]]
    rng = np.random.default_rng(0)
    shuffled = np.concatenate(list(minibatch_order(12, 4, 2, shuffle=True, rng=rng)))
    assert sorted(shuffled[:12]) == list(range(12)) and sorted(shuffled[12:]) == list(range(12))
    assert list(shuffled[:12]) != list(range(12))


@pytest.mark.parametrize("lambda_", [0.95, 1.0, 0.0])
def test_vectorized_gae_equals_rllibs(lambda_):
    rng = np.random.default_rng(1)
    n = 500
    values = rng.normal(size=n).astype(np.float32) * 50
    rewards = rng.normal(size=n).astype(np.float32)
    terminateds, truncateds = np.zeros(n), np.zeros(n)
    ends = rng.choice(n - 1, 12, replace=False)
    terminateds[ends[:4]] = 1.0
    truncateds[ends[4:]] = 1.0
    want = compute_value_targets(values, rewards, terminateds, truncateds, 0.99, lambda_)
    got = value_targets(values, rewards, terminateds > 0, truncateds > 0, 0.99, lambda_)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
