"""Serve a checkpoint's policy over HTTP with Ray Serve: `POST /act`.

Request: `{"task": "HalfCheetahBigFoot-v0", "obs": [17 numbers]}` (or `"obs"` a list
of observations, a batch), optionally `"deterministic": false` to sample. Answer:
`{"action": [...]}`, as `Policy.act` computes it. A bad request (not JSON, an
unknown task, an observation of the wrong length, anything but numbers) is HTTP 400
with a one-line reason in `{"error": ...}`; the replica keeps serving. Each replica
holds its own `Policy` (read weights-only from the checkpoint); `--replicas`
replicas share the requests.
"""

from __future__ import annotations

import math
import time
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from mtrl_ray.policy import Policy

#: The one route.
ACT_PATH = "/act"
#: CPUs reserved per replica (a small MLP: a replica is mostly HTTP handling).
REPLICA_CPUS = 0.25


class BadRequest(ValueError):
    """A request the policy cannot answer; its message is the one-line reason."""


@serve.deployment(ray_actor_options={"num_cpus": REPLICA_CPUS})
class PolicyServer:
    """A replica: one `Policy`, answering `POST /act`."""

    def __init__(self, checkpoint: str):
        self.policy = Policy.load(checkpoint)

    async def __call__(self, request: Request) -> JSONResponse:
        """Answers `POST /act` with the action; anything wrong is a 400 (404/405 off-route)."""
        if request.url.path.rstrip("/") != ACT_PATH:
            return JSONResponse({"error": f"not found; POST {ACT_PATH}"}, status_code=404)
        if request.method != "POST":
            return JSONResponse({"error": f"use POST {ACT_PATH}"}, status_code=405)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        try:
            task, obs, deterministic = parse_request(body)
            action = self.policy.act(obs, task=task, deterministic=deterministic)
        except ValueError as e:  # BadRequest, and Policy's own checks
            return JSONResponse({"error": str(e).splitlines()[0]}, status_code=400)
        return JSONResponse({"action": action.tolist()})


def parse_request(body: Any) -> tuple[str, np.ndarray, bool]:
    """(task, obs, deterministic) of a request body.

    Raises:
        BadRequest: a body that is not `{"task": str, "obs": numbers, ...}`.
    """
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object {"task": ..., "obs": [...]}')
    unknown = sorted(set(body) - {"task", "obs", "deterministic"})
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; fields: task, obs, deterministic")
    task, obs = body.get("task"), body.get("obs")
    if not isinstance(task, str):
        raise BadRequest('"task" must be a task name (a string)')
    deterministic = body.get("deterministic", True)
    if not isinstance(deterministic, bool):
        raise BadRequest('"deterministic" must be true or false')
    rows = obs if isinstance(obs, list) and obs and isinstance(obs[0], list) else [obs]
    for row in rows:
        if not isinstance(row, list) or not all(_is_number(x) for x in row):
            raise BadRequest('"obs" must be a list of finite numbers (or a list of such lists)')
    return task, np.asarray(obs, dtype=np.float64), deterministic


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


def serve_policy(
    checkpoint: str | Path, port: int = 8000, replicas: int = 1, host: str = "127.0.0.1"
) -> serve.handle.DeploymentHandle:
    """Deploys the checkpoint's policy on the connected Ray (call `ray.init` first).

    Args:
        checkpoint: Checkpoint directory.
        port: HTTP port of Serve's proxy.
        replicas: Replicas of the policy sharing the requests.
        host: Address the proxy listens on ("0.0.0.0" for every interface).

    Returns:
        The deployment's handle; `serve.shutdown()` stops it.
    """
    serve.start(http_options={"host": host, "port": port})
    # `@serve.deployment` made the class a Deployment; mypy keeps a decorated class's type.
    deployment: Any = PolicyServer
    app = deployment.options(num_replicas=replicas).bind(str(Path(checkpoint).resolve()))
    return serve.run(app, name="mtrl_ray_policy", route_prefix="/")


def serve_until_interrupted(checkpoint: str | Path, port: int, replicas: int, host: str) -> None:
    """`serve_policy`, then serves until Ctrl-C (KeyboardInterrupt); always shuts Serve down."""
    try:
        serve_policy(checkpoint, port, replicas, host)
        print(
            f"serving {checkpoint}: POST http://{host}:{port}{ACT_PATH}; Ctrl-C stops", flush=True
        )
        while True:
            time.sleep(1)
    finally:
        serve.shutdown()
