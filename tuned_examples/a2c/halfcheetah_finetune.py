"""Fine-tuning (paper section 4.2, Table 1): E1 -> E2 with only the last layers training.

Starts from a single-task checkpoint of E1 (default: the committed SmallFoot teacher
in results/teachers_raw/, trained 1M frames with raw actions; the paper trained E1 for
5M), copies its weights and observation normalization statistics (as a starting
point: they keep updating on E2), freezes every layer but the last of the actor (with
its log-std) and of the critic, and trains on E2 (default SmallLeg) for 1M frames
(the paper: 1M and 5M). Evaluate the result on both tasks with E2's head to see what
was forgotten:

    rllib train file tuned_examples/a2c/halfcheetah_finetune.py
    rllib evaluate runs/halfcheetah_finetune/seed0/checkpoint_000024 \
        --head HalfCheetahSmallLeg-v0 --tasks HalfCheetahSmallFoot-v0,HalfCheetahSmallLeg-v0

Other directions and budgets:
    rllib train file tuned_examples/a2c/halfcheetah_finetune.py --tasks HalfCheetahSmallFoot-v0 \
        --config '{"fine_tune_from": "results/teachers_raw/HalfCheetahSmallLeg-v0/checkpoint"}'
    --config '{"fine_tune_trainable": "heads"}'   (or "all")

Results to expect (paper, Table 1, E1 = SmallFoot, E2 = SmallLeg; E1 trained 5M):
scratch on E1: 1583 on E1, 1536 on E2; E1 -> E2 after 1M: 1530 on E1, 1533 on E2;
after 5M: 1501 on E1, 1569 on E2.
"""

from pathlib import Path

from mtrl_ray.algorithms.a2c import A2CConfig

TEACHERS = Path(__file__).resolve().parents[2] / "results" / "teachers_raw"
SOURCE = TEACHERS / "HalfCheetahSmallFoot-v0" / "checkpoint"

config = (
    A2CConfig()
    .multi_task(["HalfCheetahSmallLeg-v0"], runners_per_task=1)
    .env_runners(num_envs_per_env_runner=16, rollout_fragment_length=5)
    .fine_tune(SOURCE, trainable="last")
)

stop = {"num_env_steps_sampled_lifetime": 1_000_000}

if __name__ == "__main__":
    import sys

    from mtrl_ray.cli import main

    sys.exit(main(["train", "file", __file__, *sys.argv[1:]]))
