"""`fused_adam_step`: the fused Adam kernels called directly give `Adam.step`'s update."""

from __future__ import annotations

import copy

import pytest
import torch

from mtrl_ray.algorithms.gradient_step import fused_adam_step, gradient_step


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def _loss(net: torch.nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(16, 5, generator=g), torch.randn(16, 3, generator=g)
    return ((net(x) - y) ** 2).mean()


def _states(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [t for s in optimizer.state.values() for t in s.values()]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}],
    ids=["adam", "weight-decay", "adamw"],
)
def test_same_update_as_adam_step(kwargs):
    """Parameters and state bit-identical to `Adam.step` over steps with a changing
    lr, one parameter without gradient on some steps (left alone, as Adam does)."""
    nets = [_net(), _net()]
    optimizers = [torch.optim.Adam(n.parameters(), lr=1e-2, fused=True, **kwargs) for n in nets]
    taken = []
    for step in range(6):
        for i, (net, optimizer) in enumerate(zip(nets, optimizers, strict=True)):
            optimizer.param_groups[0]["lr"] = 1e-2 / (step + 1)  # as RLlib's schedule sets it
            optimizer.zero_grad(set_to_none=True)
            _loss(net, step).backward()
            if step % 2:
                net[2].bias.grad = None
            if i == 0:
                optimizer.step()
            else:
                taken.append(fused_adam_step(optimizer))
                if not taken[-1]:
                    optimizer.step()
        for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
            assert torch.equal(a, b)
        for a, b in zip(_states(optimizers[0]), _states(optimizers[1]), strict=True):
            assert torch.equal(a, b)
    assert taken == [False] + [True] * 5  # the first step initializes the state
    assert not torch.equal(nets[0][0].weight, _net()[0].weight)  # it did train


def test_other_optimizers_left_to_their_step():
    """Non-fused Adam, amsgrad, RMSprop and an optimizer with a step hook: not taken,
    nothing changed."""
    for make in (
        lambda p: torch.optim.Adam(p, lr=0.1),
        lambda p: torch.optim.Adam(p, lr=0.1, fused=True, amsgrad=True),
        lambda p: torch.optim.RMSprop(p, lr=0.1),
    ):
        net = _net()
        optimizer = make(net.parameters())
        for step in range(2):
            _loss(net, step).backward()
            before = copy.deepcopy(net.state_dict())
            assert not fused_adam_step(optimizer)
            assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
            optimizer.step()
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1, fused=True)
    calls = []
    optimizer.register_step_post_hook(lambda *_: calls.append(1))
    for step in range(2):
        optimizer.zero_grad()
        _loss(net, step).backward()
        assert not fused_adam_step(optimizer)
        optimizer.step()
    assert calls == [1, 1]


def test_gradient_step_uses_it():
    """`gradient_step` with a fused Adam: the update `Adam.step` gives, with clipping."""
    nets = [_net(), _net()]
    optimizers = [torch.optim.Adam(n.parameters(), lr=1e-2, fused=True) for n in nets]
    for step in range(3):
        optimizers[0].zero_grad()
        _loss(nets[0], step).backward()
        torch.nn.utils.clip_grad_norm_(list(nets[0].parameters()), 0.05)
        optimizers[0].step()
        params = list(nets[1].parameters())
        gradient_step(optimizers[1], params, _loss(nets[1], step), 0.05, "global_norm")
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
