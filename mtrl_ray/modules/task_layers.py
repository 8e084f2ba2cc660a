"""Layers with one set of weights per task, routed per sample by task id."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class TaskLinear(nn.Module):
    """`num_tasks` independent linear layers; each sample uses its task's weights.

    Routing is batched, with no Python loop over samples or tasks: a mixed-task batch
    goes through every task's layer in one matmul and each sample keeps its own
    task's output. For the few, small layers of a multi-task network this is ~5x
    faster (forward + backward, measured on CPU for 6 tasks, 64 x 64, 384 samples)
    than gathering a weight copy per sample for a batched matmul. Segment matmuls
    (per task one matmul on its rows, 1/num_tasks of the arithmetic) are no faster
    in PPO's minibatch step at those sizes (0.99-1.01 of this, interleaved A/B in
    benchmarks/learner_ab.md): at 64 units the step is bound by per-op overhead,
    and routing as a whole costs only ~4-13 % of it. With one task this is exactly
    `nn.Linear`.
    """

    def __init__(self, num_tasks: int, in_features: int, out_features: int, gain: float):
        super().__init__()
        # Orthogonal init per task (as CleanRL/SB3 for on-policy MLPs), drawn in
        # nn.Linear's (out, in) layout and stored transposed for `x @ W`.
        weights = [
            nn.init.orthogonal_(torch.empty(out_features, in_features), gain=gain).T
            for _ in range(num_tasks)
        ]
        self.weight = nn.Parameter(torch.stack(weights))
        self.bias = nn.Parameter(torch.zeros(num_tasks, out_features))

    @property
    def num_tasks(self) -> int:
        """Number of tasks (rows of weights)."""
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """Applies each sample's task layer.

        Args:
            x: (B, in_features) inputs.
            task_id: (B,) int64 task ids.

        Returns:
            (B, out_features) outputs.
        """
        if self.num_tasks == 1:
            return x @ self.weight[0] + self.bias[0]
        num_tasks, in_features, out_features = self.weight.shape
        if torch.compiler.is_compiling():
            # One graph for any mix of tasks: the test below reads the data
            # (a graph break and a recompile per outcome under torch.compile). Bias
            # fused and gather rather than the eager path's indexing: compiled, the
            # minibatch step gained 1.44-1.50x this way, 1.39-1.41x that way
            # (learner_ab.py --compare compile, 2026-12-02).
            every_task = torch.addmm(
                self.bias.reshape(-1),
                x,
                self.weight.permute(1, 0, 2).reshape(in_features, num_tasks * out_features),
            ).view(-1, num_tasks, out_features)
            own = task_id.view(-1, 1, 1).expand(-1, 1, out_features)
            return every_task.gather(1, own).squeeze(1)
        first = task_id[:1]
        if task_id.numel() and bool((task_id == first).all()):
            # One task in the batch (every runner's batch, and each step of the cycle
            # update): a plain matmul, without gathering a weight copy per sample.
            t = int(first)
            return x @ self.weight[t] + self.bias[t]
        every_task = x @ self.weight.permute(1, 0, 2).reshape(in_features, num_tasks * out_features)
        rows = torch.arange(x.shape[0], device=x.device)
        return every_task.view(-1, num_tasks, out_features)[rows, task_id] + self.bias[task_id]


class TaskMLP(nn.Module):
    """A stack of `TaskLinear` layers (tanh between), ending in a linear output."""

    def __init__(
        self,
        num_tasks: int,
        in_features: int,
        hiddens: Sequence[int],
        out_features: int,
        out_gain: float,
    ):
        super().__init__()
        sizes = [in_features, *hiddens]
        pairs = zip(sizes[:-1], sizes[1:], strict=True)
        self.hidden = nn.ModuleList(TaskLinear(num_tasks, a, b, math.sqrt(2)) for a, b in pairs)
        self.out = TaskLinear(num_tasks, sizes[-1], out_features, gain=out_gain)

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """Runs the per-task stack for each sample's task."""
        for layer in self.hidden:
            x = torch.tanh(layer(x, task_id))
        return self.out(x, task_id)


def shared_mlp(in_features: int, hiddens: Sequence[int]) -> nn.Sequential:
    """A plain tanh MLP: the trunk shared by all tasks (empty if `hiddens` is)."""
    layers: list[nn.Module] = []
    for size in hiddens:
        linear = nn.Linear(in_features, size)
        nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Tanh()]
        in_features = size
    return nn.Sequential(*layers)


def trunk_features(
    encoder: TaskLinear | None,
    encoder_rows: torch.Tensor | None,
    trunk: nn.Module,
    obs: torch.Tensor,
    task_id: torch.Tensor,
) -> torch.Tensor:
    """The shared layers' output: the input layer of each sample's task or family
    (across body families: `encoder`, row `encoder_rows[task_id]`), then the trunk."""
    if encoder is not None and encoder_rows is not None:
        obs = torch.tanh(encoder(obs, encoder_rows[task_id]))
    return trunk(obs)
