"""A real `ray up` on one machine: three nodes over SSH, a training run, a lost node.

docker/cluster.loopback.yaml with Ray's on-prem `local` provider against the throwaway
sshd of docker/loopback_sshd.py (127.0.0.1-3): `ray up` starts a head and two workers
over SSH, runs the setup commands and file mounts, `rllib train` runs a two-task A2C
on the cluster, one worker node is killed mid-run, and `ray down` tears it all down.
All of it runs from a virtualenv (`--system-site-packages`), as a user's would, and
every node runs that venv's Python (docker/loopback_sshd.py's `bin/`). Nothing is
mocked. Needs root (sshd binds port 22), openssh-server and rsync (.ci/run
installs them), and no other Ray on the machine: on one machine `ray down` runs
`ray stop` on each node, which stops every Ray process there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ray.tune.utils import flatten_dict

from mtrl_ray import metrics

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "docker" / "cluster.loopback.yaml"
SSHD_SCRIPT = REPO / "docker" / "loopback_sshd.py"
STATE = Path("/tmp/mtrl-loopback")  # docker/loopback_sshd.py's default, named in the config
GCS = "127.0.0.1:6390"
DASHBOARD = "http://127.0.0.1:8275"
WORKER_IPS = ("127.0.0.2", "127.0.0.3")
TASKS = ["HalfCheetahSmallFoot-v0", "HalfCheetahBigFoot-v0"]
#: Env steps per task and training iteration (5-step fragments from 4 envs).
ITERATION_STEPS = 500
# What `ray up` leaves outside STATE: the local provider's state, the head's copy of the
# config and key (the head is this machine's home), and the SSH control sockets.
HOME = Path.home()
RAY_DIR = Path("/tmp/ray")
RAY_UP_FILES = [
    RAY_DIR / "cluster-mtrl-loopback.state",
    RAY_DIR / "cluster-mtrl-loopback.lock",
    HOME / "ray_bootstrap_config.yaml",
    HOME / "ray_bootstrap_key.pem",
]


def _other_ray() -> list[int]:
    """The pids of GCS servers on this machine other than the loopback cluster's."""
    found = subprocess.run(["pgrep", "-a", "-x", "gcs_server"], capture_output=True, text=True)
    return [
        int(line.split()[0])
        for line in found.stdout.splitlines()
        if line.strip() and str(STATE) not in line
    ]


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (the loopback sshd binds port 22)"
    for tool in ("/usr/sbin/sshd", shutil.which("rsync"), shutil.which("ray")):
        if not tool or not Path(tool).exists():
            return "needs openssh-server, rsync and ray (apt-get install openssh-server rsync)"
    if _other_ray():
        return "another Ray runs on this machine, and `ray down` here would stop it too"
    return None


_SKIP = _why_not()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        RAY_UP_enable_autoscaler_v2="0",  # v2 launches one worker too few with `local`
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(STATE / "auth_token"),
    )
    return env


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> str:
    """A virtualenv's interpreter (sharing this one's packages): the whole cluster, the
    driver and `ray up`/`ray down` run from it, as from a user's activated venv."""
    venv = tmp_path_factory.mktemp("venv")
    # No pip of its own (nothing here installs; ensurepip alone takes seconds).
    venv_cmd = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip"]
    subprocess.run([*venv_cmd, str(venv)], check=True)
    return str(venv / "bin" / "python")


def _run(*cmd: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _api(path: str) -> list[dict]:
    token = (STATE / "auth_token").read_text().strip()
    request = urllib.request.Request(DASHBOARD + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]["result"]["result"]


def _nodes() -> dict[str, dict]:
    return {n["node_id"]: n for n in _api("/api/v0/nodes?limit=100")}


def _runners() -> list[dict]:
    """Every PinnedEnvRunner actor (dead ones too) with its node's IP and its task."""
    nodes = _nodes()
    actors = _api(
        "/api/v0/actors?limit=1000&detail=1&filter_keys=class_name"
        "&filter_predicates=%3D&filter_values=PinnedEnvRunner"
    )
    for a in actors:
        a["node_ip"] = nodes.get(a["node_id"], {}).get("node_ip")
    return actors


# Ray's SSH control sockets for this cluster: /tmp/ray_ssh_<user hash>/<this>/...
SSH_CONTROL = "/" + hashlib.sha256(b"mtrl-loopback").hexdigest()[:10] + "/"


def _control_dirs() -> set[Path]:
    """Ray's SSH control folders: per user, and this cluster's inside."""
    users = set(Path("/tmp").glob("ray_ssh_*"))
    return users | {p for p in (d / SSH_CONTROL.strip("/") for d in users) if p.exists()}


def _cluster_processes() -> dict[int, str]:
    """{pid: command line} of the loopback cluster's processes: Ray's (their command
    lines name its temp dir), the sshd, and Ray's SSH connection masters for it."""
    processes = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(STATE) in cmdline or SSH_CONTROL in cmdline:
                processes[int(proc.name)] = cmdline
    return processes


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _kill_ssh_masters() -> None:
    """SIGTERMs Ray's SSH connection masters for this cluster (`ssh ...`, or `ssh:
    <control path> [mux]` once one has forked into the background)."""
    for pid, cmd in _cluster_processes().items():
        if cmd.split(maxsplit=1)[0] in ("ssh", "ssh:") and SSH_CONTROL in cmd:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _kill_node(ip: str, runner_pid: int) -> None:
    """SIGKILLs one node: its raylet and agents (named by IP) and a runner's process."""
    on_node = [p for p, cmd in _cluster_processes().items() if f"={ip} " in cmd or f"={ip}:" in cmd]
    _kill([*on_node, runner_pid])


def _results(path: Path) -> list[dict]:
    """The trial's results so far (Tune copies its result.json from its staging folder
    to the storage path every few seconds)."""
    files = list(path.glob("*/*/result.json"))  # <experiment>/<trial>/result.json
    if not files:
        return []
    lines = files[0].read_text().splitlines()
    return [flatten_dict(json.loads(line), delimiter="/") for line in lines if line.strip()]


def _task_steps(result: dict, task: str) -> float:
    return result.get(f"env_runners/{metrics.PER_TASK}/{task}/{metrics.NUM_ENV_STEPS}", 0.0)


def _settle(seconds: float) -> None:
    """Waits (at most `seconds`) until three nodes are alive.

    After the node-loss test the autoscaler relaunches the lost node; a `ray down`
    while that relaunch runs can come before its `ray start`, whose processes then
    outlive the cluster (seen on a slow day: a log monitor of the relaunched node).
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sum(n["state"] == "ALIVE" for n in _nodes().values()) >= 3:
                return
        except OSError:  # the dashboard is gone: nothing to wait for
            return
        time.sleep(3)


@pytest.fixture(scope="module")
def cluster(python):
    """`ray up` of the loopback config; `ray down` and a check that nothing is left."""
    saved = {p: p.read_bytes() for p in RAY_UP_FILES if p.exists()}
    had_ray_dir = RAY_DIR.exists()  # `ray up` creates /tmp/ray for its state files
    control_dirs = _control_dirs()
    try:
        started = _run(python, str(SSHD_SCRIPT), "start", timeout=60)
        assert started.returncode == 0, started.stderr
        up = _run(*_ray(python), "up", str(CLUSTER), "-y", "--no-config-cache", timeout=600)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        # The head's setup ran the venv's interpreter (`ray up` shows the head's only).
        assert f"with {python}" in up.stdout + up.stderr, up.stdout[-3000:]
        deadline = time.monotonic() + 240
        alive: list[dict] = []
        while len(alive) < 3:
            assert time.monotonic() < deadline, f"{len(alive)} of 3 nodes came up"
            time.sleep(3)
            try:
                alive = [n for n in _nodes().values() if n["state"] == "ALIVE"]
            except OSError:  # the dashboard is still starting
                pass
        for ip in ("127.0.0.1", *WORKER_IPS):  # each node's Ray runs the venv's Python
            on_node = [c for c in _cluster_processes().values() if f"={ip} " in c]
            assert any(c.startswith(f"{python} ") for c in on_node), (ip, on_node)
        yield
    finally:
        _settle(seconds=240)
        # A Ray started elsewhere on the machine since this test began would be
        # stopped by `ray down` too: then the cluster goes by pid, and the test fails.
        others = _other_ray()
        down = None if others else _run(*_ray(python), "down", str(CLUSTER), "-y", timeout=300)
        if others:
            _kill(_cluster_processes())
        _run(python, str(SSHD_SCRIPT), "stop", timeout=60)
        # Ray's SSH connection masters would linger 10 s more (ControlPersist): close
        # them now; what is left to wait for is Ray's own processes.
        _kill_ssh_masters()
        # Ray's processes exit on their own after `ray down`: in seconds on an idle
        # machine; on a loaded one (the whole suite on a slow day) one outlived 20 s
        # and one 60 s. The wait ends as soon as they have gone.
        deadline = time.monotonic() + 120
        while (leftover := _cluster_processes()) and time.monotonic() < deadline:
            time.sleep(1)
        _kill(leftover)  # only if `ray down` failed: never leave processes behind
        for path in RAY_UP_FILES:
            if path in saved:
                path.write_bytes(saved[path])
            else:
                path.unlink(missing_ok=True)
        for d in sorted(_control_dirs() - control_dirs, reverse=True):  # inner first
            shutil.rmtree(d, ignore_errors=True)
        if not had_ray_dir and RAY_DIR.is_dir() and not any(RAY_DIR.iterdir()):
            RAY_DIR.rmdir()
    assert down is not None, f"not run: `ray down` would have stopped other Rays ({others})"
    assert down.returncode == 0, down.stderr[-2000:]
    assert not leftover, f"`ray down` left processes (pid: command line) {leftover}"
    assert not STATE.exists()


def _ray(python: str) -> list[str]:
    """Ray's CLI run by `python` (a venv made with --system-site-packages has no `ray`
    script of its own)."""
    return [python, "-m", "ray.scripts.scripts"]


@pytest.fixture(scope="module")
def run_with_node_loss(cluster, python, tmp_path_factory):
    """`rllib train` on the cluster; a worker node hosting a runner is killed mid-run.

    Returns the runners seen before the kill, the victim runner (as seen then), the
    number of results at the kill, all results, and the runners at the end.
    """
    storage = tmp_path_factory.mktemp("runs")
    cmd = [
        python, "-m", "mtrl_ray.cli", "train", "file",
        "tuned_examples/a2c/halfcheetah_vanilla_multitask.py",
        "--ray-address", GCS, "--tasks", ",".join(TASKS), "--envs-per-runner", "4",
        # Short iterations: ITERATION_STEPS per task each.
        "--updates-per-iteration", str(ITERATION_STEPS // (5 * 4)),
        "--stop-iters", "1000", "--checkpoint-every", "1000", "--storage-path", str(storage),
    ]  # fmt: skip
    log = open(storage / "train.log", "w")  # noqa: SIM115 (closed below)
    driver = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while len(_results(storage)) < 3:
            assert driver.poll() is None, (storage / "train.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no training progress on the cluster"
            time.sleep(2)
        before = _runners()
        on_workers = [r for r in before if r["node_ip"] in WORKER_IPS and r["state"] == "ALIVE"]
        assert on_workers, f"no runner on a worker node: {[r['node_ip'] for r in before]}"
        victim = on_workers[0]
        _kill_node(victim["node_ip"], victim["pid"])
        results = _results(storage)
        killed_at, steps_at_kill = len(results), _task_steps(results[-1], _task_of(victim))
        # Run until the victim's task has sampled well past the kill (two iterations'
        # worth) on a new node.
        while True:
            assert driver.poll() is None, (storage / "train.log").read_text()[-3000:]
            assert time.monotonic() < deadline + 600, "the lost runner never came back"
            results, after = _results(storage), _runners()
            now = {r["actor_id"]: r for r in after}[victim["actor_id"]]
            grown = _task_steps(results[-1], _task_of(victim)) > steps_at_kill + 2 * ITERATION_STEPS
            if now["state"] == "ALIVE" and now["node_id"] != victim["node_id"] and grown:
                break
            time.sleep(2)
    finally:
        driver.send_signal(signal.SIGINT)
        try:
            driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
        log.close()
    return before, victim, killed_at, results, after


def _task_of(runner: dict) -> str:
    # repr: "EnvRunner(task=HalfCheetahSmallFoot-v0, worker=1)"
    return runner["repr_name"].split("task=")[1].split(",")[0]


def test_pinned_runners_run_on_several_nodes(run_with_node_loss):
    before, _, _, results, _ = run_with_node_loss
    nodes = {r["node_ip"] for r in before}
    assert len(nodes) > 1, nodes
    # Worker index i runs task i-1 (the pinning rule), wherever it was placed.
    pinned = {r["repr_name"] for r in before}
    assert pinned == {f"EnvRunner(task={t}, worker={i + 1})" for i, t in enumerate(TASKS)}
    assert all(_task_steps(results[-1], t) > 0 for t in TASKS)


def test_lost_node_runner_comes_back_elsewhere_with_its_task(run_with_node_loss):
    before, victim, killed_at, results, after = run_with_node_loss
    now = {r["actor_id"]: r for r in after}[victim["actor_id"]]
    # On another node (the autoscaler may relaunch the lost one: a new node id).
    assert now["node_id"] != victim["node_id"] and now["pid"] != victim["pid"]
    assert now["repr_name"] == victim["repr_name"]  # same worker index, same task
    # Every task's step count keeps growing after the loss (no task is dropped).
    for task in TASKS:
        series = [_task_steps(r, task) for r in results[killed_at - 1 :]]
        assert series[-1] > series[0], (task, series)
    assert {r["repr_name"] for r in after} == {r["repr_name"] for r in before}
