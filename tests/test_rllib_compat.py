"""The private Ray/RLlib hooks of `mtrl_ray._rllib_compat` still exist on the installed Ray.

A Ray upgrade that renames or reshapes one of them fails here, by name, instead of
in a training run. No Ray is started.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import mtrl_ray
from mtrl_ray import _rllib_compat as compat

PACKAGE = Path(mtrl_ray.__file__).parent


def _rllib_class(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _parameter_names(function) -> tuple[str, ...]:
    # Ray adds `_ray_trace_ctx` to the methods of a class once an actor of it (or of
    # a subclass) was created in this process: not part of RLlib's signature.
    return tuple(p for p in inspect.signature(function).parameters if p != "_ray_trace_ctx")


@pytest.mark.parametrize("hook", compat.PRIVATE_OVERRIDES, ids=lambda h: h.method)
def test_each_overridden_private_method_exists_with_its_parameters(hook):
    cls = _rllib_class(hook.rllib_class)
    assert hook.method in vars(cls), f"{hook.rllib_class} no longer defines {hook.method}"
    assert _parameter_names(getattr(cls, hook.method)) == hook.parameters, hook.why


def _project_classes() -> list[type]:
    classes = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="mtrl_ray."):
        module = importlib.import_module(info.name)
        classes += [
            c for c in vars(module).values()
            if isinstance(c, type) and c.__module__ == module.__name__
        ]  # fmt: skip
    return classes


def test_every_private_override_of_ray_is_listed():
    """An override of an underscore method of a Ray class must be in PRIVATE_OVERRIDES."""
    listed = {(h.rllib_class, h.method) for h in compat.PRIVATE_OVERRIDES}
    found = set()
    for cls in _project_classes():
        # A name a project class (or a project mixin before a Ray base: e.g.
        # StatisticsAfterUpdate) defines, that a Ray class later in the MRO has too.
        mro = cls.__mro__
        for i, owner in enumerate(mro):
            if not owner.__module__.startswith("mtrl_ray"):
                continue
            for name in vars(owner):
                if not name.startswith("_") or name.startswith("__") or name == "_abc_impl":
                    continue  # public, dunder, or abc's bookkeeping
                for base in mro[i + 1 :]:
                    if base.__module__.startswith("ray.") and name in vars(base):
                        found.add((f"{base.__module__}:{base.__qualname__}", name, owner.__name__))
                        break
    unlisted = sorted(f"{c}.{n} (overrides {b})" for b, n, c in found if (b, n) not in listed)
    assert not unlisted, f"private RLlib overrides missing from PRIVATE_OVERRIDES: {unlisted}"
    # ... and every listed one is still overridden somewhere (else drop it from the list).
    assert listed == {(b, n) for b, n, _ in found}


#: Private names that only `_rllib_compat.py` may use (a `def` of an override and its
#: `super()` call aside).
PRIVATE_NAMES = re.compile(
    r"ray\._private|\._model_config\b|\._env_to_module_connector\b|"
    r"\._train_batch_size_per_learner\b|\._seed\b|\._module_to_env\b|\._metrics_num_|"
    r"\._log_env_steps\b|\._worker_manager\b|\._restore_from_remote\b|MultiAgentBatch|"
    r"\._forward(_train)?\("
    r'|"_forward_'
)


def test_private_names_are_used_only_through_the_compat_module():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_rllib_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"`[^`]*`", "", line.split("#")[0])  # not what docs quote
            if "super()." in code or code.lstrip().startswith("def "):
                continue
            if PRIVATE_NAMES.search(code):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_private_calls_and_reads_exist():
    """What the compat functions call or read, on the installed Ray."""
    from ray._private import services
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.env.env_runner import EnvRunner
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    assert callable(services.canonicalize_bootstrap_address)
    assert _parameter_names(SingleAgentEnvRunner._log_env_steps) == (
        "self", "metric", "num_steps",
    )  # fmt: skip
    base_init = inspect.getsource(EnvRunner.__init__)
    for attribute in ("self._seed =", "self._metrics_num_env_steps_sampled ="):
        assert attribute in base_init, attribute
    from ray.rllib.env.env_runner_group import EnvRunnerGroup
    from ray.rllib.utils.actor_manager import FaultTolerantActorManager

    assert "self._worker_manager = FaultTolerantActorManager(" in inspect.getsource(
        EnvRunnerGroup.__init__
    )
    assert _parameter_names(FaultTolerantActorManager.actors) == ("self",)
    for logger in (JsonLoggerCallback, CSVLoggerCallback):
        assert _parameter_names(logger._restore_from_remote) == ("self", "file_name", "trial")
    from ray.rllib.core.learner.learner import Learner

    assert "_no_metrics_reduce" in _parameter_names(Learner.update)  # update_learners

    config = AlgorithmConfig()
    assert compat.user_model_config(config.rl_module(model_config={"x": 1})) == {"x": 1}
    assert compat.MODEL_CONFIG_DICT_KEY in config.to_dict()

    def connector(env, spaces, device):
        return []

    assert compat.env_to_module_connector(config.env_runners(
        env_to_module_connector=connector)) is connector  # fmt: skip
    assert compat.explicit_train_batch_size_per_learner(config) is None
    config.training(train_batch_size_per_learner=7)
    assert compat.explicit_train_batch_size_per_learner(config) == 7
    compat.set_train_batch_size_per_learner(config, 9)
    assert config.train_batch_size_per_learner == 9

    batch = MultiAgentBatch({"m": SampleBatch({"a": [1, 2]})}, env_steps=2)
    assert list(compat.module_batches(batch)) == ["m"]
    assert compat.module_batches({"m": {}}) is None


@pytest.mark.parametrize("version", ["2.60.0", "2.60.3", "2.60.1rc1"])
def test_supported_ray_versions_pass(version):
    compat.check_ray_version(version)


@pytest.mark.parametrize("version", ["2.59.9", "2.61.0", "2.61.0.dev0", "3.0.0", "1.13.0"])
def test_other_ray_versions_are_refused_in_one_line(version, monkeypatch):
    monkeypatch.delenv(compat.IGNORE_VERSION_ENV, raising=False)
    with pytest.raises(ImportError, match=re.escape(f"found ray {version}")) as refused:
        compat.check_ray_version(version)
    assert "\n" not in str(refused.value)
    monkeypatch.setenv(compat.IGNORE_VERSION_ENV, "1")
    compat.check_ray_version(version)


def test_the_installed_ray_is_checked(monkeypatch):
    monkeypatch.delenv(compat.IGNORE_VERSION_ENV, raising=False)
    compat.check_ray_version()  # this environment's Ray is a supported one

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(ImportError, match="ray is not installed"):
        compat.check_ray_version()


def test_importing_mtrl_ray_on_an_unsupported_ray_fails_clearly():
    """`import mtrl_ray` with the installed Ray's version reported as 2.61.0."""
    code = (
        "import importlib.metadata as m; real = m.version; "
        "m.version = lambda name: '2.61.0' if name == 'ray' else real(name); "
        "import mtrl_ray"
    )
    env = {k: v for k, v in os.environ.items() if k != compat.IGNORE_VERSION_ENV}
    env["PYTHONPATH"] = str(PACKAGE.parent)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: mtrl-ray supports ray>=2.60.0,<2.61.0, found ray 2.61.0")


def test_the_version_check_imports_neither_ray_nor_torch():
    code = (
        "import sys; from mtrl_ray._rllib_compat import check_ray_version; "
        "check_ray_version(); print(sorted(m for m in ('ray', 'torch') if m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
