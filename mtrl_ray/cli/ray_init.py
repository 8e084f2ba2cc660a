"""Joining a Ray cluster, or starting a local Ray sized for the experiment."""

from __future__ import annotations

import math
import os

from mtrl_ray.cli.parser import UsageError


def init_ray(address: str | None, cpus_wanted: float = 0.0) -> None:
    """Joins `address` (or a running cluster), else starts a local Ray.

    A local Ray gets at least as many logical CPUs as the experiment asks for: on a
    small machine the runners share the cores (MuJoCo stepping is light), while
    Ray would otherwise wait forever for CPUs that will never appear.
    """
    import ray

    if ray.is_initialized():
        return
    probe_address(address)
    num_cpus = None
    starts_local = address == "local" or (address is None and not cluster_running())
    if starts_local:
        num_cpus = max(os.cpu_count() or 1, int(math.ceil(cpus_wanted)))
    ray.init(address=address, num_cpus=num_cpus, log_to_driver=False)


#: How long `probe_address` waits for a cluster's port to accept a connection.
PROBE_SECONDS = 10.0


def probe_address(address: str | None) -> None:
    """Raises UsageError unless something accepts TCP connections at `address`.

    `ray.init` retries an address where nothing listens for minutes (ignoring
    SIGTERM meanwhile); one connect attempt to the GCS (or Ray Client) port tells
    within seconds. "auto", "local" and no address are ray.init's to resolve.
    """
    import socket

    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address}: expected HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise UsageError(f"--ray-address {address}: no Ray cluster there ({reason})") from None


def cluster_running() -> bool:
    """Whether `ray.init()` would join a cluster (RAY_ADDRESS, or one from `ray start`).

    Exactly ray.init's own test: a Ray that another program started with `ray.init()`
    is not joined, so it must not stop us from sizing the local Ray we start.
    """
    from mtrl_ray._rllib_compat import ray_would_join_a_cluster

    return ray_would_join_a_cluster()
