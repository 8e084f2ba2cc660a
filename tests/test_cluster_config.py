"""Offline checks of cluster.yaml and docker/Dockerfile: no network, no AWS, no Docker.

`ray up` runs, in order: prepare_config (merge with Ray's AWS defaults.yaml; offline),
fillout_available_node_types_resources (AWS DescribeInstanceTypes), validate_config
(ray-schema.json plus cross-field checks; offline) and bootstrap_aws (IAM role, key pair,
subnets, security group, AMI: AWS calls). The offline steps run here exactly as `ray up`
runs them; the two AWS steps need credentials and the network, so they are skipped.
The schema leaves node_config free-form (and provider open to any key), so node_config is
checked here against botocore's bundled EC2 RunInstances model; provider keys are not.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER_YAML = REPO / "cluster.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CONTROL_OPERATORS = {";", "&&", "||", "|", "&", "(", ")"}


@pytest.fixture
def config() -> dict:
    """A fresh copy of cluster.yaml for each test (tests may mutate it)."""
    return yaml.safe_load(CLUSTER_YAML.read_text())


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    import ray.autoscaler

    path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    return json.loads(path.read_text())


def _ray_validate(cfg: dict) -> dict:
    """What `ray up` checks offline: prepare_config, then validate_config."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(cfg))
    validate_config(prepared)
    return prepared


# --------------------------------------------------------------------- schema / Ray's own check


def test_config_matches_ray_schema(config, ray_schema):
    jsonschema.validate(config, ray_schema)


def test_config_passes_ray_prepare_and_validate(config):
    prepared = _ray_validate(config)
    node_types = prepared["available_node_types"]
    assert set(node_types) == {"head", "rollout_worker"}
    assert prepared["head_node_type"] == "head"
    assert node_types["head"]["max_workers"] == 0
    for node_type in node_types.values():
        assert node_type["resources"].get("CPU", 0) > 0, "state the CPUs of every node type"


def test_loopback_config_passes_ray_checks_and_never_stops_ray(ray_schema):
    """docker/cluster.loopback.yaml (run for real by test_loopback_cluster.py)."""
    loopback = yaml.safe_load((REPO / "docker" / "cluster.loopback.yaml").read_text())
    jsonschema.validate(loopback, ray_schema)
    prepared = _ray_validate(loopback)
    assert prepared["provider"]["type"] == "local"
    starts = prepared["head_start_ray_commands"] + prepared["worker_start_ray_commands"]
    # On one machine `ray stop` would stop every node at once (and any other Ray).
    assert not any("ray stop" in c for c in starts)
    assert all("RAY_AUTH_MODE=token" in c and "--temp-dir=" in c for c in starts)


def test_ray_aws_default_commands_do_not_leak_in(config):
    """prepare_config merges Ray's AWS defaults.yaml shallowly: a command list left out of
    cluster.yaml would be Ray's default (which pip installs a nightly Ray wheel when `ray`
    is missing, and starts the dashboard on 0.0.0.0)."""
    prepared = _ray_validate(config)
    for key in (
        "initialization_commands",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ):
        assert key in config, f"cluster.yaml must set {key} itself"
    assert prepared["head_setup_commands"] == config["setup_commands"]
    assert prepared["worker_setup_commands"] == config["setup_commands"]
    everything = json.dumps(prepared)
    assert "ray-wheels" not in everything
    assert "0.0.0.0" not in everything


def _rename_key(mapping: dict, old: str, new: str) -> None:
    assert old in mapping, old
    mapping[new] = mapping.pop(old)


MISSPELLINGS = {
    "top level: max_worker": lambda c: _rename_key(c, "max_workers", "max_worker"),
    "node type: min_worker": lambda c: _rename_key(
        c["available_node_types"]["rollout_worker"], "min_workers", "min_worker"
    ),
    "node type: resource": lambda c: _rename_key(
        c["available_node_types"]["head"], "resources", "resource"
    ),
    "docker: container_nme": lambda c: _rename_key(c["docker"], "container_name", "container_nme"),
    "auth: ssh_usr": lambda c: _rename_key(c["auth"], "ssh_user", "ssh_usr"),
}


@pytest.mark.parametrize("misspell", MISSPELLINGS.values(), ids=MISSPELLINGS.keys())
def test_misspelled_keys_are_rejected(config, ray_schema, misspell):
    misspell(config)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, ray_schema)
    # Ray's route fails too: mostly on the schema, but a missing docker.container_name
    # trips an assertion in prepare_config first.
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        _ray_validate(config)


# --------------------------------------------------------------------- node_config (EC2)


def _run_instances_errors(node_config: dict) -> str | None:
    reason = "botocore (from boto3, which `ray up` on AWS needs) is not installed"
    session = pytest.importorskip("botocore.session", reason=reason)
    validate = pytest.importorskip("botocore.validate", reason=reason)

    model = session.get_session().get_service_model("ec2")
    shape = model.operation_model("RunInstances").input_shape
    params = copy.deepcopy(node_config)
    params.pop("SubnetIds", None)  # Ray's own key; it launches with one SubnetId from it
    params.update(MinCount=1, MaxCount=1)  # added by Ray's node provider
    report = validate.ParamValidator().validate(params, shape)
    if report.has_errors():
        return report.generate_report()
    instance_types = model.shape_for("InstanceType").enum
    if params.get("InstanceType") not in instance_types:
        return f"unknown InstanceType {params.get('InstanceType')!r}"
    return None


def test_node_configs_are_valid_ec2_run_instances_parameters(config):
    for name, node_type in config["available_node_types"].items():
        errors = _run_instances_errors(node_type["node_config"])
        assert errors is None, f"{name}: {errors}"


@pytest.mark.parametrize(
    "misspell",
    [
        lambda nc: _rename_key(nc, "InstanceType", "InstanceTyp"),
        lambda nc: nc.update(InstanceType="c7i.2xlarg"),
        lambda nc: _rename_key(nc["BlockDeviceMappings"][0]["Ebs"], "VolumeSize", "VolumeSiz"),
    ],
    ids=["key", "instance type", "nested key"],
)
def test_misspelled_node_config_is_caught(config, misspell):
    node_config = config["available_node_types"]["rollout_worker"]["node_config"]
    misspell(node_config)
    assert _run_instances_errors(node_config) is not None


# --------------------------------------------------------------------- start commands


def _simple_commands(command: str) -> list[tuple[dict[str, str], list[str]]]:
    """Split a shell command line into (env assignments, argv) per simple command."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in [*lexer, ";"]:
        if token in CONTROL_OPERATORS:
            if current:
                env = {}
                while current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", current[0]):
                    key, _, value = current.pop(0).partition("=")
                    env[key] = value
                commands.append((env, current))
            current = []
        else:
            current.append(token)
    return commands


def _ray_starts(config: dict) -> list[tuple[str, dict[str, str], list[str]]]:
    starts = []
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        for line in config[key]:
            for env, argv in _simple_commands(line):
                if argv[:2] == ["ray", "start"]:
                    starts.append((key, env, argv[2:]))
    return starts


def _start_params(args: list[str]) -> dict:
    """Parse `ray start` arguments with Ray's own click command (parsing only)."""
    from ray.scripts.scripts import start

    return start.make_context("ray start", list(args)).params


def test_one_ray_start_each_for_head_and_workers(config):
    starts = _ray_starts(config)
    assert [key for key, _, _ in starts] == [
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ]
    (_, _, head_args), (_, _, worker_args) = starts
    head, worker = _start_params(head_args), _start_params(worker_args)
    assert head["head"] and not worker["head"]
    # Without it the head runs no autoscaler and never launches a worker.
    assert head["autoscaling_config"] == "~/ray_bootstrap_config.yaml"
    assert worker["address"] == "$RAY_HEAD_IP:6379"


def test_every_ray_start_uses_token_auth(config):
    from ray._private.authentication.authentication_token_setup import AUTH_MODE_ENV_VAR

    assert AUTH_MODE_ENV_VAR == "RAY_AUTH_MODE"
    for key, env, args in _ray_starts(config):
        assert env.get(AUTH_MODE_ENV_VAR) == "token", f"{key}: ray start {' '.join(args)}"


def test_every_ray_start_keeps_the_dashboard_on_loopback(config):
    for key, _, args in _ray_starts(config):
        # Explicit, not Ray's default: Ray's own AWS examples use 0.0.0.0.
        assert any(arg.startswith("--dashboard-host") for arg in args), key
        assert _start_params(args)["dashboard_host"] in LOOPBACK, key


def test_commands_are_valid_bash(config):
    """The autoscaler runs each command with `docker exec ... /bin/bash -c CMD`."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    prepared = _ray_validate(config)
    keys = ("head_setup_commands", "worker_setup_commands")
    keys += ("head_start_ray_commands", "worker_start_ray_commands")
    for key in keys:
        for command in prepared[key]:
            result = subprocess.run([bash, "-n", "-c", command], capture_output=True, text=True)
            assert result.returncode == 0, f"{key}: {command!r}: {result.stderr}"


def test_container_env_and_token_mount(config):
    from ray._private.authentication.authentication_token_setup import _get_default_token_path

    run_options = " ".join(config["docker"]["run_options"])
    assert re.search(r"(--env|-e)[ =]RAY_AUTH_MODE=token\b", run_options)
    assert not re.search(r"(^|\s)(-p|--publish)(\s|=)", run_options), "publish no ports"
    # The token is the file Ray reads by default (~/.ray/auth_token), on both sides.
    default = "~/" + os.path.relpath(_get_default_token_path(), Path.home())
    assert config["file_mounts"].get(default) == default
    # ...and never written into the config itself.
    assert "RAY_AUTH_TOKEN" not in CLUSTER_YAML.read_text()


# --------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _dockerfile_arg_default(name: str) -> str:
    for keyword, rest in _dockerfile_instructions():
        if keyword == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1].strip("\"'")
    raise AssertionError(f"no ARG {name}=... in {DOCKERFILE}")


def test_dockerfile_base_image_matches_installed_ray_and_python():
    import ray

    froms = [rest for keyword, rest in _dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) == 1, froms
    match = re.fullmatch(r"(?:--platform=\S+\s+)?rayproject/ray:(\S+?)(?:@sha256:\w+)?", froms[0])
    assert match, froms[0]
    version, python, flavour = match.group(1).split("-", 2)
    assert version == ray.__version__
    assert python == f"py{sys.version_info.major}{sys.version_info.minor}"
    assert flavour == "cpu"


def test_dockerfile_torch_pin_matches_installed_torch():
    installed = importlib.metadata.version("torch").split("+")[0]
    assert _dockerfile_arg_default("TORCH_VERSION") == installed


def test_dockerfile_runs_as_ray():
    users = [rest for keyword, rest in _dockerfile_instructions() if keyword == "USER"]
    assert users and users[-1] == "ray"
