"""`rllib render`: one animated GIF of a checkpoint's policies on several tasks, side by side.

Each task runs one episode on its own evaluation runner (with the mean action by
default), which renders the first frames of it (same camera, size and frame rate
for every task) and runs it to the end for its return. The driver lays the panels
out in a grid, titles each with its task and return, and writes the GIF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtrl_ray.checkpoints import CheckpointError, CheckpointInfo
from mtrl_ray.recording import Recording, VideoError, VideoSettings, check_gl_backend

#: Height of the title strip above each panel, in pixels.
TITLE_HEIGHT = 18


@dataclass(frozen=True)
class Panel:
    """One panel of the gallery: a variant and the head that acts on it."""

    task: str
    head: str

    @property
    def title(self) -> str:
        """E.g. "BigTorso", or "BigLeg (SmallLeg head)" for a head on another variant."""
        name = short_name(self.task)
        return name if self.head == self.task else f"{name} ({short_name(self.head)} head)"


def short_name(task: str) -> str:
    """The task without runner and version: "HalfCheetahBigTorso-v0" -> "BigTorso"."""
    name = task.rsplit("/", 1)[-1].removesuffix("-v0")
    return name.removeprefix("HalfCheetah") or name


def gallery_panels(info: CheckpointInfo, tasks: list[str] | None, head: str | None) -> list[Panel]:
    """The panels: each task with its own head, or with `head` if it has none.

    Raises:
        CheckpointError: `head` is not one of the checkpoint's tasks, or a task has
            no head of its own and no `head` was given.
    """
    from mtrl_ray.tasks.task_set import canonical_task_name

    if head is not None:
        head = canonical_task_name(head)
        if head not in info.tasks:
            raise CheckpointError(
                f"checkpoint has no head for {head}; its tasks: {', '.join(info.tasks)}"
            )
    names = [canonical_task_name(t) for t in tasks] if tasks else list(info.tasks)
    missing = [t for t in names if t not in info.tasks]
    if missing and head is None:
        raise CheckpointError(
            f"checkpoint has no head for {', '.join(missing)}: pick one with --head "
            f"(its tasks: {', '.join(info.tasks)})"
        )
    # Without `head`, every task has a head of its own (checked above).
    return [Panel(t, t if head is None or t in info.tasks else head) for t in names]


def gallery_settings(
    size: str, frames: int, every: int, columns: int | None = None
) -> VideoSettings:
    """`rllib render`'s recording settings from its flags; checks the GL backend.

    Raises:
        VideoError: a malformed `size` ("WxH"), a count below 1, or no GL backend.
    """
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise VideoError(f"--size must be WxH in pixels (e.g. 240x180), got {size!r}")
    if min(frames, every, columns or 1) < 1:
        raise VideoError("--frames, --every and --columns must be >= 1")
    return VideoSettings(
        width=int(width),
        height=int(height),
        every=every,
        max_frames=frames,
        encode="frames",
        gl=check_gl_backend(),
    )


def record_panels(
    info: CheckpointInfo,
    panels: list[Panel],
    settings: VideoSettings,
    deterministic: bool = True,
    seed: int = 0,
) -> list[Recording]:
    """One recorded episode per panel, rendered on one evaluation runner per panel.

    Runner w (panel w - 1) resets its env with seed `seed + w + 1e6`: RLlib's seed of
    an evaluation runner's first env.
    """
    from mtrl_ray.evaluation_runners import make_evaluation_runners, run_episodes

    variants = [p.task for p in panels]
    heads = [p.head for p in panels]
    group = make_evaluation_runners(info, 1, deterministic, seed, heads, variants, settings)
    # Runner i + 1 runs panel i (the same task may appear twice: other seeds).
    return [recs[0] for _, _, recs in run_episodes(group, info, variants, 1, settings)]


def compose(
    recordings: list[Recording], titles: list[str], columns: int | None = None
) -> list[np.ndarray]:
    """The gallery's frames: panels in a grid (row by row), each under its title.

    A panel's title is its `titles` entry and its episode's return. Episodes that
    ended early hold their last frame.

    Returns:
        (rows * (TITLE_HEIGHT + height), columns * width, 3) uint8 frames.
    """
    from PIL import Image, ImageDraw, ImageFont

    clips = []
    for rec in recordings:
        assert isinstance(rec.data, np.ndarray), "compose needs frames (encode='frames')"
        clips.append(rec.data)
    columns = columns or min(len(recordings), 4)
    rows = math.ceil(len(recordings) / columns)
    height, width = clips[0].shape[1:3]
    cell_h = TITLE_HEIGHT + height
    n_frames = max(len(c) for c in clips)
    canvas = np.full((n_frames, rows * cell_h, columns * width, 3), 255, dtype=np.uint8)
    font = ImageFont.load_default(size=TITLE_HEIGHT - 5)
    for k, (rec, clip, title) in enumerate(zip(recordings, clips, titles, strict=True)):
        top, left = (k // columns) * cell_h, (k % columns) * width
        strip = Image.new("RGB", (width, TITLE_HEIGHT), "white")
        ImageDraw.Draw(strip).text((3, 1), f"{title}: {rec.ret:.0f}", fill="black", font=font)
        canvas[:, top : top + TITLE_HEIGHT, left : left + width] = np.asarray(strip)
        frames = clip[np.minimum(np.arange(n_frames), len(clip) - 1)]
        canvas[:, top + TITLE_HEIGHT : top + cell_h, left : left + width] = frames
    return list(canvas)


def save_gif(frames: list[np.ndarray], path: Path, fps: float, colors: int = 64) -> Path:
    """Writes an endlessly looping GIF (each frame quantized to `colors` colours)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f).quantize(colors=colors) for f in frames]
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=True,
    )
    return path


def render_gallery(
    info: CheckpointInfo,
    panels: list[Panel],
    out: Path,
    settings: VideoSettings,
    deterministic: bool = True,
    seed: int = 0,
    columns: int | None = None,
) -> list[Recording]:
    """Records every panel's episode and writes the gallery GIF to `out`."""
    recordings = record_panels(info, panels, settings, deterministic, seed)
    frames = compose(recordings, [p.title for p in panels], columns)
    save_gif(frames, out, recordings[0].fps)
    return recordings
