"""Episode videos: frames rendered on the evaluation runners, files written by the driver.

An evaluation runner built with `VideoSettings` creates its envs with
`render_mode="rgb_array"` and wraps each in a `FrameRecorder` (see
`mtrl_ray.tasks.pinning`). Before sampling, `collect_recordings` switches recording
on for the runner's first `episodes` envs; each records its first episode (the reset
frame, then every `every`-th step's frame, up to `max_frames`) and its return. The
runner sends the frames back as MP4 bytes (encoded where they were rendered: a
1000-step episode is 230 MB of pixels at 320 x 240, a few MB as MP4) or, for a
gallery, as a small uint8 array; the driver writes the files. Rendering is headless:
the runners use the driver's GL backend, `MUJOCO_GL` if set, else EGL, which
`check_gl_backend` tries in a subprocess before Ray starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

#: The GL backend used when the user has not set MUJOCO_GL.
DEFAULT_GL = "egl"

#: Renders one frame of a one-geom model with the backend named by MUJOCO_GL.
_GL_PROBE = (
    "import mujoco\n"
    'm = mujoco.MjModel.from_xml_string(\'<mujoco><worldbody><geom size=".1"/>'
    "</worldbody></mujoco>')\n"
    "r = mujoco.Renderer(m, 16, 16)\n"
    "r.update_scene(mujoco.MjData(m))\n"
    "r.render()\n"
)


class VideoError(ValueError):
    """Video recording cannot work here (no GL backend, no encoder): a user error."""


@dataclass(frozen=True)
class VideoSettings:
    """What the evaluation runners record.

    Attributes:
        episodes: Episodes recorded per runner (its first envs' first episodes).
        width: Frame width in pixels.
        height: Frame height in pixels.
        every: Keep every `every`-th step's frame (1: all, at the env's 20 fps).
        max_frames: Stop recording an episode after this many frames (None: all).
        encode: "mp4" (frames come back as MP4 bytes) or "frames" (a uint8 array).
        gl: GL backend the runners render with (MUJOCO_GL).
    """

    episodes: int = 1
    width: int = 320
    height: int = 240
    every: int = 1
    max_frames: int | None = None
    encode: str = "mp4"
    gl: str = DEFAULT_GL

    def env_config(self) -> dict[str, Any]:
        """The settings as plain data, for the runners' `env_config["record"]`."""
        return asdict(self)


@dataclass(frozen=True)
class Recording:
    """One recorded episode.

    Attributes:
        task: Environment the episode ran on.
        head: Task whose head acted.
        episode: Index of the env (of its runner) that ran it.
        ret: The episode's undiscounted return.
        length: Its number of steps.
        fps: Frames per second of the recording (real time).
        data: MP4 bytes, or a (frames, height, width, 3) uint8 array.
    """

    task: str
    head: str
    episode: int
    ret: float
    length: int
    fps: float
    data: bytes | np.ndarray

    @property
    def file_name(self) -> str:
        """E.g. `HalfCheetahBigTorso-v0__head-HalfCheetahBigTorso-v0__ep0__return-2612.mp4`."""
        return f"{self.task}__head-{self.head}__ep{self.episode}__return-{self.ret:.0f}.mp4"


def gl_backend() -> str:
    """The GL backend rendering will use: the user's MUJOCO_GL, else EGL (headless)."""
    return os.environ.get("MUJOCO_GL") or DEFAULT_GL


def check_gl_backend(backend: str | None = None) -> str:
    """Renders a tiny scene with `backend` in a subprocess; returns the backend.

    Raises:
        VideoError: if the backend cannot be loaded (one line, naming it).
    """
    backend = backend or gl_backend()
    env = {**os.environ, "MUJOCO_GL": backend}
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _GL_PROBE], env=env, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        raise VideoError(f"GL backend {backend!r} (MUJOCO_GL) did not render in 120 s") from None
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {probe.returncode}"
        raise VideoError(
            f"cannot render with GL backend {backend!r} (MUJOCO_GL={backend}): {reason}; "
            "set MUJOCO_GL to an installed backend (egl, osmesa, glfw)"
        )
    return backend


def check_encoder() -> None:
    """Raises VideoError if MP4 encoding (imageio with imageio-ffmpeg) is not installed."""
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError as e:
        raise VideoError(
            f"--video needs {e.name}: pip install 'mtrl-ray[video]' (imageio, imageio-ffmpeg)"
        ) from None


def evaluation_settings(episodes: int, video_episodes: int) -> VideoSettings:
    """`rllib evaluate --video`'s settings, after checking what it needs (before Ray starts).

    Raises:
        VideoError: `video_episodes` is not in 1..`episodes`, the encoder is not
            installed, or the GL backend cannot be loaded.
    """
    if not 1 <= video_episodes <= episodes:
        raise VideoError(
            f"--video-episodes must be between 1 and --episodes ({episodes}), got {video_episodes}"
        )
    check_encoder()
    return VideoSettings(episodes=video_episodes, gl=check_gl_backend())


class FrameRecorder(gym.Wrapper):
    """Records the frames and return of the env's first episode once `recording` is on.

    Attributes:
        recording: Record the next episode that starts (set per env by the runner).
        recordings: (return, length, frames) of each finished recorded episode.
    """

    def __init__(self, env: gym.Env, every: int = 1, max_frames: int | None = None) -> None:
        super().__init__(env)
        self.every = every
        self.max_frames = max_frames
        self.recording = False
        self.recordings: list[tuple[float, int, list[np.ndarray]]] = []
        self._frames: list[np.ndarray] | None = None
        self._return = 0.0
        self._length = 0

    def reset(self, **kwargs):
        """Resets; starts recording if asked and no episode was recorded yet."""
        obs, info = self.env.reset(**kwargs)
        self._frames = None
        if self.recording and not self.recordings:
            self._frames = [self.env.render()]
            self._return, self._length = 0.0, 0
        return obs, info

    def step(self, action):
        """Steps; renders every `every`-th step of a recorded episode."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._frames is not None:
            self._return += float(reward)
            self._length += 1
            room = self.max_frames is None or len(self._frames) < self.max_frames
            if room and self._length % self.every == 0:
                self._frames.append(self.env.render())
            if terminated or truncated:
                self.recordings.append((self._return, self._length, self._frames))
                self._frames = None
        return obs, reward, terminated, truncated, info


def record_env_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """Env constructor kwargs for rendering (on a runner: also selects the GL backend)."""
    # gymnasium's MuJoCo renderer reads MUJOCO_GL when it first renders.
    os.environ["MUJOCO_GL"] = settings["gl"]
    return {"render_mode": "rgb_array", "width": settings["width"], "height": settings["height"]}


def start_recording(runner: Any, episodes: int) -> None:
    """Switches recording on for the runner's first `episodes` envs (call before sampling)."""
    vector_env = runner.env.unwrapped
    vector_env.set_attr("recording", [i < episodes for i in range(vector_env.num_envs)])


def collect_recordings(runner: Any, settings: dict[str, Any], head: str) -> list[Recording]:
    """The runner's recorded episodes (call after sampling), MP4-encoded if asked."""
    fps = runner.env.unwrapped.metadata.get("render_fps", 20) / settings["every"]
    recorded = runner.env.unwrapped.get_attr("recordings")
    out = []
    for index, episodes in enumerate(recorded):
        for ret, length, frames in episodes[:1]:
            pixels = np.stack(frames)
            data = encode_mp4(pixels, fps) if settings["encode"] == "mp4" else pixels
            out.append(Recording(runner.task_name, head, index, ret, length, fps, data))
    return out


def encode_mp4(frames: np.ndarray, fps: float) -> bytes:
    """H.264 MP4 of (n, height, width, 3) uint8 frames, as bytes."""
    import imageio.v2 as imageio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "episode.mp4"
        # macro_block_size=1: keep the frame size as it is (no resize to multiples of 16).
        writer = imageio.get_writer(path, fps=fps, macro_block_size=1, quality=7)
        with writer:
            for frame in frames:
                writer.append_data(frame)
        return path.read_bytes()


def write_recordings(recordings: list[Recording], out_dir: Path) -> list[Path]:
    """Writes each MP4 recording to `out_dir/<file_name>`; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for recording in recordings:
        path = out_dir / recording.file_name
        # numpy declares ndarray's buffer protocol for Python >= 3.12 only.
        path.write_bytes(recording.data)  # type: ignore[arg-type]
        paths.append(path)
    return paths
