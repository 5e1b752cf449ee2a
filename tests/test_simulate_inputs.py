"""`eventsim simulate` on inputs that cannot make events or whose timing options clash.

An input of one frame, `--fps` where the input has its own times, a `--start-s` past the end:
each is one line on stderr, exit 1 and no output file. Times that look like milliseconds in a
seconds file are simulated with a one-line warning.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from eventsim.cli.simulate import main
from eventsim.errors import InputError, ParameterError
from eventsim.io import EventReader
from eventsim.simulator import simulate
from eventsim.simulator.sources import ArraySource, FolderSource, TimestampsWarning
from eventsim.simulator.synthetic import moving_shapes_clip, write_video

FPS = 30


@pytest.fixture(scope="module")
def clip():
    """One second of 32x24 moving shapes at 30 fps."""
    return moving_shapes_clip(32, 24, duration_s=1.0, fps=FPS, seed=3)


@pytest.fixture(scope="module")
def video(clip, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", clip[0], fps=FPS)


def _folder(path, frames, times_s=None):
    path.mkdir(parents=True)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(path / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if times_s is not None:
        (path / "timestamps.txt").write_text("".join(f"{t}\n" for t in times_s))
    return path


def _run(tmp_path, capsys, *argv):
    out = tmp_path / "out.h5"
    rc = main([*map(str, argv), "-o", str(out)])
    captured = capsys.readouterr()
    return rc, [ln for ln in captured.err.splitlines() if ln.strip()], out


def _fails(tmp_path, capsys, argv, *needles, quiet=True):
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, err, out = _run(tmp_path, capsys, *argv, *(["-q"] if quiet else []))
    assert rc == 1, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    for needle in needles:
        assert needle in err[0], err[0]
    # no output, and no temporary file beside it
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == before
    return err[0]


# --- 1. one frame --------------------------------------------------------------------------


def test_one_frame_video_is_refused_before_it_starts(tmp_path, clip, capsys):
    one = write_video(tmp_path / "one.mp4", clip[0][:1], fps=FPS)
    # no -q: the refusal comes before the progress bar, so it is the only line
    msg = _fails(tmp_path, capsys, [one], "'", "has 1 frame", "at least 2", quiet=False)
    assert "one.mp4" in msg


def test_one_image_folder_is_refused(tmp_path, clip, capsys):
    folder = _folder(tmp_path / "onef", clip[0][:1])
    _fails(tmp_path, capsys, [folder, "--fps", "30"], "onef", "has 1 frame", "at least 2")


def test_video_window_of_one_frame_is_refused(tmp_path, video, capsys):
    # frames at 0.5 s and 0.533 s: only the first is within the window
    _fails(
        tmp_path,
        capsys,
        [video, "--start-s", "0.5", "--stop-s", "0.52"],
        "has 1 frame between 0.5 s and 0.52 s",
        "at least 2",
    )
    # the last frame (0.967 s) alone
    _fails(tmp_path, capsys, [video, "--start-s", "0.96"], "has 1 frame after 0.96 s")


def test_one_frame_from_the_library(tmp_path, clip):
    with pytest.raises(InputError, match="the input has 1 frame; at least 2"):
        simulate(ArraySource(clip[0][:1], fps=FPS), out=tmp_path / "a.h5")

    class OneFrame:
        """A source that does not know its length: the refusal comes after the first frame."""

        sensor_size = (32, 24)

        def __iter__(self):
            yield clip[0][0], 0

    with pytest.raises(InputError, match="has 1 frame"):
        simulate(OneFrame(), out=tmp_path / "b.h5")
    assert list(tmp_path.iterdir()) == []


def test_image_motion_and_pair_still_work(tmp_path, clip, capsys):
    a = tmp_path / "a.png"
    b = tmp_path / "b.png"
    cv2.imwrite(str(a), clip[0][0])
    cv2.imwrite(str(b), clip[0][3])
    rc, err, out = _run(tmp_path, capsys, "--image", a, "--fps", "200", "--duration-ms", "100")
    assert rc == 0, err
    with EventReader(out) as r:
        # --image uses --fps: 100 ms at 200 fps
        assert r.attrs["n_frames"] == 21 and r.source["fps"] == 200
    rc, err, out = _run(tmp_path, capsys, "--pair", a, b, "--force", "-q")
    assert rc == 0, err


# --- 2. --fps where the input has its own times --------------------------------------------


def test_fps_refused_where_the_input_has_times(tmp_path, clip, video, capsys):
    times = [round(i / FPS, 6) for i in range(6)]
    esim = tmp_path / "seq"
    _folder(esim / "images", clip[0][:6])
    (esim / "timestamps.txt").write_text("".join(f"{t}\n" for t in times))
    plain = _folder(tmp_path / "frames", clip[0][:6], times)
    a = tmp_path / "a.png"
    cv2.imwrite(str(a), clip[0][0])
    msg = _fails(tmp_path, capsys, [esim, "--fps", "10"], "--fps does not apply")
    assert "seq/timestamps.txt" in msg
    msg = _fails(tmp_path, capsys, [plain, "--fps", "10"], "--fps does not apply")
    assert "frames/timestamps.txt" in msg
    _fails(tmp_path, capsys, [video, "--fps", "30"], "--fps does not apply to a video", "clip.mp4")
    _fails(tmp_path, capsys, ["--pair", a, a, "--fps", "5"], "--fps", "--interval-ms")


def test_fps_still_times_a_folder_without_timestamps(tmp_path, clip, capsys):
    folder = _folder(tmp_path / "f", clip[0][:6])
    rc, err, out = _run(tmp_path, capsys, folder, "--fps", "10", "-q")
    assert rc == 0 and err == []
    with EventReader(out) as r:
        assert r.attrs["last_frame_us"] == 500_000


def test_folder_source_refuses_fps_beside_a_timestamps_file(tmp_path, clip):
    folder = _folder(tmp_path / "f", clip[0][:4], [0.0, 0.1, 0.2, 0.3])
    with pytest.raises(ParameterError, match=r"fps = 10 does not apply.*timestamps\.txt"):
        FolderSource(folder, fps=10)
    other = tmp_path / "times.txt"
    other.write_text("0\n1\n2\n3\n")
    with pytest.raises(ParameterError, match="does not apply"):
        FolderSource(folder, fps=10, timestamps_file=other)


# --- 3. timestamps that look like milliseconds ---------------------------------------------


def test_millisecond_timestamps_warn_once(tmp_path, clip, capsys):
    ms = _folder(tmp_path / "ms", clip[0][:10], [round(i * 33.3) for i in range(10)])
    rc, err, out = _run(tmp_path, capsys, ms, "-q")
    assert rc == 0
    assert len(err) == 1 and err[0].startswith("eventsim simulate: warning: "), err
    assert "read as seconds" in err[0] and "median frame gap is 33 s" in err[0]
    with EventReader(out) as r:
        assert r.attrs["last_frame_us"] == 300_000_000  # read as seconds all the same
    with pytest.warns(TimestampsWarning, match="median frame gap is 33 s"):
        FolderSource(ms)


def test_second_timestamps_do_not_warn(tmp_path, clip, capsys):
    fine = _folder(tmp_path / "s", clip[0][:10], [round(i / FPS, 6) for i in range(10)])
    rc, err, _ = _run(tmp_path, capsys, fine, "-q")
    assert rc == 0 and err == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampsWarning)
        FolderSource(fine)


# --- 4. a --start-s past the end -----------------------------------------------------------


def test_start_past_the_end_names_the_length(tmp_path, video, capsys):
    # no -q: the window is checked before the progress bar starts
    msg = _fails(tmp_path, capsys, [video, "--start-s", "5"], "after 5 s", quiet=False)
    assert "the video is 1 s long" in msg and "None" not in msg
    # within the slack of the early check: found out by decoding, same words
    msg = _fails(tmp_path, capsys, [video, "--start-s", "0.99"], "no decodable frames after 0.99 s")
    assert "the video is 1 s long" in msg


def test_counts_of_tiny_videos_are_checked(tmp_path, clip):
    from eventsim.simulator.sources import VideoSource

    two = write_video(tmp_path / "two.mp4", clip[0][:2], fps=FPS)
    assert VideoSource(two).n_frames == 2
    assert VideoSource(write_video(tmp_path / "many.mp4", clip[0][:5], fps=FPS)).n_frames == 5
    assert np.array_equal([t for _, t in VideoSource(two)], [0, round(1e6 / FPS)])


# --- saved frames from a folder of grey and colour images ----------------------------------
@pytest.mark.parametrize("first", ["rgb", "grey"])
def test_a_folder_mixing_grey_and_colour_saves_its_frames(tmp_path, clip, capsys, first):
    frames = clip[0][:6]
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, frame in enumerate(frames):
        grey = (i % 2 == 1) == (first == "rgb")
        img = (
            cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            if grey
            else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        )
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    rc, err, out = _run(tmp_path, capsys, folder, "--fps", FPS, "--save-frames", "-q")
    assert rc == 0, err
    with EventReader(out) as r:
        assert r.num_frames == 6
        shapes = {r.read_frame(i).shape for i in range(6)}
    assert shapes == {(24, 32, 3)} if first == "rgb" else {(24, 32)}
