"""Starts the benchmarks' private local Ray, retrying when the machine is too loaded.

Ray waits a fixed 30 s for its raylet to register; on a loaded 2-core machine it
sometimes takes longer and `ray.init` fails. Each script shuts its Ray down with
`ray.shutdown()` (never `ray stop`: other users' Ray stays up).
"""

from __future__ import annotations

import sys
import time


def start_ray(num_cpus: int, attempts: int = 5, **kwargs) -> None:
    """`ray.init(num_cpus=...)` without dashboard or log forwarding, up to `attempts` tries."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                **kwargs,
            )
            return
        except Exception as e:  # Ray raises a bare Exception on the startup timeout
            if "timed out during startup" not in str(e) or attempt == attempts:
                raise
            print(f"Ray did not start (attempt {attempt}): {e}", file=sys.stderr, flush=True)
            ray.shutdown()
            time.sleep(10)
