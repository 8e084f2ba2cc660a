"""Vanilla multi-task PPO across body families: two variants each of HalfCheetah, Walker2d, Hopper.

The cross-family module of `tuned_examples/a2c/cross_family_multitask.py` (padded
spaces, one input layer per task, shared trunk, per-task heads, the Gaussian masked to
each task's own action dims) trained with RLlib's PPO, with the settings of the
HalfCheetah PPO example: 2048 env steps per task per update, 10 epochs of minibatches
of 64 samples per task, Adam 3e-4 annealed linearly to 0, gamma 0.99, GAE lambda 0.95,
clip 0.2, no entropy bonus, initial log-std -1. One pinned runner per task with 4
envs; 1M frames per task.

How to run:
    rllib train file tuned_examples/ppo/cross_family_multitask.py
    python tuned_examples/ppo/cross_family_multitask.py --stop-iters 1

Results to expect: not measured yet (issue 21, item 4).
"""

from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

TASKS = (
    "HalfCheetahSmallFoot-v0",
    "HalfCheetahBigTorso-v0",
    "Walker2dSmallFoot-v0",
    "Walker2dBigTorso-v0",
    "HopperSmallFoot-v0",
    "HopperBigTorso-v0",
)
FRAMES_PER_TASK = 1_000_000

config = (
    MultiTaskPPOConfig()
    .multi_task(TASKS, runners_per_task=1)
    .env_runners(num_envs_per_env_runner=4)
    # Each minibatch's forward and loss one compiled graph: 1.24x the HalfCheetah
    # example's env steps/s (benchmarks/throughput_compile.md, (e)/(e0)); needs
    # g++ where the learner runs.
    .framework(torch_compile_learner=True)
    .training(
        train_batch_size_per_task=2048,
        minibatch_size=64 * len(TASKS),
        num_epochs=10,
        lr=[[0, 3e-4], [FRAMES_PER_TASK * len(TASKS), 0.0]],
    )
    .rl_module(model_config={"initial_log_std": -1.0, "input_layer": "task"})
)

stop = {"num_env_steps_sampled_lifetime": FRAMES_PER_TASK * len(TASKS)}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
