"""Vanilla multi-task A2C on the eight Hopper body-part variants of gym-extensions.

Small (0.75) and Big (1.25) Foot, Leg, Thigh and Torso of gymnasium's Hopper-v5
(`mtrl_ray.envs.FAMILIES["Hopper"]`); episodes end early when the body falls.

Same network and settings as the HalfCheetah vanilla example (the paper's A2C, section
4.1): actor trunk 2 x 64 tanh shared, one Gaussian head per task; critic with one shared
layer; tasks cycled, one RMSprop step per task batch (lr 7e-4 decaying linearly to 0,
alpha 0.99, eps 1e-5); 16 envs per task, t_max = 5; entropy 0.01, value loss 0.5, grad
norm 0.5, gamma 0.99; raw Gaussian actions to the env; 1M frames per task.

How to run (`tensorboard --logdir runs/` to watch):
    rllib train file tuned_examples/a2c/hopper_vanilla_multitask.py --seeds 0,1,2
    python tuned_examples/a2c/hopper_vanilla_multitask.py --stop-timesteps 60000

Results to expect (seed 0, 20 episodes, sampled / mean action; results/README.md,
"Walker2d and Hopper families"): SmallFoot 1767 / 2677, BigFoot 402 / 407, SmallLeg
852 / 1199, BigLeg 1396 / 2048, SmallThigh 941 / 1555, BigThigh 761 / 1370, SmallTorso
554 / 451, BigTorso 1188 / 2331; sampled returns spread widely (a hopper that falls
ends its episode). About 45 minutes on 2 cores.
"""

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.envs import FAMILIES

TASKS = tuple(FAMILIES["Hopper"])
FRAMES_PER_TASK = 1_000_000
TOTAL_FRAMES = FRAMES_PER_TASK * len(TASKS)

config = (
    A2CConfig()
    .multi_task(TASKS, runners_per_task=1, update="cycle")
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    # RLlib's schedule: [env steps sampled, lr] points, linear in between.
    .training(lr=[[0, 7e-4], [TOTAL_FRAMES, 0.0]])
)

stop = {"num_env_steps_sampled_lifetime": TOTAL_FRAMES}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
