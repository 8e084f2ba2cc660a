"""Vanilla multi-task APPO on the paper's six HalfCheetah variants (APPO in place of A2C).

The same multi-head network as the A2C experiment (shared 2 x 64 tanh actor trunk,
one Gaussian head per task; critic with one shared layer), trained with APPO on its
fast path: one pinned runner per task with 4 envs streams 128-step fragments (one
request always in flight, so the runners sample while the learner updates); the
learner, in the driver, takes 8 full-batch Adam steps (3e-4) on each
train batch of about 512 env steps per task (3072 in all), with v-trace targets
(gamma 0.99), the clipped surrogate (0.2) against a target policy synced once per
batch, and no entropy bonus. 1M frames per task (6M in all).

How to run:
    rllib train file tuned_examples/appo/halfcheetah_vanilla_multitask.py
    python tuned_examples/appo/halfcheetah_vanilla_multitask.py --stop-iters 2

Results to expect: not measured yet (no committed run). The A2C counterpart,
tuned_examples/a2c/halfcheetah_vanilla_multitask.py, lists the paper's Table 2.
"""

from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.envs import PAPER_TASKS

FRAMES_PER_TASK = 1_000_000

config = (
    MultiTaskAPPOConfig()
    .multi_task(PAPER_TASKS, runners_per_task=1)
    .env_runners(num_envs_per_env_runner=4)
    .training(train_batch_size_per_task=512, num_epochs=8)
)

stop = {"num_env_steps_sampled_lifetime": FRAMES_PER_TASK * len(PAPER_TASKS)}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
