"""A new head for a held-out morphology on a frozen multi-task trunk (beyond the paper).

Starts from the committed vanilla multi-task checkpoint (six heads, 1M frames per
task), adds a seventh head for HalfCheetahBigLeg-v0 (never seen in training),
freezes the shared actor and critic trunks and the six old heads, and trains only
the new head (and its critic part) for 200k frames on BigLeg alone. Compare with
the same budget from scratch:

    rllib train file tuned_examples/a2c/halfcheetah_new_head.py
    rllib train file tuned_examples/a2c/halfcheetah_scratch.py --tasks HalfCheetahBigLeg-v0 \
        --stop-timesteps 200000

Evaluate the new head: rllib evaluate CHECKPOINT --head HalfCheetahBigLeg-v0 --tasks
HalfCheetahBigLeg-v0. For another held-out task, change NEW_TASK (the config is
`A2CConfig().new_head(checkpoint, task)`).
"""

from pathlib import Path

from mtrl_ray.algorithms.a2c import A2CConfig

CHECKPOINT = (
    Path(__file__).resolve().parents[2]
    / "results/vanilla_multitask_seed0/checkpoint/checkpoint_000250"
)
NEW_TASK = "HalfCheetahBigLeg-v0"

config = (
    A2CConfig()
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    .new_head(CHECKPOINT, NEW_TASK, trainable="heads")
)

stop = {"num_env_steps_sampled_lifetime": 200_000}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
