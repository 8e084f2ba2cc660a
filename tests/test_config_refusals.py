"""Configs refuse what their algorithm would accept and then ignore: one-line errors."""

from __future__ import annotations

import pytest
from ray.rllib.callbacks.callbacks import RLlibCallback

from mtrl_ray.algorithms.a2c import A2CConfig
from mtrl_ray.algorithms.appo import MultiTaskAPPOConfig
from mtrl_ray.algorithms.distill import DistillConfig
from mtrl_ray.algorithms.ppo import MultiTaskPPOConfig
from mtrl_ray.connectors import task_id_connector

TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]


def _refused(config, match: str) -> str:
    with pytest.raises(ValueError, match=match) as error:
        config.validate()
    return str(error.value).splitlines()[0]


@pytest.mark.parametrize(
    ("training", "knob"),
    [
        ({"multi_task_update": "joint", "pcgrad": True}, "pcgrad"),
        ({"task_loss_weights": {TASKS[0]: 2.0}}, "task_loss_weights"),
        ({"normalize_rewards": True}, "normalize_rewards"),
    ],
)
def test_distillation_refuses_knobs_its_loss_ignores(training, knob):
    config = DistillConfig().multi_task(TASKS).training(**training)
    line = _refused(config, f"distillation does not support {knob}")
    assert "unset it" in line


@pytest.mark.parametrize("knob", ["task_loss_weights", "pcgrad"])
def test_appo_refuses_per_task_knobs_set_through_config_keys(knob):
    value = {TASKS[1]: 2.0} if knob == "task_loss_weights" else True
    config = MultiTaskAPPOConfig().multi_task(TASKS)
    config.validate()
    config.update_from_dict({knob: value})  # as `--config '{"<knob>": ...}'` does
    _refused(config, f"APPO does not support {knob}")


@pytest.mark.parametrize("config_cls", [A2CConfig, MultiTaskPPOConfig], ids=["a2c", "ppo"])
def test_task_loss_weights_must_name_tasks_of_the_task_set(config_cls):
    config = config_cls().multi_task(TASKS)
    config.training(task_loss_weights={"HalfCheetahBigLeg-v0": 2.0})
    _refused(config, r"task_loss_weights for tasks not in the TaskSet: \['HalfCheetahBigLeg-v0'\]")
    config.training(task_loss_weights={TASKS[1]: 2.0})
    config.validate()


class EpisodeCounter(RLlibCallback):
    def on_episode_end(self, **kwargs) -> None:
        pass


class TrainResultOnly(RLlibCallback):
    def on_train_result(self, **kwargs) -> None:
        pass


def _my_connector(env, spaces, device):
    return task_id_connector(env, spaces, device)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda c: c.callbacks(EpisodeCounter), r"episode callbacks \(on_episode_end\)"),
        (lambda c: c.callbacks([TrainResultOnly, EpisodeCounter]), "on_episode_end"),
        (lambda c: c.callbacks(on_episode_start=print), r"episode callbacks \(on_episode_start\)"),
        (
            lambda c: c.env_runners(env_to_module_connector=_my_connector),
            "a custom env_to_module_connector",
        ),
    ],
    ids=["class", "list-of-classes", "callable", "connector"],
)
@pytest.mark.parametrize(
    ("config_cls", "switch"),
    [
        (A2CConfig, "lean_connectors"),
        (MultiTaskPPOConfig, "fast_path"),
        (MultiTaskAPPOConfig, "fast_path"),
    ],
    ids=["a2c", "ppo", "appo"],
)
def test_lean_connectors_refuse_what_they_would_skip(setup, match, config_cls, switch):
    config = setup(config_cls().multi_task(TASKS))
    line = _refused(config, match)
    assert f"set {switch}=False" in line
    # RLlib's own runners call them: accepted there.
    config.training(**{switch: False}).validate()


def test_ppo_fast_path_refuses_complete_episodes():
    config = MultiTaskPPOConfig().multi_task(TASKS).env_runners(batch_mode="complete_episodes")
    line = _refused(config, "batch_mode='complete_episodes'")
    assert "set fast_path=False" in line
    config.training(fast_path=False).validate()


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda c: c.env_runners(batch_mode="complete_episodes"), "batch_mode='complete_episodes'"),
        (lambda c: c.training(use_circular_buffer=True), "use_circular_buffer=True"),
        (
            lambda c: c.learners(num_aggregator_actors_per_learner=1),
            "num_aggregator_actors_per_learner > 0",
        ),
        (
            lambda c: c.env_runners(max_requests_in_flight_per_env_runner=2),
            "max_requests_in_flight_per_env_runner=2",
        ),
        (lambda c: c.training(broadcast_interval=3), "broadcast_interval=3"),
    ],
    ids=["complete-episodes", "circular-buffer", "aggregators", "in-flight", "broadcast"],
)
def test_appo_fast_path_refuses_rllibs_loop_knobs(setup, match):
    config = setup(MultiTaskAPPOConfig().multi_task(TASKS))
    line = _refused(config, match)
    assert "set fast_path=False" in line
    config.training(fast_path=False).validate()


def test_callbacks_without_episode_hooks_are_accepted_with_lean_connectors():
    A2CConfig().multi_task(TASKS).callbacks(TrainResultOnly).validate()
    A2CConfig().multi_task(TASKS).callbacks(on_train_result=print).validate()


@pytest.mark.parametrize(
    ("fast_path", "what", "match"),
    [
        (True, "complete_update", "fast_path=True compiles each minibatch's forward and loss"),
        (False, "forward_train", "fast_path=False compiles nothing"),
    ],
)
def test_ppo_refuses_a_torch_compile_it_would_not_do(fast_path, what, match):
    config = MultiTaskPPOConfig().multi_task(TASKS).training(fast_path=fast_path)
    config.framework(torch_compile_learner=True, torch_compile_learner_what_to_compile=what)
    _refused(config, match)


def test_ppo_refuses_torch_compile_with_pcgrad():
    config = MultiTaskPPOConfig().multi_task(TASKS).training(pcgrad=True)
    config.framework(torch_compile_learner=True)
    _refused(config, "torch_compile_learner with pcgrad: .* unset one")


def test_ppo_torch_compile_needs_a_cxx_compiler(monkeypatch):
    config = MultiTaskPPOConfig().multi_task(TASKS).framework(torch_compile_learner=True)
    config.validate()  # g++ is on this machine's PATH
    monkeypatch.setenv("CXX", "no-such-cxx")
    _refused(config, r"needs a C\+\+ compiler \(no-such-cxx\) and none is on PATH")
    config.framework(torch_compile_learner_dynamo_backend="aot_eager")  # compiles no C++
    config.validate()


@pytest.mark.parametrize(
    ("config_cls", "name"),
    [(A2CConfig, "A2C"), (DistillConfig, "Distill"), (MultiTaskAPPOConfig, "APPO")],
)
def test_learners_without_a_compiled_path_refuse_torch_compile(config_cls, name):
    config = config_cls().multi_task(TASKS).framework(torch_compile_learner=True)
    _refused(config, f"{name} does not support torch_compile_learner")
