"""Render leftovers: the heat map's colour bar grows with large frames, significant(-0.0) is
"0", times given in ms that rounding to whole µs merges are refused as µs and ns ones are, and
a folder of PNGs lists each frame's window in windows.csv."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main as cli_main
from eventsim.events import make_events
from eventsim.io import write_events
from eventsim.render import FrameRenderer, RenderParams, count_map, render_heatmap
from eventsim.render.frames import count_full_scale


# ------------------------------------------------------------------ colour bar size
def _bar_box(frame: np.ndarray, plain: np.ndarray) -> tuple[int, int]:
    """(width, height) of the region where ``frame`` differs from the plain heat map."""
    ys, xs = np.nonzero(np.any(frame != plain, axis=2))
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _heatmap(sensor: tuple[int, int], scale: int) -> tuple[np.ndarray, np.ndarray, float]:
    events = make_events([1, 2, 2, 3], [1, 1, 1, 2], [0, 1, 2, 3], [1, 1, 0, 1])
    counts = count_map(events, sensor)
    full = count_full_scale(counts)
    frame = FrameRenderer(RenderParams(mode="heatmap", scale=scale), sensor).render(events, 0, 4)
    plain = render_heatmap(counts, max_count=full)
    plain = np.repeat(np.repeat(plain, scale, axis=0), scale, axis=1)
    return frame, plain, full


def test_the_colour_bar_of_a_full_hd_frame_is_not_a_speck():
    """The bar was 94x44 px whatever the frame: under 5 % of a 1920x1080 frame's width."""
    frame, plain, full = _heatmap((480, 270), 4)
    assert frame.shape == (1080, 1920, 3)
    width, height = _bar_box(frame, plain)
    # about the share of the frame it takes on a 346x260 one (94 of 346 px wide)
    assert width >= 1920 // 6 and height >= 1080 // 8
    assert width <= 1920 // 2 and height <= 1080 // 3
    from eventsim.render.scales import heatmap_colorbar

    bar = heatmap_colorbar(full, scale=4.0)
    assert np.array_equal(frame[-4 - bar.shape[0] : -4, -4 - bar.shape[1] : -4], bar)


def test_the_colour_bar_keeps_its_smallest_size_up_to_519x389_and_grows_in_half_steps():
    from eventsim.render.scales import colorbar_scale, colorbar_size, heatmap_colorbar

    assert colorbar_size(8) == (94, 44)
    for wh in [(204, 156), (346, 260), (519, 389), (1000, 389)]:
        assert colorbar_scale(wh, 8.0) == 1.0, wh
    assert colorbar_scale((692, 520), 8.0) == 2.0
    assert colorbar_scale((1280, 720), 8.0) == 2.5
    assert colorbar_scale((1920, 1080), 8.0) == colorbar_scale((7680, 4320), 8.0) == 4.0
    sizes = [colorbar_size(8, scale=k) for k in (1.0, 1.5, 2.0, 3.0, 4.0)]
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(sizes))
    # a DAVIS346 frame (and the docs' images, which are such frames) keeps its bytes
    frame, plain, full = _heatmap((346, 260), 1)
    assert _bar_box(frame, plain) == colorbar_size(full)
    with pytest.raises(ValueError, match=r"colour bar scale 0\.5 must be from 1 to 4"):
        heatmap_colorbar(8, scale=0.5)


def test_a_2x_video_frame_takes_the_2x_bar():
    from eventsim.render.scales import colorbar_size

    frame, plain, full = _heatmap((346, 260), 2)
    assert _bar_box(frame, plain) == colorbar_size(full, scale=2.0)


# ------------------------------------------------------------------ significant
def test_significant_of_negative_zero_is_zero():
    from eventsim._text import rate_text, significant

    assert significant(-0.0) == "0"
    assert significant(0.0) == "0"
    assert significant(-0.0, 5) == "0"
    assert rate_text(-0.0) == "0 ev/s"
    assert significant(-0.0123) == "-0.0123"


# ------------------------------------------------------------------ merged ms times
def _seconds(tmp_path: Path, kind: str) -> Path:
    """200,000 events over 2 s, their times in seconds with sub-µs digits."""
    rng = np.random.default_rng(0)
    n = 200_000
    t = np.sort(rng.uniform(0, 2, n))
    x, y, p = rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n)
    if kind == "csv":
        path = tmp_path / "sec.csv"
        np.savetxt(
            path, np.c_[t, x, y, p], fmt=["%.9f", "%d", "%d", "%d"], delimiter=",",
            header="t,x,y,p", comments="",
        )  # fmt: skip
        return path
    arr = np.zeros(n, dtype=[("t", "f8"), ("x", "i2"), ("y", "i2"), ("p", "i1")])
    arr["t"], arr["x"], arr["y"], arr["p"] = t, x, y, p
    path = tmp_path / "sec.npy"
    np.save(path, arr)
    return path


@pytest.mark.parametrize("kind", ["csv", "npy"])
@pytest.mark.parametrize("command", ["render", "plot", "convert"])
def test_seconds_read_as_ms_are_refused_as_merged_times(tmp_path, capsys, kind, command):
    """--time-unit us refused seconds whose 200,000 distinct times rounding merged into 3;
    --time-unit ms merged them into 2,001 without a word."""
    src = _seconds(tmp_path, kind)
    out = tmp_path / ("out.h5" if command == "convert" else "out.png")
    args = [command, str(src)] + ([str(out)] if command == "convert" else ["-o", str(out)])
    args += ["--time-unit", "ms", "--sensor-size", "64x48"]
    if command == "render":
        args.append("--no-progress")
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert "times merged by rounding" in err and "fractions of a microsecond" in err, err
    assert "became 2,001" in err and "pass --time-unit s" in err
    assert "--allow-implausible-times" in err
    assert not out.exists()


def test_ms_times_with_microsecond_digits_are_read_without_a_word(tmp_path):
    from eventsim.io import open_events

    rng = np.random.default_rng(1)
    n = 50_000
    arr = np.zeros(n, dtype=[("t", "f8"), ("x", "i2"), ("y", "i2"), ("p", "i1")])
    arr["t"] = np.round(np.sort(rng.uniform(0, 2000, n)), 3)
    arr["x"], arr["y"], arr["p"] = rng.integers(0, 64, n), rng.integers(0, 48, n), 1
    path = tmp_path / "ms.npy"
    np.save(path, arr)
    with open_events(path, time_unit="ms", sensor_size=(64, 48)) as reader:
        assert not any(note.startswith("times merged") for note in reader.notes)


# ------------------------------------------------------------------ windows.csv
def _windows(folder: Path) -> list[tuple[str, int, int]]:
    with open(folder / "windows.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "t_start_us", "t_end_us"]
    return [(name, int(a), int(b)) for name, a, b in rows[1:]]


@pytest.fixture
def recording(tmp_path) -> Path:
    t = np.arange(0, 50_000, 50) + 1_000
    n = t.size
    ev = make_events(np.arange(n) % 64, np.arange(n) % 48, t, np.arange(n) % 2)
    path = tmp_path / "rec.h5"
    write_events(path, ev, (64, 48))
    return path


def test_a_folder_of_pngs_lists_each_frames_time_window(tmp_path, recording):
    out = tmp_path / "frames"
    assert cli_main(["render", str(recording), "-o", str(out), "--window-ms", "20"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    # the last window ends with the recording (one past its last event), as it is drawn
    assert _windows(out) == [
        (names[0], 1_000, 21_000),
        (names[1], 21_000, 41_000),
        (names[2], 41_000, 50_951),
    ]
    # frames of a count each span their own time: first event to just past their last
    assert (
        cli_main(["render", str(recording), "-o", str(out), "--events-per-frame", "300", "--force"])
        == 0
    )
    assert _windows(out) == [
        ("frame_000000.png", 1_000, 15_951),
        ("frame_000001.png", 16_000, 30_951),
        ("frame_000002.png", 31_000, 45_951),
        ("frame_000003.png", 46_000, 50_951),
    ]
    assert sorted(p.name for p in out.iterdir()) == [*(r[0] for r in _windows(out)), "windows.csv"]


def test_force_replaces_a_folder_with_its_windows_csv_and_nothing_else(tmp_path, recording):
    out = tmp_path / "frames"
    assert cli_main(["render", str(recording), "-o", str(out), "--window-ms", "10"]) == 0
    assert len(_windows(out)) == 5
    assert cli_main(["render", str(recording), "-o", str(out), "--window-ms", "25", "--force"]) == 0
    assert len(_windows(out)) == 2 and len(list(out.glob("*.png"))) == 2
    (out / "notes.txt").write_text("mine")
    assert cli_main(["render", str(recording), "-o", str(out), "--force"]) == 1
    assert (out / "notes.txt").exists()


def test_frames_written_without_windows_get_no_windows_csv(tmp_path):
    from eventsim.render.writers import FolderSink

    out = tmp_path / "frames"
    with FolderSink(out) as sink:
        sink.write(np.zeros((2, 3, 3), np.uint8))
    assert sorted(p.name for p in out.iterdir()) == ["frame_000000.png"]


# ------------------------------------------------------------------ review (helper 331)
def test_a_frame_window_that_is_no_time_range_is_refused_naming_it(tmp_path):
    """A window was kept as given: (1.5, 3) came out as '1.5' in windows.csv, and a window of
    the wrong shape failed only when the folder was finished, after every frame was drawn."""
    from eventsim.errors import ParameterError
    from eventsim.render.writers import FolderSink

    frame = np.zeros((2, 3, 3), np.uint8)
    for bad, words in [
        ((1.5, 3), r"\(1\.5, 3\) is not two whole times in µs"),
        (7, r"7 is not two whole times"),
        ((1, 2, 3), r"\(1, 2, 3\) is not two whole times"),
        ((5, 5), r"\(5, 5\) is not a time range in µs: expected t_start < t_end"),
        ((0, 2**63), r"within int64"),
    ]:
        sink = FolderSink(tmp_path / "frames")
        with pytest.raises(ParameterError, match=words):
            sink.write(frame, bad)
        assert sink.n_frames == 0
        sink.abort()
    with FolderSink(tmp_path / "frames") as sink:
        sink.write(frame, (np.int64(10), np.int64(12)))
    assert _windows(tmp_path / "frames") == [("frame_000000.png", 10, 12)]


def test_a_folders_windows_csv_names_the_frames_renamed_past_the_digits(tmp_path, monkeypatch):
    """Past 10 ** FRAME_DIGITS frames the names are padded at the end; the CSV names them so."""
    from eventsim.render import writers

    monkeypatch.setattr(writers, "FRAME_DIGITS", 1)
    with writers.FolderSink(tmp_path / "frames") as sink:
        for k in range(11):
            sink.write(np.zeros((2, 2, 3), np.uint8), (k, k + 1))
    rows = _windows(tmp_path / "frames")
    assert [r[0] for r in rows] == [f"frame_{k:02d}.png" for k in range(11)]
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.png")) == [r[0] for r in rows]


def test_force_keeps_a_users_own_windows_csv(tmp_path, capsys, recording):
    """--force took any file named windows.csv for a render's and deleted it with the frames."""
    out = tmp_path / "frames"
    assert cli_main(["render", str(recording), "-o", str(out), "--window-ms", "25"]) == 0
    (out / "windows.csv").write_text("start,end,label\n0,10,walk\n")
    assert cli_main(["render", str(recording), "-o", str(out), "--force", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "holds 'windows.csv', which is not a render's" in err, err
    assert "does not begin 'file,t_start_us,t_end_us'" in err
    assert (out / "windows.csv").read_text() == "start,end,label\n0,10,walk\n"
    # a render's own, with Windows line ends, is still replaced
    (out / "windows.csv").write_bytes(b"file,t_start_us,t_end_us\r\nframe_000000.png,0,1\r\n")
    assert cli_main(["render", str(recording), "-o", str(out), "--force", "--no-progress"]) == 0
    assert len(_windows(out)) == 2


def test_a_folder_keeps_its_frames_windows_compactly(tmp_path, monkeypatch):
    """Every sink kept each window as a tuple of Python ints (some 120 bytes a frame, videos
    and GIFs too, which write none); a folder keeps them as int64s."""
    import tracemalloc

    from eventsim.render import writers

    # no frame files, nor their paths: pathlib interns each new name, and the interned strings'
    # table doubling (7.5 MB at 100,000 names, earlier or later by the tests run before) made
    # the peak depend on the test order
    monkeypatch.setattr(writers.FolderSink, "_write", lambda self, frame: None)
    frame = np.zeros((1, 1, 3), np.uint8)
    base = 1_700_000_000_000_000
    sink = writers.FolderSink(tmp_path / "frames")
    tracemalloc.start()
    try:
        for k in range(100_000):
            sink.write(frame, (base + 2 * k, base + 2 * k + 1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        sink.abort()
    # 1.6 MB of int64s (their arrays grow by copying); tuples took some 15 MB
    assert peak < 8_000_000, peak
