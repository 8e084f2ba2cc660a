"""Multi-task distillation on the paper's six HalfCheetah variants (Table 2, middle column).

Student: the vanilla multi-task actor (shared 2 x 64 tanh trunk, one Gaussian head
per task), no critic. Each head is trained by KL(N_T || N_S) to its task's frozen
single-task teacher, on states of fragments the student drives (p_s = 1, as in the
paper's multi-task runs; set `teacher_rollout_prob` for teacher-driven fragments).
Tasks cycled, one RMSprop step per task batch; 16 envs per task, t_max = 5; 1M
frames per task (6M in all); the learning rate decayed from 7e-4 to 0 over the run,
as in the vanilla multi-task and scratch examples (Table 2's one protocol; the
constant rate: `--config '{"lr": 0.0007}'`).

Teachers: the committed ones in results/teachers_raw/ (single-task A2C with the
paper's raw actions, 1M frames each, made by tuned_examples/a2c/halfcheetah_teachers.py;
results/teachers/ holds the older rescale-and-clip ones). Use others with
    --config '{"teachers": "runs/teachers"}'    (a folder: <task>/ or teacher_<task>/, e.g.
    the experiment halfcheetah_teachers.py writes, a trial folder per task)

How to run:
    rllib train file tuned_examples/distill/halfcheetah_multitask_distillation.py
    python tuned_examples/distill/halfcheetah_multitask_distillation.py --stop-timesteps 60000

Results to expect (paper, Table 2, 1M frames per task): SmallFoot 1348, BigFoot -63,
SmallLeg 1414, SmallThigh 838, SmallTorso 2117, BigTorso 1324; a student can only be
as good as its teachers. See results/ for ours.
"""

from pathlib import Path

from mtrl_ray.algorithms.distill import DistillConfig
from mtrl_ray.envs import PAPER_TASKS

FRAMES_PER_TASK = 1_000_000
TOTAL_FRAMES = FRAMES_PER_TASK * len(PAPER_TASKS)
COMMITTED_TEACHERS = Path(__file__).resolve().parents[2] / "results" / "teachers_raw"

config = (
    DistillConfig()
    .multi_task(PAPER_TASKS, runners_per_task=1, update="cycle")
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    .distillation(teachers=COMMITTED_TEACHERS, teacher_rollout_prob=0.0)
    # RLlib's schedule: [env steps sampled (all tasks), lr] points, linear in between.
    .training(lr=[[0, 7e-4], [TOTAL_FRAMES, 0.0]])
)

stop = {"num_env_steps_sampled_lifetime": TOTAL_FRAMES}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
