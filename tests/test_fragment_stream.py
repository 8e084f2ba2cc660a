"""APPO's fast-path stream: one request in flight per runner, answers as they arrive.

Small Ray actors stand in for the runners (the stream only calls one method of
theirs); `test_appo.py` runs the stream with real pinned runners.
"""

from __future__ import annotations

import time

import pytest

from mtrl_ray.algorithms.fragment_stream import FragmentStream

pytestmark = pytest.mark.slow  # starts Ray


class Runner:
    """Answers each request after `delay` seconds with (its id, the state it got)."""

    def __init__(self, runner_id: int, delay: float):
        self.runner_id = runner_id
        self.delay = delay
        self.calls = 0

    def sample(self, *, state=None, size: int):
        self.calls += 1
        time.sleep(self.delay)
        return self.runner_id, state, size


def test_answers_come_as_they_arrive_and_weights_only_when_new(ray_local):
    ray = ray_local
    actor = ray.remote(num_cpus=0.1)(Runner)
    runners = {1: actor.remote(1, 0.05), 2: actor.remote(2, 3.0)}  # 2 is slow
    try:
        ray.get([r.__ray_call__.remote(lambda self: None) for r in runners.values()])  # started
        stream = FragmentStream(runners, "sample", size=7)
        stream.refill(b"v1", version=1)
        assert stream.in_flight == 2
        first = stream.arrived()
        assert first == [(1, (1, b"v1", 7))]  # the fast runner's, without waiting for 2
        stream.refill(b"v1", version=1)  # runner 1 again, the weights it holds: none sent
        assert stream.in_flight == 2  # runner 2's request still in flight: not re-sent
        assert stream.arrived() == [(1, (1, None, 7))]
        stream.refill(b"v2", version=2)  # new weights go with runner 1's next request
        answers = []
        while len(answers) < 2:
            answers += stream.arrived(timeout=5)
        assert sorted(answers, key=lambda a: a[0]) == [(1, (1, b"v2", 7)), (2, (2, b"v1", 7))]
        stream.refill(b"v2", version=2)  # runner 2 lacks v2: it gets it, runner 1 not
        answers = []
        while len(answers) < 2:
            answers += stream.arrived(timeout=5)
        assert sorted(answers, key=lambda a: a[0]) == [(1, (1, None, 7)), (2, (2, b"v2", 7))]
        assert stream.arrived() == [] and stream.in_flight == 0
        calls = [r.__ray_call__.remote(lambda self: self.calls) for r in runners.values()]
        assert ray.get(calls) == [4, 2]
    finally:
        for handle in runners.values():
            ray.kill(handle)
