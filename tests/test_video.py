"""Videos and galleries: frames recorded headless, MP4s from `rllib evaluate --video`, GIFs.

Rendering is slow on a CPU (about 0.1 s per frame here), so every episode renders at
most a few dozen small frames.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

imageio = pytest.importorskip("imageio.v3")
pytest.importorskip("imageio_ffmpeg")
Image = pytest.importorskip("PIL.Image")

from mtrl_ray import recording  # noqa: E402
from mtrl_ray.cli import main  # noqa: E402
from mtrl_ray.envs import make_env  # noqa: E402
from mtrl_ray.gallery import TITLE_HEIGHT, compose, save_gif  # noqa: E402

os.environ.setdefault("MUJOCO_GL", recording.DEFAULT_GL)  # before any env renders

#: The committed vanilla multi-task A2C checkpoint (six tasks, results/README.md).
CHECKPOINT = "results/vanilla_multitask_lrdecay_seed0/checkpoint/checkpoint_000250"
SMALL = {"episodes": 1, "width": 96, "height": 72, "every": 1, "max_frames": None}


def recorded_episode(task: str, steps: int, **settings) -> tuple[float, int, list[np.ndarray]]:
    """Runs one random-action episode of `steps` steps in a recording env."""
    settings = {**SMALL, "encode": "frames", "gl": os.environ["MUJOCO_GL"], **settings}
    env = make_env(task, max_episode_steps=steps, **recording.record_env_kwargs(settings))
    env = recording.FrameRecorder(env, every=settings["every"], max_frames=settings["max_frames"])
    env.recording = True
    env.reset(seed=0)
    env.action_space.seed(0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    assert len(env.recordings) == 1
    return env.recordings[0]


def test_a_recorded_episode_becomes_an_mp4_of_its_frames(tmp_path):
    ret, length, frames = recorded_episode("HalfCheetahBigTorso-v0", 40)
    assert length == 40 and len(frames) == 41  # the reset frame and one per step
    mp4 = recording.encode_mp4(np.stack(frames), fps=20)
    path = tmp_path / "episode.mp4"
    path.write_bytes(mp4)
    video = imageio.imread(path)
    assert video.shape == (41, 72, 96, 3)
    # The cheetah moves: the last frame is not the first, nor is any frame all one colour.
    assert np.abs(video[-1].astype(int) - video[0].astype(int)).mean() > 1.0
    assert all(frame.std() > 10 for frame in video)
    assert np.isfinite(ret)


def test_every_and_max_frames_subsample_and_cap_the_recording():
    _, length, frames = recorded_episode("HalfCheetahSmallFoot-v0", 30, every=3, max_frames=6)
    assert length == 30  # the episode runs to its end, the recording stops at 6 frames
    assert len(frames) == 6
    _, _, frames = recorded_episode("HalfCheetahSmallFoot-v0", 30, every=3)
    assert len(frames) == 1 + 30 // 3


def test_two_variants_first_frames_differ_where_their_geometry_does():
    _, _, (big_torso, *_) = recorded_episode("HalfCheetahBigTorso-v0", 1)
    _, _, (small_torso, *_) = recorded_episode("HalfCheetahSmallTorso-v0", 1)
    _, _, (big_torso_again, *_) = recorded_episode("HalfCheetahBigTorso-v0", 1)
    assert np.array_equal(big_torso, big_torso_again)  # same seed, same frame
    changed = np.abs(big_torso.astype(int) - small_torso.astype(int)).sum(axis=2) > 30
    assert changed.mean() > 0.01  # the torso's pixels


def test_video_with_a_backend_that_cannot_load_is_one_line_exit_2(monkeypatch, tmp_path, capsys):
    # osmesa is not installed here (mujoco is already imported, with its own backend).
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    argv = ["evaluate", CHECKPOINT, "--episodes", "1", "--video", str(tmp_path / "v")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rllib evaluate: error: cannot render with GL backend 'osmesa'")
    assert "\n" not in err and not (tmp_path / "v").exists()


def test_video_episodes_beyond_episodes_is_one_line_exit_2(tmp_path, capsys):
    argv = ["evaluate", CHECKPOINT, "--episodes", "2", "--video", str(tmp_path)]
    assert main([*argv, "--video-episodes", "3"]) == 2
    assert "--video-episodes must be between 1 and --episodes (2)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "240"], "--size must be WxH in pixels (e.g. 240x180), got '240'"),
        (["--frames", "0"], "--frames, --every and --columns must be >= 1"),
        (["--tasks", "HalfCheetahBigLeg-v0"], "no head for HalfCheetahBigLeg-v0: pick one with"),
    ],
)
def test_bad_render_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "g.gif"
    assert main(["render", CHECKPOINT, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rllib render: error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_gallery_frames_have_one_titled_panel_per_task(tmp_path):
    # Panel k's frame i is all 40 k + 10 i (distinct frames: a GIF merges equal ones).
    shades = 40 * np.arange(3)[:, None] + 10 * np.arange(5)[None, :]
    pixels = np.broadcast_to(shades[:, :, None, None, None], (3, 5, 60, 80, 3)).astype(np.uint8)
    recs = [
        recording.Recording(f"T{k}", f"T{k}", 0, 100.0 * k, 5, 20.0, pixels[k]) for k in range(3)
    ]
    composed = compose(recs, ["a", "b", "c"], columns=2)
    assert len(composed) == 5 and composed[0].shape == (2 * (TITLE_HEIGHT + 60), 2 * 80, 3)
    # Panel 2 (row 1, column 0) shows its frames under its title strip.
    assert (composed[3][2 * TITLE_HEIGHT + 60 :, :80] == 80 + 30).all()
    assert (composed[0][:TITLE_HEIGHT, :80] < 128).any()  # the title's text
    path = save_gif(composed, tmp_path / "g.gif", fps=10)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.size == (160, 2 * (TITLE_HEIGHT + 60))
        assert gif.info["duration"] == 100


@pytest.mark.slow
def test_evaluate_video_writes_one_mp4_per_task_named_by_its_return(ray_module, tmp_path):
    from mtrl_ray.evaluation import evaluate_checkpoint

    tasks = ["HalfCheetahBigLeg-v0", "HalfCheetahBigTorso-v0"]
    settings = recording.VideoSettings(width=64, height=48, max_frames=25)
    results = evaluate_checkpoint(
        CHECKPOINT,
        tasks,
        2,
        True,
        head="HalfCheetahSmallLeg-v0",
        video=settings,
        video_dir=tmp_path,
    )
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(
        f"{r.task}__head-HalfCheetahSmallLeg-v0__ep0__return-{r.returns[0]:.0f}.mp4"
        for r in results
    )
    for r in results:
        assert r.videos == (str(tmp_path / files[tasks.index(r.task)]),)
        video = imageio.imread(r.videos[0])
        assert video.shape == (25, 48, 64, 3)
        assert np.abs(video[-1].astype(int) - video[0].astype(int)).mean() > 1.0


@pytest.mark.slow
def test_render_writes_a_gif_with_one_panel_per_task(ray_module, tmp_path, capsys):
    out = tmp_path / "gallery.gif"
    tasks = "HalfCheetahBigTorso-v0,HalfCheetahBigLeg-v0"
    argv = ["render", CHECKPOINT, "--tasks", tasks, "--head", "HalfCheetahSmallLeg-v0"]
    assert main([*argv, "--frames", "12", "--size", "80x60", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "BigTorso: return" in printed and "BigLeg (SmallLeg head): return" in printed
    with Image.open(out) as gif:
        assert gif.size == (2 * 80, TITLE_HEIGHT + 60) and gif.n_frames == 12
        first = np.asarray(gif.convert("RGB"))
    left, right = first[TITLE_HEIGHT:, :80], first[TITLE_HEIGHT:, 80:]
    assert not np.array_equal(left, right)  # two bodies, two panels
