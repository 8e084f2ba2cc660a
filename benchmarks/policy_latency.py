"""Policy latency: `Policy.act`, the exported ONNX head, and the served endpoint.

Measures, on a committed checkpoint and one task:

- `Policy.act` latency for one observation (median and 90th percentile of single
  calls, median over repeats);
- actions per second of `Policy.act` for batches of 1, 16 and 256 (median over repeats);
- the same for the ONNX file of `rllib export` run with onnxruntime (if installed);
- with `--serve`: requests per second of `rllib serve`'s endpoint (Ray Serve, one
  observation per request, 8 client threads on loopback) at 1 and 2 replicas, on a
  private local Ray.

    python benchmarks/policy_latency.py --out benchmarks/policy_latency.md [--serve]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# One BLAS/OpenMP thread, as `rllib` sets it: on a small shared machine numpy's threaded
# matmul makes batches of 256 some 50x slower (38k vs 1.9M actions/s measured here).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from mtrl_ray import Policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "results/vanilla_multitask_raw_seed0/checkpoint/checkpoint_000250"
TASK = "HalfCheetahBigFoot-v0"
BATCHES = (1, 16, 256)


def single_latency_us(act, obs: np.ndarray, calls: int, repeats: int) -> tuple[float, float]:
    """(median, p90) of one call's latency in microseconds, each the median over repeats."""
    p50, p90 = [], []
    for _ in range(repeats):
        times = np.empty(calls)
        for i in range(calls):
            start = time.perf_counter()
            act(obs[i % len(obs)])
            times[i] = time.perf_counter() - start
        p50.append(np.percentile(times, 50) * 1e6)
        p90.append(np.percentile(times, 90) * 1e6)
    return float(np.median(p50)), float(np.median(p90))


def actions_per_second(act, obs: np.ndarray, batch: int, seconds: float, repeats: int) -> float:
    """Median over repeats of actions computed per second in batches of `batch`."""
    rates = []
    chunk = obs[:batch]
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            act(chunk)
            calls += 1
        rates.append(calls * batch / elapsed)
    return float(np.median(rates))


def served_requests_per_second(replicas: int, requests_total: int, threads: int) -> float:
    """Requests/s of the served endpoint at `replicas` (one observation per request)."""
    import requests
    from ray import serve

    from mtrl_ray.serving import serve_policy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve_policy(CHECKPOINT, port=port, replicas=replicas)
    url = f"http://127.0.0.1:{port}/act"
    body = {"task": TASK, "obs": [0.0] * 17}
    try:
        local = threading.local()  # one HTTP session (kept-alive connection) per thread

        def post(_: int) -> int:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            return local.session.post(url, json=body, timeout=30).status_code

        for _ in range(50):  # warm up
            post(0)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            codes = list(pool.map(post, range(requests_total)))
        elapsed = time.perf_counter() - start
        assert codes == [200] * requests_total
        return requests_total / elapsed
    finally:
        serve.shutdown()


def machine() -> str:
    model = subprocess.run(
        "lscpu | grep 'Model name'", shell=True, capture_output=True, text=True
    ).stdout.split(":")[-1]
    return f"{model.strip()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per batch-size repeat")
    parser.add_argument("--calls", type=int, default=2000, help="single calls per repeat")
    parser.add_argument("--serve", action="store_true", help="also the served endpoint")
    parser.add_argument("--requests", type=int, default=1000, help="requests per replica count")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    policy = Policy.load(CHECKPOINT)
    obs = np.random.default_rng(0).normal(size=(256, policy.observation_dim))
    load = os.getloadavg()[0]
    threads = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    rows = []
    p50, p90 = single_latency_us(lambda o: policy.act(o, TASK), obs, args.calls, args.repeats)
    rows.append(f"| `Policy.act`, one observation | {p50:.1f} µs (p90 {p90:.1f} µs) |")
    for batch in BATCHES:
        rate = actions_per_second(
            lambda o: policy.act(o, TASK), obs, batch, args.seconds, args.repeats
        )
        rows.append(f"| `Policy.act`, batches of {batch} | {rate:,.0f} actions/s |")
    rows += onnx_rows(obs.astype(np.float32), args)
    if args.serve:
        rows += serve_rows(args)

    command = "python benchmarks/policy_latency.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" if not isinstance(v, bool) else f"--{k}"
        for k, v in vars(args).items()
        if k != "out" and v is not False
    )
    text = "\n".join(
        [
            f"# Policy latency ({TASK} head of {CHECKPOINT.relative_to(ROOT)})",
            "",
            f"- command: `{command}`",
            f"- machine: {machine()}; 1-minute load average at start: {load:.2f} "
            "(a shared machine: other jobs ran)",
            f"- date: {datetime.date.today()}, commit {git_commit()}",
            f"- medians over {args.repeats} repeats; {threads}",
            "",
            "| what | median |",
            "| --- | ---: |",
            *rows,
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.write_text(text)


def onnx_rows(obs: np.ndarray, args: argparse.Namespace) -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    from mtrl_ray.export import export_policy

    with tempfile.TemporaryDirectory() as out:
        export_policy(CHECKPOINT, "onnx", out)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            str(Path(out) / f"{TASK}.onnx"), options, providers=["CPUExecutionProvider"]
        )

        def act(o):
            return session.run(["action"], {"obs": o.reshape(-1, o.shape[-1])})[0]

        p50, p90 = single_latency_us(act, obs, args.calls, args.repeats)
        rows = [f"| ONNX Runtime (1 thread), one observation | {p50:.1f} µs (p90 {p90:.1f} µs) |"]
        for batch in BATCHES:
            rate = actions_per_second(act, obs, batch, args.seconds, args.repeats)
            rows.append(f"| ONNX Runtime (1 thread), batches of {batch} | {rate:,.0f} actions/s |")
    return rows


def serve_rows(args: argparse.Namespace) -> list[str]:
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ray_bench_") as temp:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _temp_dir=temp,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
        )
        try:
            for replicas in (1, 2):
                rate = served_requests_per_second(replicas, args.requests, threads=8)
                rows.append(
                    f"| `rllib serve`, {replicas} replica(s), 8 client threads | "
                    f"{rate:,.0f} requests/s |"
                )
        finally:
            ray.shutdown()
    return rows


def git_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
