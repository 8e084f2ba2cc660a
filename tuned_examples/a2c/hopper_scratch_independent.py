"""Single-task A2C from scratch on the eight Hopper body-part variants: eight independent agents.

The baseline of `hopper_vanilla_multitask.py`, at the same frames per task (1M) and
settings, as `halfcheetah_scratch_independent.py` is for HalfCheetah: one network per
task with nothing shared (`actor_shared_layers=0`, `critic_shared_layers=0`) and one
RMSprop per task (`optimizer_per_task`), so each task's parameters, optimizer state
and observation statistics move on its own samples only; the eight share the
runners' rounds (one run instead of eight).

The paper's network (actor 2 x 64, critic 2 x 64, tanh), 16 envs, t_max = 5, raw
actions; the learning rate decayed linearly from 7e-4 to 0 over the run, as the
vanilla example does over the same budget.

How to run (resumable with `--resume`):
    rllib train file tuned_examples/a2c/hopper_scratch_independent.py \\
        --seeds 0 --checkpoint-every 25 --storage-path runs

Results to expect (seed 0, 20 episodes, sampled / mean action; results/README.md,
"Walker2d and Hopper families"): 400-830 on every task with both kinds; below the
family agent on four tasks with both kinds.
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
    .rl_module(model_config={"actor_shared_layers": 0, "critic_shared_layers": 0})
    # RLlib's schedule: [env steps sampled (all tasks), lr] points, linear in between.
    .training(optimizer_per_task=True, lr=[[0, 7e-4], [TOTAL_FRAMES, 0.0]])
)

stop = {"num_env_steps_sampled_lifetime": TOTAL_FRAMES}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
