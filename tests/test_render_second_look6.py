"""Second look at today's render changes: windows drawn in parts split at awkward places,
and the video writers' refusals (the exact bit-rate bound, Motion JPEG too)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from eventsim.events import EVENT_DTYPE
from eventsim.render import RenderParams
from eventsim.render.renderer import FrameRenderer

LOOKS = [
    RenderParams(),
    RenderParams(color_by="net"),
    RenderParams(background="grey"),
    RenderParams(background="white"),
    RenderParams(mode="overlay"),
    RenderParams(mode="overlay", color_by="net", overlay_frame="rgb"),
    RenderParams(mode="timesurface", tau_ms=0.01),
    RenderParams(mode="heatmap"),
    RenderParams(mode="heatmap", heatmap_scale="linear", colorbar=False),
    RenderParams(mode="voxel", n_bins=3),
    RenderParams(mode="voxel", n_bins=1),
]


def _awkward_events() -> np.ndarray:
    """Runs of one timestamp at one pixel with both polarities (which event is last decides
    the colour), a gap, and the last event exactly at the window's last microsecond."""
    rng = np.random.default_rng(97)
    t = np.cumsum(rng.choice([0, 0, 0, 1, 7, 3000], 400))
    ev = np.zeros(len(t) + 1, EVENT_DTYPE)
    ev["x"][:-1], ev["y"][:-1] = rng.integers(0, 3, len(t)), rng.integers(0, 2, len(t))
    ev["p"][:-1], ev["t"][:-1] = rng.integers(0, 2, len(t)), t
    ev[-1] = (1, 1, int(t[-1]) + 5000, 0)
    return ev


@pytest.mark.parametrize("params", LOOKS, ids=lambda p: f"{p.mode}-{p.color_by}-{p.background}")
def test_a_window_drawn_in_awkward_parts_is_the_whole_window(params):
    """Parts split inside runs of equal timestamps, empty parts, one-event parts and the last
    event at the window's end: the frame is that of the window drawn whole (last polarity
    across parts, the latest time per pixel, global voxel bins and heat-map scale)."""
    ev = _awkward_events()
    t0, t1 = int(ev["t"][0]), int(ev["t"][-1]) + 1
    image = np.linspace(0, 255, 3 * 2 * 3).astype(np.uint8).reshape(2, 3, 3)
    whole = FrameRenderer(params, (3, 2)).render(ev, t0, t1, image)
    same_t = np.flatnonzero(np.diff(ev["t"]) == 0)
    rng = np.random.default_rng(6)
    for _ in range(12):
        cuts = np.sort(rng.choice(same_t + 1, 6, replace=False))
        cuts = np.sort(np.concatenate([[0, 0], cuts, cuts[:2], [len(ev) - 1, len(ev), len(ev)]]))
        parts = [ev[a:b] for a, b in itertools.pairwise(cuts)]
        assert any(len(p) == 0 for p in parts) and len(parts[-2]) == 1
        got = FrameRenderer(params, (3, 2)).render(iter(parts), t0, t1, image)
        np.testing.assert_array_equal(got, whole)


def _render_cli(tmp_path, name: str, *options: str) -> subprocess.CompletedProcess:
    src = tmp_path / "short.npy"
    ev = np.zeros(2, EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 1], [0, 1], [0, 1000], [1, 0]
    np.save(src, ev)
    cmd = [sys.executable, "-m", "eventsim", "render", str(src), "-o", str(tmp_path / name)]
    return subprocess.run(
        [*cmd, *options, "--no-progress"], capture_output=True, text=True, timeout=120
    )


def test_avi_of_small_frames_at_a_slow_rate_is_refused_not_aborted(tmp_path):
    """OpenCV gives the Motion JPEG encoder the same bit rate of width * height * fps rounded:
    at 0 its rate control failed an assertion that aborted the process (8x2 at 0.01 fps),
    while the MP4 refusal sent the user to .avi."""
    run = _render_cli(tmp_path, "slow.avi", "--fps", "0.01", "--sensor-size", "8x2", "--scale", "1")
    assert run.returncode == 1, run.stderr
    assert "fps 0.01 is too slow for Motion JPEG video of 8x2 frames" in run.stderr
    assert "below 0.0312 fps" in run.stderr and ".avi" not in run.stderr.split(";")[-1]
    assert not (tmp_path / "slow.avi").exists()


def test_avi_of_narrow_frames_is_padded_not_a_heap_crash(tmp_path):
    """FFmpeg's Motion JPEG encoder corrupted the heap on 4x4 frames at any rate: the whole
    process died (free(): invalid next size, exit 134). Such frames are padded to 8 px wide
    (tests/test_render_review7.py)."""
    run = _render_cli(tmp_path, "narrow.avi", "--sensor-size", "4x4", "--scale", "1")
    assert run.returncode == 0, run.stderr
    assert "of 8x4 (4x4 frames padded" in run.stdout


@pytest.mark.parametrize(("fps", "written"), [(0.0105, True), (0.0104, False)])
def test_the_mp4_rate_bound_is_where_the_encoder_fails(tmp_path, fps, written):
    """MP4s of 8x6 frames were refused below 0.0208 fps (a bit rate under 1, 'a margin'),
    though the encoder fails only when OpenCV's rounding makes it 0: below 0.5 / 48 fps."""
    from eventsim.errors import ParameterError
    from eventsim.render.writers import VideoSink

    out = tmp_path / "v.mp4"
    frame = np.zeros((6, 8, 3), np.uint8)
    sink = VideoSink(out, fps=fps)
    if written:
        with sink:
            sink.write(frame)
        assert out.exists()
    else:
        with pytest.raises(ParameterError, match=r"below 0\.0104 fps"), sink:
            sink.write(frame)
        assert not out.exists()
