"""One sample request in flight per runner: fragments as they arrive (APPO's fast path).

A `FragmentStream` keeps every remote runner busy with one request of the lean
sampling method (`PinnedEnvRunner.sample_fragment_and_metrics`) and hands back
the answers in the order they arrive (`ray.wait` with `num_returns=1`). A request
carries the driver's current weights (pickled once per version, as
`FragmentRounds._current_weights` makes them) unless the runner already has them;
a runner that answers is sent its next request at the next `refill`, with the
weights current then, so it samples while the learner updates.
"""

from __future__ import annotations

from typing import Any

import ray


class FragmentStream:
    """Sample requests in flight, at most one per runner.

    Args:
        runners: {runner id: actor handle} (`_rllib_compat.remote_env_runners`).
        method: The runners' method to call (it takes `state=` plus `kwargs`).
        kwargs: Keyword arguments of every call besides `state`.
    """

    def __init__(self, runners: dict[int, Any], method: str, **kwargs: Any):
        self._runners = runners
        self._method = method
        self._kwargs = kwargs
        self._pending: dict[Any, int] = {}  # object ref -> runner id
        self._versions: dict[int, int] = {}  # runner id -> weights version it holds

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def refill(self, weights: Any, version: int) -> None:
        """Sends a request to every runner without one.

        Args:
            weights: The weights of `version` (bytes or a state dict).
            version: Their version: a runner that holds it gets `state=None`.
        """
        busy = set(self._pending.values())
        for runner_id, handle in self._runners.items():
            if runner_id in busy:
                continue
            state = None if self._versions.get(runner_id) == version else weights
            ref = getattr(handle, self._method).remote(state=state, **self._kwargs)
            self._pending[ref] = runner_id
            self._versions[runner_id] = version

    def arrived(self, timeout: float | None = None) -> list[tuple[int, Any]]:
        """Waits for the first answer (up to `timeout` s); returns all that are in.

        Returns:
            (runner id, result) of each answered request, in the order `ray.wait`
            reports them (empty on timeout or with nothing in flight).
        """
        if not self._pending:
            return []
        refs = list(self._pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:  # and any others that finished meanwhile
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        return [(self._pending.pop(ref), ray.get(ref)) for ref in ready]
