"""New heads for held-out bodies on the frozen cross-family trunk (issue 21).

Starts from the committed cross-family agent (`cross_family_multitask.py`, seed 0:
HalfCheetah, Walker2d and Hopper, two variants each, 1M frames per task), adds one
head for each family's held-out BigLeg variant, freezes the shared trunks and the six
old heads, and trains only the new heads (and their critic parts, and their own input
layers) for 200k frames per new task. With the trunks frozen and the cycle update each
new head learns as in a run of its own. Compare with the same budget from scratch
(three independent agents, the same constant learning rate):

    rllib train file tuned_examples/a2c/cross_family_new_head.py --seed 0
    rllib train file tuned_examples/a2c/cross_family_scratch_independent.py --seed 0 \\
        --tasks HalfCheetahBigLeg-v0,Walker2dBigLeg-v0,HopperBigLeg-v0 \\
        --stop-timesteps 600000 --config '{"lr": 0.0007}'

Evaluate: rllib evaluate CHECKPOINT --tasks HalfCheetahBigLeg-v0,Walker2dBigLeg-v0,HopperBigLeg-v0
Results: results/README.md, "One agent across body families".
"""

from pathlib import Path

from mtrl_ray.algorithms.a2c import A2CConfig

CHECKPOINT = (
    Path(__file__).resolve().parents[2]
    / "results/cross_family_multitask_seed0/checkpoint/checkpoint_000009"
)
NEW_TASKS = ("HalfCheetahBigLeg-v0", "Walker2dBigLeg-v0", "HopperBigLeg-v0")

config = (
    A2CConfig()
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    .new_head(CHECKPOINT, NEW_TASKS, trainable="heads")
)

stop = {"num_env_steps_sampled_lifetime": 200_000 * len(NEW_TASKS)}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
