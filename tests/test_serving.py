"""`rllib serve`: the policy over HTTP (Ray Serve) acts as the in-process `Policy`."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import requests

from mtrl_ray import Policy
from mtrl_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "results/vanilla_multitask_raw_seed0/checkpoint/checkpoint_000250"
TASK = "HalfCheetahBigFoot-v0"
#: Steps of the episode driven over HTTP: HalfCheetah's whole episode, one request a step.
EPISODE_STEPS = 1000
#: Requests of the concurrent burst (16 at a time, two replicas).
BURST = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def episode_return(act, seed: int) -> float:
    """A whole (EPISODE_STEPS-step) HalfCheetah episode driven by `act(obs) -> action`."""
    env = gym.make(TASK, max_episode_steps=EPISODE_STEPS)
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        total += float(reward)
        done = terminated or truncated
    env.close()
    return total


@pytest.mark.slow
def test_served_policy_drives_an_episode_and_answers_a_burst(ray_module):
    from ray import serve

    from mtrl_ray.serving import serve_policy

    port = free_port()
    url = f"http://127.0.0.1:{port}/act"
    policy = Policy.load(CHECKPOINT)
    serve_policy(CHECKPOINT, port=port, replicas=2)
    try:
        status = serve.status().applications["mtrl_ray_policy"].deployments["PolicyServer"]
        assert status.replica_states == {"RUNNING": 2}
        session = requests.Session()

        def over_http(obs: np.ndarray) -> np.ndarray:
            answer = session.post(url, json={"task": TASK, "obs": obs.tolist()}, timeout=10)
            assert answer.status_code == 200, answer.text
            # As float32, the action space's dtype: HalfCheetah charges its control
            # cost in the action's own dtype.
            return np.asarray(answer.json()["action"], dtype=np.float32)

        # BURST concurrent requests (16 at a time, loopback) while the episode runs: the
        # episode's answers must stay exact under load, and the two overlap in time.
        rng = np.random.default_rng(0)
        bodies = [
            {"task": policy.tasks[i % 6], "obs": rng.normal(size=17).tolist()} for i in range(BURST)
        ]
        with ThreadPoolExecutor(max_workers=16) as pool:
            burst = pool.map(lambda b: requests.post(url, json=b, timeout=30), bodies)
            served = episode_return(over_http, seed=5)
            answers = list(burst)
        assert served == episode_return(lambda o: policy.act(o, task=TASK), seed=5)
        assert [a.status_code for a in answers] == [200] * BURST
        for body, answer in zip(bodies, answers, strict=True):
            expected = policy.act(np.asarray(body["obs"]), task=body["task"])
            np.testing.assert_allclose(answer.json()["action"], expected, rtol=0, atol=1e-6)

        bad = [
            ({"task": "HalfCheetahBigLeg-v0", "obs": [0.0] * 17}, "no head for task"),
            ({"task": TASK, "obs": [0.0] * 16}, "observation of shape (16,)"),
            ({"task": TASK, "obs": ["x"] * 17}, "list of finite numbers"),
            ({"task": TASK, "obs": [None] * 17}, "list of finite numbers"),
            ({"task": TASK}, "list of finite numbers"),
            ({"obs": [0.0] * 17}, '"task" must be'),
            ({"task": TASK, "obs": [0.0] * 17, "deterministic": "no"}, '"deterministic"'),
            ([0.0] * 17, "JSON object"),
        ]
        for body, reason in bad:
            answer = requests.post(url, json=body, timeout=10)
            assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
            assert "\n" not in answer.json()["error"]
        assert requests.post(url, data=b"{not json", timeout=10).status_code == 400
        batch = np.zeros((3, 17))
        answer = requests.post(url, json={"task": TASK, "obs": batch.tolist()}, timeout=10)
        np.testing.assert_allclose(answer.json()["action"], policy.act(batch, task=TASK), atol=1e-6)
        sampled = requests.post(
            url, json={"task": TASK, "obs": [0.0] * 17, "deterministic": False}, timeout=10
        )
        assert sampled.status_code == 200
        assert not np.allclose(sampled.json()["action"], policy.act(np.zeros(17), task=TASK))
    finally:
        serve.shutdown()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={"task": TASK, "obs": [0.0] * 17}, timeout=5)


def test_bad_serve_input_is_one_line_exit_2(tmp_path, capsys):
    cases = [
        ([str(tmp_path / "missing")], "checkpoint not found"),
        ([str(CHECKPOINT), "--replicas", "0"], "--replicas must be >= 1"),
        ([str(CHECKPOINT), "--port", "70000"], "--port in 1..65535"),
    ]
    for argv, message in cases:
        assert main(["serve", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rllib serve: error: ") and message in err, err
        assert err.count("\n") == 1
