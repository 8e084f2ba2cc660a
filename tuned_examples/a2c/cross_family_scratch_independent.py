"""Single-task A2C from scratch on the cross-family task set: six independent agents.

The baseline of `cross_family_multitask.py`, at the same frames per task (1M), tasks
and settings, as `walker2d_scratch_independent.py` is for Walker2d: one network per
task with nothing shared (`actor_shared_layers=0`, `critic_shared_layers=0`), one
RMSprop per task (`optimizer_per_task`) and each task's own first layer, so each
task's parameters, optimizer state and observation statistics move on its own
samples only; the six share the runners' rounds (one run instead of six). The
learning rate decays linearly from 7e-4 to 0 over the run, as in the multi-task run.

How to run (resumable with `--resume`):
    rllib train file tuned_examples/a2c/cross_family_scratch_independent.py \\
        --seeds 0 --checkpoint-every 25 --storage-path runs

Results to expect (seed 0, 20 episodes, sampled / mean action; results/README.md, "One
agent across body families"): HalfCheetahSmallFoot 1064 / 1291, HalfCheetahBigTorso
1100 / 1145, Walker2dSmallFoot 336 / 334, Walker2dBigTorso 84 / 370, HopperSmallFoot
756 / 855, HopperBigTorso 637 / 604; the shared agent ends higher on most tasks.
"""

from mtrl_ray.algorithms.a2c import A2CConfig

TASKS = (
    "HalfCheetahSmallFoot-v0",
    "HalfCheetahBigTorso-v0",
    "Walker2dSmallFoot-v0",
    "Walker2dBigTorso-v0",
    "HopperSmallFoot-v0",
    "HopperBigTorso-v0",
)
FRAMES_PER_TASK = 1_000_000
TOTAL_FRAMES = FRAMES_PER_TASK * len(TASKS)

config = (
    A2CConfig()
    .multi_task(TASKS, runners_per_task=1, update="cycle")
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    .rl_module(
        model_config={"input_layer": "task", "actor_shared_layers": 0, "critic_shared_layers": 0}
    )
    # RLlib's schedule: [env steps sampled (all tasks), lr] points, linear in between.
    .training(optimizer_per_task=True, lr=[[0, 7e-4], [TOTAL_FRAMES, 0.0]])
)

stop = {"num_env_steps_sampled_lifetime": TOTAL_FRAMES}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
