"""Single-task PPO on one HalfCheetah variant, 1M frames (the PPO baseline).

The paper's single-task network (actor 2 x 64, critic 3 layers, tanh) with RLlib's
PPO and the MuJoCo settings of Schulman et al. (2017): 2048 env steps per update,
10 epochs of minibatches of 64, Adam 3e-4, gamma 0.99, GAE lambda 0.95, clip 0.2.

How to run (the variant is chosen on the command line; default SmallFoot):
    rllib train file tuned_examples/ppo/halfcheetah_single_task.py --tasks HalfCheetahBigFoot-v0
    python tuned_examples/ppo/halfcheetah_single_task.py --tasks HalfCheetahSmallLeg-v0

Results to expect: not measured yet (no committed run). The A2C counterpart,
tuned_examples/a2c/halfcheetah_scratch.py, lists the paper's Table 2 (3M frames).
"""

from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

config = (
    MultiTaskPPOConfig()
    .multi_task(["HalfCheetahSmallFoot-v0"], runners_per_task=1)
    .env_runners(num_envs_per_env_runner=4)
    .training(train_batch_size_per_task=2048, minibatch_size=64, num_epochs=10)
)

stop = {"num_env_steps_sampled_lifetime": 1_000_000}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
