"""Second look 7 at the frame sources: messages a fresh user met (timestamps in microseconds
read as seconds were simulated for minutes into a huge file; a folder without times and a pair
of two sizes said no way out), the video frame clock and TIFF samples read by eventsim."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from test_sources_second_look6 import _tiff
from test_video_review6 import _stamped, write_mkv

from eventsim.cli.simulate import main
from eventsim.errors import InputError
from eventsim.simulator import sources
from eventsim.simulator.sources import FolderSource, PairSource, TimestampsWarning, _FrameClock

from cli_checks import one_line


def _frames(folder, n: int = 4, size: tuple[int, int] = (16, 12)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        img = rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return folder


def _times(path, values) -> str:
    path.write_text("".join(f"{v}\n" for v in values))
    return str(path)


# -- a. timestamps in microseconds read as seconds ---------------------------------------------


def test_microsecond_timestamps_are_refused_naming_the_file_the_gap_and_the_fix(tmp_path, capsys):
    """Read as seconds, 15 frames 50 ms apart written in µs took 84 s and a 33 MB index."""
    folder = _frames(tmp_path / "frames", 15)
    times = _times(tmp_path / "times_us.txt", [1_000_000 + 50_000 * i for i in range(15)])
    out = tmp_path / "t.h5"
    rc = main([str(folder), "--timestamps", times, "-o", str(out), "-q"])
    assert rc == 1 and not out.exists()
    one_line(
        capsys.readouterr().err,
        repr(times),
        "median frame gap is 50000 s",
        "divide its times by 1e6",
        "pass --allow-long-gaps",
    )


@pytest.mark.parametrize("flag", ["--allow-long-gaps", "--force"])
def test_the_flag_simulates_long_frame_gaps_all_the_same(tmp_path, capsys, monkeypatch, flag):
    folder = _frames(tmp_path / "frames", 3)
    times = _times(tmp_path / "hourly.txt", [0, 3600, 7200])
    made = []

    def folder_source(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TimestampsWarning)
            made.append(FolderSource(*args, **kwargs))
        # the source is what is checked: simulating 2 h of frames is not
        raise InputError("stopped after the source")

    monkeypatch.setattr(sources, "FolderSource", folder_source)
    argv = [str(folder), "--timestamps", times, "-o", str(tmp_path / "t.h5"), "-q"]
    assert main([*argv, flag]) == 1
    assert "stopped after the source" in capsys.readouterr().err
    assert made and made[0].timestamps_us[-1] == 7_200_000_000
    assert main(argv) == 1
    one_line(capsys.readouterr().err, "median frame gap is 3600 s", "pass --allow-long-gaps")


@pytest.mark.parametrize(
    ("gap_s", "refused"), [(33, False), (999, False), (1000, True), (50_000_000, True)]
)
def test_the_gap_from_which_timestamps_are_refused(tmp_path, gap_s, refused):
    folder = _frames(tmp_path / "frames", 3)
    times = _times(tmp_path / "t.txt", [gap_s * i for i in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TimestampsWarning)
        if refused:
            with pytest.raises(InputError, match="allow_long_gaps=True"):
                FolderSource(folder, timestamps_file=times)
        else:
            FolderSource(folder, timestamps_file=times)
        source = FolderSource(folder, timestamps_file=times, allow_long_gaps=True)
    assert source.timestamps_us[-1] == 2 * gap_s * 1_000_000
    if gap_s >= 1e6:  # a gap of 1e12 us: ns read as seconds
        with pytest.raises(InputError, match=r"by 1e9 \(nanoseconds\)"):
            FolderSource(folder, timestamps_file=times)


# -- b. a folder without times -------------------------------------------------------------------


def test_a_folder_without_times_names_both_ways_to_time_it(tmp_path, capsys):
    folder = _frames(tmp_path / "frames")
    assert main([str(folder), "-o", str(tmp_path / "t.h5"), "-q"]) == 1
    one_line(capsys.readouterr().err, "has no timestamps.txt", "--fps", "--timestamps FILE")


# -- c. a pair of two sizes ----------------------------------------------------------------------


def test_a_pair_of_two_sizes_says_which_is_which_and_what_to_do(tmp_path, capsys):
    a = _frames(tmp_path / "a", 1, (160, 120)) / "000.png"
    b = _frames(tmp_path / "b", 1, (224, 224)) / "000.png"
    assert main(["--pair", str(a), str(b), "-o", str(tmp_path / "p.h5"), "-q"]) == 1
    one_line(
        capsys.readouterr().err,
        f"160x120 ({str(a)!r}) and 224x224 ({str(b)!r})",
        f"resize {str(b)!r} to 160x120",
    )
    with pytest.raises(InputError, match="resize the second array to 3x2"):
        PairSource(np.zeros((2, 3)), np.zeros((3, 3)))


# -- TIFF samples read by eventsim ---------------------------------------------------------------


def _damaged_tiffs():
    rng = np.random.default_rng(1)
    five = rng.integers(0, 256, (5, 6, 5)).astype("u1")
    grey_alpha = rng.integers(0, 256, (5, 6, 2)).astype("u1")
    extra = {338: (3, [2, 0])}
    return [
        # sides whose samples side by side no LONG holds: struct.error
        pytest.param(five, {**extra, 256: (4, [2**31])}, 1, id="wide-rgb"),
        pytest.param(grey_alpha, {338: (3, [1]), 256: (4, [2**31 + 5])}, 1, id="wide-grey"),
        pytest.param(five, {**extra, 322: (4, [2**31]), 323: (4, [16])}, 1, id="wide-tiles"),
        # planes of strips of 0 rows: ZeroDivisionError
        pytest.param(five, {**extra, 278: (3, [0])}, 2, id="rows-0"),
        pytest.param(five, {**extra, 322: (4, [16]), 323: (4, [0])}, 2, id="tile-length-0"),
    ]


@pytest.mark.parametrize(("pixels", "tags", "planar"), _damaged_tiffs())
def test_a_damaged_tiff_of_extra_samples_is_an_input_error(pixels, tags, planar):
    data = _tiff([(pixels, tags)], planar=planar)
    with pytest.raises(InputError, match=r"'bad\.tif'"):
        sources.decode_image(data, "bad.tif")


# -- the video frame clock -----------------------------------------------------------------------


def _clock(raw: list[int | None], step: float = 40_000.0) -> list[tuple[int, int]]:
    """(t_us, k) the clock gives the frames of container times ``raw`` (µs), reading ahead."""
    clock = _FrameClock(step, raw.__getitem__)
    out = [item for k, r in enumerate(raw) for item in clock.push(r, k)]
    return out + clock.finish()


def test_a_wild_time_followed_by_repeats_of_the_last_is_that_frames_error():
    """Two frames repeating the last time after a wild one pushed every later frame past the
    wild time (the frames after a wild one had to be after the last time to tell)."""
    raw = [0, 40, 80, 30_000, 80, 80, 160, 200]
    assert _clock([1000 * r for r in raw]) == [
        (1000 * t, k) for k, t in enumerate([0, 40, 80, 100, 120, 140, 160, 200])
    ]
    # the same inside a run longer than the frames held
    raw = [0, 40, *[40] * 12, 30_000, *[40] * 5, 400, 440]
    got = _clock([1000 * r for r in raw])
    assert [k for _, k in got] == list(range(len(raw)))
    assert [t for t, _ in got][-2:] == [400_000, 440_000]
    assert all(t < 400_000 for t, _ in got[:-2])


def test_a_window_gives_the_frames_of_the_whole_video_around_a_wild_time_among_repeats(
    tmp_path,
):
    path = tmp_path / "wild.mkv"
    write_mkv(path, [0, 40, 80, 30_000, 80, 80, 160, 200])
    whole = _stamped(path)
    assert [k for _, k in whole] == list(range(8)) and whole[-1] == (200_000, 7)
    for start_s, stop_s in [(0.05, 0.15), (0.01, None), (None, 0.11), (0.09, 0.1)]:
        lo, hi = (start_s or 0) * 1e6, (stop_s or 1e9) * 1e6
        assert _stamped(path, start_s, stop_s) == [(t, k) for t, k in whole if lo <= t <= hi]
