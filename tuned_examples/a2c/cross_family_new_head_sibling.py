"""New heads for held-out bodies, each started from a sibling head of its body (issue 21).

As `cross_family_new_head.py` (the committed cross-family agent, seed 0; one head per
family's held-out BigLeg variant; trunks and old heads frozen; 200k frames per new
task), but each new head starts as a copy of the same body's BigTorso head instead of
fresh: its actor and critic head, log-std, observation statistics and, with
`input_layer="task"`, its own first layer. A fresh first layer makes the frozen trunk
see random features, and the fresh-head run ends far below what a sibling head scores
zero-shot on the BigLeg bodies (`transfer.json` of the checkpoint); a sibling's rows
already fit the body, so the new head starts from that zero-shot return (sampled,
20 episodes: HalfCheetahBigTorso 1792, Walker2dBigTorso 623, HopperBigTorso 485 on
their BigLeg; HopperSmallFoot's 791 is the better Hopper start, BigTorso is kept for
one rule over the three bodies).

    rllib train file tuned_examples/a2c/cross_family_new_head_sibling.py --seed 0

Evaluate: rllib evaluate CHECKPOINT --tasks HalfCheetahBigLeg-v0,Walker2dBigLeg-v0,HopperBigLeg-v0
The same start from the command line: `cross_family_new_head.py --config
'{"fine_tune_source_head": {"HalfCheetahBigLeg-v0": "HalfCheetahBigTorso-v0", ...}}'`.
Results: results/README.md, "One agent across body families".
"""

from pathlib import Path

from mtrl_ray.algorithms.a2c import A2CConfig

CHECKPOINT = (
    Path(__file__).resolve().parents[2]
    / "results/cross_family_multitask_seed0/checkpoint/checkpoint_000009"
)
NEW_TASKS = ("HalfCheetahBigLeg-v0", "Walker2dBigLeg-v0", "HopperBigLeg-v0")
#: Each new task's source: the checkpoint's head of the same body, BigTorso.
SIBLINGS = {task: task.replace("BigLeg", "BigTorso") for task in NEW_TASKS}

config = (
    A2CConfig()
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    .new_head(CHECKPOINT, NEW_TASKS, trainable="heads", source_heads=SIBLINGS)
)

stop = {"num_env_steps_sampled_lifetime": 200_000 * len(NEW_TASKS)}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
