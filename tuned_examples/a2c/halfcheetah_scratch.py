"""Single-task A2C from scratch on one HalfCheetah variant (Table 2, first column).

The paper's network (actor 2 x 64, critic 3 layers, tanh), 16 envs, t_max = 5,
RMSprop 7e-4, 3M frames. These runs are also the teachers for distillation.

How to run (the variant is chosen on the command line; default SmallFoot):
    rllib train file tuned_examples/a2c/halfcheetah_scratch.py --tasks HalfCheetahBigFoot-v0
    python tuned_examples/a2c/halfcheetah_scratch.py --tasks HalfCheetahSmallLeg-v0

Results to expect (paper, Table 2, 3M frames): SmallFoot 1326, BigFoot 38 (one seed
diverged), SmallLeg 1421, SmallThigh 1444, SmallTorso 2116, BigTorso 1313.
"""

from mtrl_ray.algorithms.a2c import A2CConfig

config = (
    A2CConfig()
    .multi_task(["HalfCheetahSmallFoot-v0"], runners_per_task=1)
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
)

stop = {"num_env_steps_sampled_lifetime": 3_000_000}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
