"""A Table 1 source: single-task A2C from scratch on one variant for 5M frames.

The paper's Table 1 starts fine-tuning from each environment's own agent "trained
... for 5M frames on each environment separately"; its scratch row is that agent on
its own environment. This is that agent under the matched protocol of the Table 2
runs: the paper's network (actor 2 x 64, critic 2 x 64, tanh), 16 envs, t_max = 5,
raw actions, RMSprop with the learning rate decayed linearly from 7e-4 to 0 over
the run's own 5M frames. A checkpoint every 250 iterations (1M frames).

How to run (E1 = SmallFoot, E2 = SmallLeg; resumable with `--resume`):
    rllib train file tuned_examples/a2c/halfcheetah_table1_source.py \\
        --tasks HalfCheetahSmallFoot-v0 --seeds 0 --checkpoint-every 250 \\
        --storage-path runs/table1_sources --name HalfCheetahSmallFoot-v0
    (the same with HalfCheetahSmallLeg-v0), then
    python tuned_examples/a2c/halfcheetah_finetune_table1.py \\
        --sources runs/table1_sources --seed 0 --frames 1000000,5000000

Results to expect (paper, Table 1, 5M frames): SmallFoot 1583 on SmallFoot, SmallLeg
1536 on SmallLeg. Ours, seed 0 (results/README.md, "Table 1, matched"): SmallLeg 1839
sampled; SmallFoot found a much faster gait at ~2M frames and ended at 3706 sampled.
"""

from mtrl_ray.algorithms.a2c import A2CConfig

FRAMES = 5_000_000

config = (
    A2CConfig()
    .multi_task(["HalfCheetahSmallFoot-v0"], runners_per_task=1)
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    # RLlib's schedule: [env steps sampled, lr] points, linear in between.
    .training(lr=[[0, 7e-4], [FRAMES, 0.0]])
)

stop = {"num_env_steps_sampled_lifetime": FRAMES}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
