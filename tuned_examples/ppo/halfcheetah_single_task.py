"""Single-task PPO on one HalfCheetah variant, 1M frames (the PPO baseline).

The paper's single-task network (actor 2 x 64, critic 3 layers, tanh) with RLlib's
PPO and the MuJoCo settings of Schulman et al. (2017): 2048 env steps per update,
10 epochs of minibatches of 64, Adam 3e-4 annealed linearly to 0 over the run, gamma
0.99, GAE lambda 0.95, clip 0.2; the Gaussian starts at log-std -1, as in the
multi-task tuned example (so the two compare like for like).

How to run (the variant is chosen on the command line; default SmallFoot):
    rllib train file tuned_examples/ppo/halfcheetah_single_task.py --tasks HalfCheetahBigFoot-v0
    python tuned_examples/ppo/halfcheetah_single_task.py --tasks HalfCheetahSmallLeg-v0

Results to expect (one seed each, results/ppo/ppo_single_task_logstd1/, 20 episodes,
mean action / sampled): SmallFoot 6624 / 6117, BigFoot 5252 / 4829; the multi-task
tuned example reaches 6690 / 6073 and 5486 / 4471 on them with 1M frames per task.
"""

from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig

config = (
    MultiTaskPPOConfig()
    .multi_task(["HalfCheetahSmallFoot-v0"], runners_per_task=1)
    .env_runners(num_envs_per_env_runner=4)
    # Each minibatch's forward and loss one compiled graph: 1.24x the HalfCheetah
    # example's env steps/s (benchmarks/throughput_compile.md, (e)/(e0)); needs
    # g++ where the learner runs.
    .framework(torch_compile_learner=True)
    .training(
        train_batch_size_per_task=2048,
        minibatch_size=64,
        num_epochs=10,
        lr=[[0, 3e-4], [1_000_000, 0.0]],
    )
    .rl_module(model_config={"initial_log_std": -1.0})
)

stop = {"num_env_steps_sampled_lifetime": 1_000_000}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
