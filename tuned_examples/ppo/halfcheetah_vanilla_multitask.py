"""Vanilla multi-task PPO on the paper's six HalfCheetah variants (PPO in place of A2C).

The same multi-head network as the A2C experiment (shared 2 x 64 tanh actor trunk,
one Gaussian head per task; critic with one shared layer), trained with RLlib's PPO:
2048 env steps per task per update (12288 in all), 10 epochs of minibatches of 64
samples per task (384 in all, so each head and the shared trunk get as many updates
per iteration as single-task PPO with minibatches of 64), Adam 3e-4, gamma 0.99,
GAE lambda 0.95, clip 0.2, no entropy bonus (Schulman et al. 2017, MuJoCo). One
pinned runner per task with 4 envs; 1M frames per task (6M in all).

How to run:
    rllib train file tuned_examples/ppo/halfcheetah_vanilla_multitask.py
    python tuned_examples/ppo/halfcheetah_vanilla_multitask.py --stop-iters 2

Results to expect (one seed, results/ppo/, 20 sampled episodes per task, 50 min on 2
cores): SmallFoot 4758, BigFoot 2588, SmallLeg -162 (it collapses now and then, here
in the last iteration; 1378 two iterations before), SmallThigh 1722, SmallTorso 4342,
BigTorso 1416. The paper's vanilla multi-task A2C (Table 2): 1481, 2188, 1525, 1874,
2276, 1429.
"""

from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.envs import PAPER_TASKS

FRAMES_PER_TASK = 1_000_000

config = (
    MultiTaskPPOConfig()
    .multi_task(PAPER_TASKS, runners_per_task=1)
    .env_runners(num_envs_per_env_runner=4)
    .training(
        train_batch_size_per_task=2048,
        minibatch_size=64 * len(PAPER_TASKS),
        num_epochs=10,
    )
)

stop = {"num_env_steps_sampled_lifetime": FRAMES_PER_TASK * len(PAPER_TASKS)}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
