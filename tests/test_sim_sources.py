"""Frame sources: video, folder, pair, single image with motion, arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from eventsim.errors import InputError, ParameterError
from eventsim.simulator.sources import (
    ArraySource,
    FolderSource,
    ImageMotionSource,
    PairSource,
    VideoSource,
    _container_time,
    _FrameClock,
    fit_frame,
    read_timestamps_file,
)
from eventsim.simulator.synthetic import moving_shapes_clip, write_video


@pytest.fixture(scope="module")
def clip():
    return moving_shapes_clip(64, 48, duration_s=0.5, fps=30, seed=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory, clip):
    path = tmp_path_factory.mktemp("vid") / "clip.mp4"
    write_video(path, clip[0], fps=30)
    return path


def test_video_source_uses_container_times(video, clip):
    src = VideoSource(video)
    assert src.sensor_size == (64, 48)
    items = list(src)
    assert len(items) == len(clip[0])
    ts = np.array([t for _, t in items])
    assert ts[0] == 0 and np.all(np.diff(ts) > 0)
    assert np.all(np.abs(ts - np.arange(len(ts)) * 1e6 / 30) <= 1000)
    frame = items[3][0]
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    # RGB order and lossy-codec closeness to the rendered frame
    assert np.abs(frame.astype(int) - clip[0][3].astype(int)).mean() < 12


def test_video_start_stop_and_fit(video):
    src = VideoSource(video, start_s=0.1, stop_s=0.3, sensor_size=(32, 32))
    items = list(src)
    ts = np.array([t for _, t in items])
    assert ts.min() >= 100_000 and ts.max() <= 300_000 and len(items) >= 5
    assert items[0][0].shape == (32, 32, 3)


def test_video_errors(tmp_path, video):
    with pytest.raises(InputError, match="does not exist"):
        VideoSource(tmp_path / "missing.mp4")
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(InputError, match="corrupt"):
        list(VideoSource(bad))
    with pytest.raises(InputError, match="no decodable frames"):
        list(VideoSource(video, start_s=50.0))
    with pytest.raises(ParameterError, match="after start"):
        VideoSource(video, start_s=0.3, stop_s=0.1)


def _write_folder(folder, frames, times_s=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    if times_s is not None:
        (folder / "timestamps.txt").write_text("".join(f"{t:.6f}\n" for t in times_s))
    return folder


def test_folder_with_timestamps_in_natural_order(tmp_path, clip):
    frames = clip[0][:12]
    times = 1.5 + np.cumsum(np.linspace(0.01, 0.05, 12))  # variable frame rate
    folder = _write_folder(tmp_path / "f", frames, times)
    items = list(FolderSource(folder))
    assert [t for _, t in items] == list(np.rint(times * 1e6).astype(int))
    # frame_10 sorts after frame_9
    assert np.array_equal(items[10][0], frames[10])


@pytest.mark.parametrize("threads", [1, 3])
def test_folder_images_decoded_side_by_side_come_in_order_and_fail_in_order(
    tmp_path, clip, monkeypatch, threads
):
    import threading

    from eventsim.simulator import sources

    monkeypatch.setattr(sources, "_decode_threads", lambda: threads)
    frames = clip[0][:12]
    folder = _write_folder(tmp_path / "f", frames)
    items = list(FolderSource(folder, fps=10))
    assert len(items) == 12
    for (got, t), want, k in zip(items, frames, range(12)):
        assert t == k * 100_000 and np.array_equal(got, want)
    # a bad image is reported when its turn comes, after the frames before it
    (folder / "frame_7.png").write_bytes(b"garbage")
    got = []
    with pytest.raises(InputError, match=r"frame_7\.png.*cannot be read"):
        for frame, _ in FolderSource(folder, fps=10):
            got.append(frame)
    assert len(got) == 7
    # stopping early leaves no decoding thread behind
    it = iter(FolderSource(folder, fps=10))
    next(it)
    it.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("eventsim-decode")]


def test_folder_with_fps_and_errors(tmp_path, clip):
    folder = _write_folder(tmp_path / "g", clip[0][:4])
    assert [t for _, t in FolderSource(folder, fps=20)] == [0, 50_000, 100_000, 150_000]
    with pytest.raises(InputError, match=r"timestamps\.txt"):
        FolderSource(folder)
    (folder / "timestamps.txt").write_text("0.0\n0.1\n0.1\n0.2\n")
    with pytest.raises(InputError, match="increase"):
        FolderSource(folder)
    (folder / "timestamps.txt").write_text("0.0\n0.1\n")
    with pytest.raises(InputError, match="2 times for 4 images"):
        FolderSource(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no images"):
        FolderSource(empty, fps=10)


def test_timestamps_file_parsing(tmp_path):
    path = tmp_path / "ts.txt"
    path.write_text("# header\n0.0\n0.0333333\n\n0.0666667  # a comment\n")
    assert list(read_timestamps_file(path)) == [0, 33333, 66667]
    # a word after a time is an image's name, on every line or none (test_simulate_round12)
    path.write_text("0.0\n0.0333333\n0.0666667 extra\n")
    with pytest.raises(InputError, match=r"line 3: '0\.0666667 extra' names image 'extra'"):
        read_timestamps_file(path)
    path.write_text("0.0\nabc\n")
    with pytest.raises(InputError, match="line 2"):
        read_timestamps_file(path)


def test_unreadable_image_and_hdr_nan(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot be read"):
        PairSource(bad, bad)
    hdr = tmp_path / "nan.tiff"
    img = np.full((8, 8), 0.5, np.float32)
    img[2, 3] = np.nan
    assert cv2.imwrite(str(hdr), img)
    with pytest.raises(InputError, match="NaN"):
        PairSource(hdr, hdr)


def test_pair_source(tmp_path):
    a = np.zeros((10, 12, 3), np.uint8)
    b = np.full((10, 12, 3), 200, np.uint8)
    items = list(PairSource(a, b, interval_ms=7.5))
    assert [t for _, t in items] == [0, 7500]
    assert np.array_equal(items[1][0], b)
    with pytest.raises(InputError, match="different sizes"):
        PairSource(a, np.zeros((10, 13, 3), np.uint8))
    with pytest.raises(ParameterError, match="interval_ms"):
        PairSource(a, b, interval_ms=0)


def _texture(h=60, w=80, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(20, 235, (h // 4, w // 4)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("motion", ["saccade", "pan", "zoom", "random-walk"])
def test_image_motion_trajectories(motion):
    img = _texture()
    src = ImageMotionSource(img, motion, duration_ms=200, amplitude_px=4.0, seed=3)
    items = list(src)
    ts = np.array([t for _, t in items])
    assert ts[0] == 0 and ts[-1] == 200_000 and np.all(np.diff(ts) > 0)
    assert len(items) == src.n_frames and items[0][0].shape == (60, 80)
    poses = np.array([src.pose(u) for u in np.linspace(0, 1, 301)])
    shift = np.hypot(poses[:, 0], poses[:, 1])
    if motion == "saccade":
        assert np.allclose(poses[0], poses[-1])  # back where it started
        assert shift.max() == pytest.approx(4.0 / np.sqrt(3), rel=0.01)  # triangle side 4 px
    elif motion == "pan":
        assert np.ptp(poses[:, 0]) == pytest.approx(4.0) and np.allclose(poses[:, 1], 0)
    elif motion == "zoom":
        assert poses[-1, 2] == pytest.approx(1 + 4.0 / 30) and np.allclose(shift, 0)
    else:
        assert shift.max() <= 4.0 * np.sqrt(2) + 1e-9 and np.ptp(poses[:, 0]) > 1.0
    # motion per frame stays sub-pixel with the automatic frame rate
    step = np.hypot(*np.diff(np.array([src.pose(t / 200_000)[:2] for t in ts]), axis=0).T)
    assert step.max() <= 0.5 + 1e-9
    # sub-pixel warps: consecutive frames change, but only a little
    d = np.abs(items[1][0].astype(int) - items[0][0].astype(int))
    if motion != "zoom":
        assert 0 < d.mean() < 10


def test_image_motion_errors_and_fit(tmp_path):
    img = _texture()
    with pytest.raises(ParameterError, match="motion"):
        ImageMotionSource(img, "spin")
    with pytest.raises(InputError, match="does not exist"):
        ImageMotionSource(tmp_path / "none.png")
    src = ImageMotionSource(img, "pan", sensor_size=(40, 40), fps=100)
    assert next(iter(src))[0].shape == (40, 40) and src.n_frames == 31


def test_array_source_and_fit():
    frames = np.zeros((3, 20, 40, 3), np.uint8)
    src = ArraySource(frames, fps=10, sensor_size=(10, 10))
    items = list(src)
    assert [t for _, t in items] == [0, 100_000, 200_000] and items[0][0].shape == (10, 10, 3)
    with pytest.raises(InputError, match="increase"):
        ArraySource(frames, [0, 5, 5])
    with pytest.raises(InputError, match="non-empty"):
        ArraySource(np.zeros((0, 4, 4), np.uint8), [])
    # centre crop keeps the middle of a wide frame
    wide = np.zeros((10, 30), np.uint8)
    wide[:, 10:20] = 255
    assert np.all(fit_frame(wide, (10, 10)) == 255)
    assert fit_frame(wide, (15, 5), "resize").shape == (5, 15)


class _StubCapture:
    """Stands in for cv2.VideoCapture's CAP_PROP_POS_MSEC readings."""

    def __init__(self, msecs):
        self.msecs = list(msecs)

    def get(self, prop):
        assert prop == cv2.CAP_PROP_POS_MSEC
        return self.msecs.pop(0)


def test_video_frame_times_follow_the_container_and_fall_back_to_fps():
    def stamp(msecs):
        cap, clock, times = _StubCapture(msecs), _FrameClock(1e6 / 30), []
        for _ in msecs:
            times += [t for t, _ in clock.push(_container_time(cap), None)]
        return times + [t for t, _ in clock.finish()]

    # variable frame rate: container times are used as they are
    assert stamp([0.0, 10.0, 35.5, 36.0]) == [0, 10_000, 35_500, 36_000]
    # a backend without usable times (repeats, zeros): nominal frame rate from the last time
    assert stamp([0.0, 0.0, 0.0]) == [0, 33_333, 66_666]
