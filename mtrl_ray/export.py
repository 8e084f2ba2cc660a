"""Export a checkpoint's policy: one ONNX or TorchScript file per task head.

Each file is a self-contained graph of one task's policy, so a robot-side runtime
(onnxruntime, libtorch) needs nothing of this project, RLlib or Python:

- input `obs`: float32 (N, obs_dim) raw observations, as the env gives them (any N);
- output `action`: float32 (N, act_dim), the mean action mapped to the env as in
  training (the checkpoint's `actions_for_env`: raw, clipped, or rescaled from
  [-1, 1] to the bounds and clipped): what `Policy.act(obs, task)` returns;
- outputs `mean` and `log_std`: float32 (N, act_dim), the head's Gaussian before
  the mapping, for a runtime that samples (`mean + exp(log_std) * noise`, then the
  same mapping).

The graph holds the task's frozen observation statistics (normalize, clip to
+-obs_clip) and computes the module's own forward (`_forward`), traced for that
task. `export.json` beside the files names them and records the mapping.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from ray.rllib.core.columns import Columns
from torch import nn

from mtrl_ray import _rllib_compat as compat
from mtrl_ray.columns import TASK_ID
from mtrl_ray.policy import Policy

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
#: Sample observations the graph is traced on (values do not matter, N is dynamic).
_TRACE_BATCH = 4


class ExportError(ValueError):
    """An export that cannot be done as asked (unknown format, output not a folder)."""


class TaskPolicyGraph(nn.Module):
    """One task's policy as a plain torch graph: raw obs -> (action, mean, log_std).

    Args:
        policy: The loaded policy.
        task: The head to export.
    """

    low: torch.Tensor  # buffers, with normalize_actions or clip_actions
    high: torch.Tensor

    def __init__(self, policy: Policy, task: str):
        super().__init__()
        self.module = policy.module
        self.task_id = policy.tasks.index(policy.task(task))
        # Across body families: the task's own sizes in, the module's padded ones inside.
        self.obs_pad = policy.observation_dim - policy.sizes(task)[0]
        self.act_dim, self.own_act_dim = policy.action_dim, policy.sizes(task)[1]
        modes = policy.info.actions_for_env
        self.normalize_actions = bool(modes["normalize_actions"])
        self.clip_actions = bool(modes["clip_actions"])
        if self.normalize_actions or self.clip_actions:
            low, high = policy.action_bounds(task)
            self.register_buffer("low", torch.from_numpy(low))
            self.register_buffer("high", torch.from_numpy(high))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(action, mean, log_std) at raw float32 observations (N, obs_dim)."""
        task_id = torch.full_like(obs[:, 0], self.task_id, dtype=torch.long)
        if self.obs_pad:
            obs = nn.functional.pad(obs, (0, self.obs_pad))
        out = compat.forward(self.module, {Columns.OBS: obs, TASK_ID: task_id})
        dist = out[Columns.ACTION_DIST_INPUTS]
        mean = dist[:, : self.own_act_dim]
        log_std = dist[:, self.act_dim : self.act_dim + self.own_act_dim]
        action = mean
        if self.normalize_actions:  # as `map_actions`, in torch
            action = self.low + (action + 1.0) * (self.high - self.low) / 2.0
        if self.normalize_actions or self.clip_actions:
            action = torch.clamp(action, self.low, self.high)
        return action, mean, log_std


def export_policy(checkpoint: str | Path, fmt: str, out: str | Path) -> list[Path]:
    """Writes one `<task><ext>` file per task head and `export.json` into `out`.

    Args:
        checkpoint: Checkpoint directory.
        fmt: "onnx" or "torchscript".
        out: Output folder (created if missing).

    Returns:
        The written files, heads in order, then `export.json`.

    Raises:
        ExportError: an unknown format, or `out` exists and is not a folder.
        CheckpointError: a missing or foreign checkpoint.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder")
    policy = Policy.load(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for task in policy.tasks:
        graph = TaskPolicyGraph(policy, task).eval()
        sample = torch.zeros(_TRACE_BATCH, policy.sizes(task)[0])
        path = out / f"{task}{FORMATS[fmt]}"
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing bakes this head's routing (a Python branch on the task id) into
            # the graph, which is the point: silence the tracer's notes about it.
            warnings.simplefilter("ignore")
            if fmt == "onnx":
                _write_onnx(graph, sample, path)
            else:
                torch.jit.trace(graph, sample, check_trace=False).save(str(path))
        written.append(path)
    written.append(_write_description(policy, fmt, out, written))
    return written


def _write_onnx(graph: nn.Module, sample: torch.Tensor, path: Path) -> None:
    names = ["action", "mean", "log_std"]
    torch.onnx.export(
        graph,
        (sample,),
        str(path),
        input_names=["obs"],
        output_names=names,
        dynamic_axes={name: {0: "batch"} for name in ["obs", *names]},
        dynamo=False,
    )


def _write_description(policy: Policy, fmt: str, out: Path, files: list[Path]) -> Path:
    """`export.json`: the files per task, their inputs and outputs, the action mapping."""
    info = policy.info
    description = {
        "checkpoint": str(info.path),
        "algorithm": info.algorithm,
        "format": fmt,
        "files": {task: path.name for task, path in zip(info.tasks, files, strict=True)},
        "input": {"obs": ["N", policy.observation_dim]},
        "outputs": {name: ["N", policy.action_dim] for name in ("action", "mean", "log_std")},
        "actions_for_env": info.actions_for_env,
        "action": "the mean action, mapped to the env as in training (actions_for_env)",
    }
    if info.model_config.get("families"):  # across body families: each task's own sizes
        sizes = {task: policy.sizes(task) for task in info.tasks}
        description["input"] = {"obs": ["N", "sizes[task][0]"]}
        description["outputs"] = {n: ["N", "sizes[task][1]"] for n in description["outputs"]}
        description["sizes"] = {task: list(size) for task, size in sizes.items()}
    path = out / "export.json"
    path.write_text(json.dumps(description, indent=2))
    return path
