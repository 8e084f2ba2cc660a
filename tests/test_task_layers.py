"""`TaskLinear` routing against a plain per-row loop: outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from mtrl_ray.modules import TaskLinear


def _per_row(layer: TaskLinear, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
    """The reference: row i through task task_id[i]'s weights, one row at a time."""
    rows = [x[i] @ layer.weight[int(t)] + layer.bias[int(t)] for i, t in enumerate(task_id)]
    return torch.stack(rows)


def _outputs_and_gradients(layer: TaskLinear, x: torch.Tensor, out: torch.Tensor):
    g = torch.Generator().manual_seed(1)
    upstream = torch.randn(out.shape, generator=g)  # a different weight for every output
    grads = torch.autograd.grad(out, [x, layer.weight, layer.bias], upstream)
    return [out.detach(), *grads]


@pytest.mark.parametrize(
    "task_ids",
    [
        [3, 0, 1, 1, 0, 3, 2, 2, 0, 3, 1, 0],  # every task, interleaved
        [3, 0, 0, 3, 3, 0, 0, 3],  # tasks 1 and 2 absent (empty groups)
        [2] * 7,  # one task (the plain-matmul path)
        [1],
    ],
    ids=["mixed", "absent-tasks", "single-task", "one-row"],
)
def test_each_row_goes_through_its_task(task_ids):
    torch.manual_seed(0)
    layer = TaskLinear(4, 5, 3, gain=1.0)
    with torch.no_grad():
        layer.bias.normal_()  # zero at init: make rows of different tasks differ by bias too
    task_id = torch.tensor(task_ids)
    x = torch.randn(len(task_ids), 5, requires_grad=True)
    got = _outputs_and_gradients(layer, x, layer(x, task_id))
    want = _outputs_and_gradients(layer, x, _per_row(layer, x, task_id))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    # Tasks without rows get no gradient at all.
    absent = sorted(set(range(4)) - set(task_ids))
    assert not got[2][absent].any() and not got[3][absent].any()


def test_a_wrong_routing_is_caught():
    """The comparison above can fail: rows sent to the next task's weights differ."""
    torch.manual_seed(0)
    layer = TaskLinear(3, 5, 3, gain=1.0)
    task_id = torch.tensor([0, 1, 2, 1, 0])
    x = torch.randn(5, 5)
    wrong = _per_row(layer, x, (task_id + 1) % 3)
    assert not torch.allclose(layer(x, task_id), wrong, rtol=1e-6, atol=1e-6)
