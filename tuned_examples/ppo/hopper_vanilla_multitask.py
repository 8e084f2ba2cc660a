"""Vanilla multi-task PPO on the eight Hopper body-part variants of gym-extensions.

Small (0.75) and Big (1.25) Foot, Leg, Thigh and Torso of gymnasium's Hopper-v5
(`mtrl_ray.envs.FAMILIES["Hopper"]`); episodes end early when the body falls. The
multi-head network of `tuned_examples/a2c/hopper_vanilla_multitask.py` (shared 2 x 64
tanh actor trunk, one Gaussian head per task, critic with one shared layer) trained
with the settings of the HalfCheetah PPO example: 2048 env steps per task per update,
10 epochs of minibatches of 64 samples per task, Adam 3e-4 annealed linearly to 0,
gamma 0.99, GAE lambda 0.95, clip 0.2, no entropy bonus. The heads start at log-std 0
(Schulman et al. 2017): the -1 of the HalfCheetah example answers HalfCheetah's
control cost (0.1 per unit of squared action), and Hopper's is a hundredth of it.
One pinned runner per task with 4 envs; 1M frames per task (8M in all).

How to run (`tensorboard --logdir runs/` to watch):
    rllib train file tuned_examples/ppo/hopper_vanilla_multitask.py
    python tuned_examples/ppo/hopper_vanilla_multitask.py --stop-iters 1

Results to expect: not measured yet (the A2C family runs come first; results/README.md).
"""

from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.envs import FAMILIES

TASKS = tuple(FAMILIES["Hopper"])
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
)

stop = {"num_env_steps_sampled_lifetime": FRAMES_PER_TASK * len(TASKS)}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
