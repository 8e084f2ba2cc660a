"""Vanilla multi-task A2C in the layout of the paper's public code (Table 2, a labelled row).

The paper's text shares the actor's two hidden layers; its public two-task script
(jasonkrone/elen6885-final-project, src/multitask.py) shares only the first hidden
layer of the actor and of the critic (`a_fc1`, `v_fc1`) and keeps one RMSprop per
branch, whose running averages cover the shared layer too. This example is
`halfcheetah_vanilla_multitask.py` with that layout: one shared actor layer
(`actor_shared_layers=1`; the critic already shares one) and `optimizer_per_task`.
Everything else (16 envs, t_max = 5, raw actions, 1M frames per task, the learning
rate decayed from 7e-4 to 0 over the run) is the same.

How to run:
    rllib train file tuned_examples/a2c/halfcheetah_vanilla_multitask_code_layout.py \\
        --seeds 0,1,2 --checkpoint-every 25
"""

from pathlib import Path

from mtrl_ray.tuned_example import load_tuned_example

_vanilla = load_tuned_example(Path(__file__).with_name("halfcheetah_vanilla_multitask.py"))

config = (
    _vanilla.config.copy(copy_frozen=False)
    .rl_module(model_config={"actor_shared_layers": 1})
    .training(optimizer_per_task=True)
)
stop = dict(_vanilla.stop)

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
