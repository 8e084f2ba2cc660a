"""Vanilla multi-task A2C across body families: two variants each of HalfCheetah, Walker2d, Hopper.

One module for bodies of different sizes (observation/action dims 17/6, 17/6, 11/3):
the spaces are padded to 17/6, each task's first layer reads its own observation
(`input_layer="task"`; "family" shares it within a family, "shared" across all),
the shared trunk and per-task heads follow, and the Gaussian is masked to the
task's own action dims (README: "Across body families").

Same network and settings as the HalfCheetah vanilla example (the paper's A2C, section
4.1): actor trunk 2 x 64 tanh shared, one Gaussian head per task; critic with one shared
layer; tasks cycled, one RMSprop step per task batch (lr 7e-4 decaying linearly to 0,
alpha 0.99, eps 1e-5); 16 envs per task, t_max = 5; entropy 0.01, value loss 0.5, grad
norm 0.5, gamma 0.99; raw Gaussian actions to the env; 1M frames per task.

How to run (`tensorboard --logdir runs/` to watch):
    rllib train file tuned_examples/a2c/cross_family_multitask.py --seeds 0,1,2
    python tuned_examples/a2c/cross_family_multitask.py --stop-timesteps 60000

Results to expect (seed 0, results/README.md "One agent across body families"), 20
episodes sampled / mean action: HalfCheetahSmallFoot 1442 / 1566, HalfCheetahBigTorso
1427 / 1542, Walker2dSmallFoot 563 / 531, Walker2dBigTorso 590 / 1038,
HopperSmallFoot 911 / 1303, HopperBigTorso 453 / 877.
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
    # RLlib's schedule: [env steps sampled, lr] points, linear in between.
    .training(lr=[[0, 7e-4], [TOTAL_FRAMES, 0.0]])
    .rl_module(model_config={"input_layer": "task"})
)

stop = {"num_env_steps_sampled_lifetime": TOTAL_FRAMES}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
