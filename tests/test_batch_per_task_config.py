"""PPO's and APPO's configs: train batches sized per task, pinned runners, tuned examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

TWO_TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]
EXAMPLES = Path(__file__).resolve().parents[1] / "tuned_examples"
COMMON_KEYS = (
    "env_config",
    "num_env_runners",
    "num_envs_per_env_runner",
    "train_batch_size_per_learner",
    "num_epochs",
    "lr",
    "gamma",
    "clip_param",
    "entropy_coeff",
    "grad_clip",
    "model_shape",
)
# (config class, per-task batch default, keys the .py and .yaml examples must agree on)
ALGORITHMS = {
    "ppo": (
        MultiTaskPPOConfig,
        2048,
        ("minibatch_size", "lambda_", "vf_clip_param", "use_kl_loss", "torch_compile_learner"),
    ),
    "appo": (MultiTaskAPPOConfig, 512, ("use_circular_buffer", "target_network_update_freq")),
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_config_defaults_and_validation(algorithm):
    config_cls, per_task, _ = ALGORITHMS[algorithm]
    config = config_cls().multi_task(TWO_TASKS, runners_per_task=2)
    assert config.num_env_runners == 4
    assert config.env_config["tasks"] == TWO_TASKS
    assert config.num_learners == 0
    # The same env steps per task per train batch, whatever the number of tasks.
    assert config.train_batch_size_per_learner == 2 * per_task
    envs = 4 * config.num_envs_per_env_runner  # 4 runners
    assert config.get_rollout_fragment_length(1) == 2 * per_task // envs
    config.validate()
    # An explicit total wins over the per-task default.
    assert config.copy().training(train_batch_size_per_learner=1000).total_train_batch_size == 1000
    with pytest.raises(ValueError, match="train_batch_size_per_task must be >= 1"):
        config.copy().training(train_batch_size_per_task=0).validate()

    config.num_env_runners = 3
    with pytest.raises(ValueError, match="multiple of the number of tasks"):
        config.validate()
    # A2C's knobs, which the command line's --update / --updates-per-iteration set.
    with pytest.raises(ValueError, match="A2C setting"):
        config_cls().training(updates_per_iteration=3)
    with pytest.raises(ValueError, match=f"{algorithm.upper()} updates all tasks jointly"):
        config_cls().training(multi_task_update="cycle")
    config_cls().training(multi_task_update="joint").validate()


@pytest.mark.parametrize("stem", ["halfcheetah_vanilla_multitask", "halfcheetah_single_task"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tuned_examples_agree_and_take_overrides(algorithm, stem):
    from mtrl_ray.cli import build_parser
    from mtrl_ray.cli.train import apply_command_line
    from mtrl_ray.tuned_example import load_tuned_example

    config_cls, _, own_keys = ALGORITHMS[algorithm]
    py = load_tuned_example(EXAMPLES / algorithm / f"{stem}.py")
    yml = load_tuned_example(EXAMPLES / algorithm / f"{stem}.yaml")
    assert py.stop == yml.stop
    assert isinstance(yml.config, config_cls)
    for key in COMMON_KEYS + own_keys:
        assert getattr(py.config, key) == getattr(yml.config, key), (stem, key)

    for example in (py, yml):
        per_task = example.config.train_batch_size_per_task
        argv = ["train", "file", "x.py", "--stop-iters", "1", "--envs-per-runner", "2"]
        args = build_parser().parse_args([*argv, "--tasks", ",".join(TWO_TASKS)])
        apply_command_line(example, args)
        example.config.validate()
        assert example.config.num_env_runners == 2
        assert example.config.train_batch_size_per_learner == 2 * per_task
        # Each runner's 2 envs fill its task's share of the train batch.
        assert example.config.get_rollout_fragment_length(1) == per_task // 2
