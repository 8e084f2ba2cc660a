"""Single-task APPO on one HalfCheetah variant, 1M frames (the APPO baseline).

The paper's single-task network (actor 2 x 64, critic 3 layers, tanh) with APPO on
its fast path: one runner with 4 envs streams 128-step fragments (one request always
in flight, so it samples while the learner updates); the learner, in the driver,
takes 8 full-batch Adam steps (3e-4) on each 512-step train batch, with v-trace
targets (gamma 0.99), the clipped surrogate (0.2) against a target policy synced
once per batch, and no entropy bonus.

How to run (the variant is chosen on the command line; default SmallFoot):
    rllib train file tuned_examples/appo/halfcheetah_single_task.py --tasks HalfCheetahBigFoot-v0
    python tuned_examples/appo/halfcheetah_single_task.py --tasks HalfCheetahSmallLeg-v0

Results to expect: not measured yet (no committed run). The A2C counterpart,
tuned_examples/a2c/halfcheetah_scratch.py, lists the paper's Table 2 (3M frames).
"""

from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig

config = (
    MultiTaskAPPOConfig()
    .multi_task(["HalfCheetahSmallFoot-v0"], runners_per_task=1)
    .env_runners(num_envs_per_env_runner=4)
    .training(train_batch_size_per_task=512, num_epochs=8)
)

stop = {"num_env_steps_sampled_lifetime": 1_000_000}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
