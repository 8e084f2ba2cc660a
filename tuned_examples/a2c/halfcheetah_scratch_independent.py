"""Single-task A2C from scratch on all six variants at once: six independent agents.

Table 2's first column in one run: one network per task with nothing shared (no
shared actor or critic layer, `actor_shared_layers=0`, `critic_shared_layers=0`)
and one RMSprop per task (`optimizer_per_task`), so each task's parameters, its
optimizer state and its observation statistics move on its own samples only:
each head trains as `halfcheetah_scratch.py` would train it alone
(tests/test_a2c_math.py checks the parameters against a one-task learner's). The
six share the runners' rounds, which makes the run about six times as fast as six
single-task runs one after another on this machine (a single-task round is mostly
per-round overhead).

The paper's network (actor 2 x 64, critic 2 x 64, tanh), 16 envs, t_max = 5, raw
actions; 3M frames per task (the paper's budget), the learning rate decayed
linearly from 7e-4 to 0 over the run, as the vanilla multi-task example does over
its own budget. A checkpoint every 25 iterations (1M frames per task = iteration
250) gives the 1M-frame milestone from the same runs. Each final head is that
task's distillation teacher.

How to run (three seeds as three Tune trials; resumable with `--resume`):
    rllib train file tuned_examples/a2c/halfcheetah_scratch_independent.py \\
        --seeds 0,1,2 --checkpoint-every 25 --storage-path runs

Results to expect (paper, Table 2, 3M frames, its scratch column): SmallFoot 1326,
BigFoot 38 (one seed diverged), SmallLeg 1421, SmallThigh 1444, SmallTorso 2116,
BigTorso 1313.
"""

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.envs import PAPER_TASKS

FRAMES_PER_TASK = 3_000_000
TOTAL_FRAMES = FRAMES_PER_TASK * len(PAPER_TASKS)

config = (
    A2CConfig()
    .multi_task(PAPER_TASKS, runners_per_task=1, update="cycle")
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
