"""Third review of the event-simulation side, as a researcher uses it (simulate, convert,
render, verify): each test failed before its fix."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from eventsim.cli.simulate import main as simulate_main
from eventsim.events import EVENT_DTYPE
from eventsim.io import load_events, open_events, write_events
from eventsim.simulator.synthetic import moving_shapes_clip

from cli_checks import one_line


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    """Six 32x24 PNG frames without a timestamps file."""
    folder = tmp_path_factory.mktemp("frames") / "png"
    folder.mkdir()
    frames, _ = moving_shapes_clip(32, 24, duration_s=0.2, fps=30, seed=1)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def _simulate_fails(tmp_path, capsys, argv, *needles) -> str:
    out = tmp_path / "out.h5"
    rc = simulate_main([*map(str, argv), "-o", str(out), "-q"])
    assert rc == 1
    line = one_line(capsys.readouterr().err, *needles)
    assert not out.exists()
    return line


def test_a_timestamps_file_that_is_not_text_is_one_line(tmp_path, capsys, frame_folder):
    """Was 'internal error: UnicodeDecodeError'."""
    times = tmp_path / "times.txt"
    times.write_bytes(bytes(range(128, 256)))
    _simulate_fails(
        tmp_path, capsys, [frame_folder, "--timestamps", times], "not UTF-8 text", "times.txt"
    )


def test_a_folder_given_as_timestamps_file_is_named_a_folder(tmp_path, capsys, frame_folder):
    """Was 'timestamps file ... does not exist' for a folder that exists."""
    _simulate_fails(tmp_path, capsys, [frame_folder, "--timestamps", tmp_path], "is a folder")


def test_times_past_int64_microseconds_are_refused_by_line(tmp_path, capsys, frame_folder):
    """1e20 s wrapped around in int64 µs and the error blamed the order of the times."""
    times = tmp_path / "times.txt"
    times.write_text("".join(f"{i + 1}e20\n" for i in range(6)))
    _simulate_fails(
        tmp_path, capsys, [frame_folder, "--timestamps", times], "line 1", "'1e20'", "beyond"
    )


def test_fps_with_timestamps_is_refused_by_one_check(tmp_path, capsys, frame_folder):
    """One check for --fps beside --timestamps or beside a folder's timestamps.txt; the
    message offers --timestamps only where it was not given."""
    times = tmp_path / "times.txt"
    times.write_text("".join(f"{i / 30}\n" for i in range(6)))
    line = _simulate_fails(
        tmp_path, capsys, [frame_folder, "--timestamps", times, "--fps", 30], "drop --fps"
    )
    assert "--timestamps FILE" not in line
    timed = tmp_path / "timed"
    timed.mkdir()
    for p in frame_folder.iterdir():
        (timed / p.name).write_bytes(p.read_bytes())
    (timed / "timestamps.txt").write_text(times.read_text())
    _simulate_fails(tmp_path, capsys, [timed, "--fps", 30], "drop --fps", "--timestamps FILE")


def _sparse_events(n: int, span_us: int, seed: int = 0) -> np.ndarray:
    """Events ~12 ms apart over ``span_us``: time-high steps without events are skipped."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, 64, n)
    ev["y"] = rng.integers(0, 48, n)
    ev["t"] = np.sort(rng.integers(0, span_us, n)) + 1_000
    ev["p"] = rng.integers(0, 2, n)
    return ev


@pytest.mark.parametrize("chunk_words", [None, 5])
def test_evt3_keeps_times_after_a_wrap_of_its_24_bit_clock(tmp_path, monkeypatch, chunk_words):
    """faery wrote these events correctly but read every event after 16.78 s (the first wrap
    of EVT 3.0's 24-bit time) at a time before it: a 60 s recording came back ending at 16.8 s.
    Decoded in chunks of any size, the events come back exactly."""
    pytest.importorskip("faery")
    if chunk_words is not None:
        from eventsim.io import evt3

        monkeypatch.setattr(evt3, "_CHUNK_WORDS", chunk_words)
    ev = _sparse_events(5000, 60_000_000)
    path = write_events(tmp_path / "sparse.raw", ev, (64, 48), fmt="evt3")
    with open_events(path) as r:
        back = r.read()
        assert r.sensor_size == (64, 48) and not r.sensor_size_inferred
    for col in "xytp":
        np.testing.assert_array_equal(back[col], ev[col], err_msg=col)


def test_evt3_vectors_and_a_file_without_a_size_decode(tmp_path):
    """Dense events (faery writes runs along x as 12- and 8-bit vectors) decode exactly; a
    header without a size gives the size from the coordinates, not a made-up 1280x720."""
    pytest.importorskip("faery")
    ev = np.zeros(64 * 3, dtype=EVENT_DTYPE)
    ev["x"] = np.tile(np.arange(64), 3)
    ev["y"] = np.repeat([5, 6, 47], 64)
    ev["t"] = np.repeat([10, 20, 17_000_000], 64)
    ev["p"] = (ev["x"] % 3 == 0).astype(np.int8)
    path = write_events(tmp_path / "dense.raw", ev, (64, 48), fmt="evt3")
    np.testing.assert_array_equal(load_events(path), ev)
    raw = path.read_bytes()
    body = raw[raw.index(b"% t0") :]
    bare = tmp_path / "bare.raw"
    bare.write_bytes(b"% evt 3.0\n" + body)
    with open_events(bare) as r:
        np.testing.assert_array_equal(r.read(), ev)
        assert r.sensor_size == (64, 48) and r.sensor_size_inferred
    # without a wrap faery decodes the file, and reported its fallback size as the file's
    early = write_events(tmp_path / "early.raw", ev[:128], (64, 48), fmt="evt3")
    raw = early.read_bytes()
    bare.write_bytes(b"% evt 3.0\n" + raw[raw.index(b"% t0") :])
    with open_events(bare) as r:
        np.testing.assert_array_equal(r.read(), ev[:128])
        assert r.sensor_size == (64, 7) and r.sensor_size_inferred


def test_verify_names_a_missing_folder_and_an_event_file(tmp_path, capsys):
    """Both were 'is not a built dataset (no dataset.json)'; an event file now points to the
    check that applies to it."""
    from eventsim.cli.verify import main as verify_main

    assert verify_main([str(tmp_path / "missing")]) == 1
    one_line(capsys.readouterr().err, "does not exist")
    events = write_events(tmp_path / "ev.h5", _sparse_events(10, 1000), (64, 48))
    assert verify_main([str(events)]) == 1
    one_line(capsys.readouterr().err, "is a file", "eventsim info --check")


def test_render_of_an_empty_file_says_it_drew_no_events(tmp_path, capsys):
    """The summary said '0.001 ms of events' for a file without events."""
    from eventsim.cli.render import main as render_main

    empty = write_events(tmp_path / "empty.h5", np.zeros(0, dtype=EVENT_DTYPE), (16, 12))
    assert render_main([str(empty), "-o", str(tmp_path / "e.png"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no events in 33.333 ms of windows" in out and "0.001 ms" not in out


def test_in_memory_float_times_are_rounded_and_seconds_are_named():
    """Float times were truncated (33333.7 us -> 33333) and times in seconds all became 0,
    refused as 'entry 1 (0) follows 0'."""
    from eventsim.errors import InputError
    from eventsim.simulator.sources import ArraySource

    frames = np.zeros((3, 4, 5), np.uint8)
    src = ArraySource(frames, np.array([0.0, 33333.7, 66666.6]))
    assert src.timestamps_us.tolist() == [0, 33334, 66667]
    with pytest.raises(InputError, match="microseconds, so times in seconds"):
        ArraySource(frames, np.array([0.0, 1 / 30, 2 / 30]))
    with pytest.raises(InputError, match="NaN"):
        ArraySource(frames, np.array([0.0, np.nan, 2.0]))


def test_flow_method_without_flow_upsampling_is_refused(tmp_path, capsys, frame_folder):
    """--flow-method was ignored silently unless --upsample flow (and had no help line)."""
    _simulate_fails(
        tmp_path,
        capsys,
        [frame_folder, "--fps", 30, "--flow-method", "farneback"],
        "--flow-method farneback applies to --upsample flow only",
    )
    out = tmp_path / "flow.h5"
    argv = [frame_folder, "--fps", 30, "--upsample", "flow", "--flow-method", "farneback"]
    assert simulate_main([*map(str, argv), "-o", str(out), "-q"]) == 0


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--fps", 30, "--motion", "pan"], "--motion"),
        (["--fps", 30, "--amplitude-px", 5], "--amplitude-px"),
        (["--fps", 30, "--duration-ms", 100], "--duration-ms"),
        (["--fps", 30, "--interval-ms", 5], "--interval-ms"),
    ],
)
def test_options_the_input_ignores_are_refused(tmp_path, capsys, frame_folder, argv, option):
    """Image-motion, synthetic and --pair options were ignored silently on a frame folder
    (and on a video), as --fps is not."""
    _simulate_fails(tmp_path, capsys, [frame_folder, *argv], f"{option} applies to")


def test_image_motion_options_still_apply_to_an_image_input(tmp_path, frame_folder):
    image = sorted(frame_folder.glob("*.png"))[0]
    out = tmp_path / "image.h5"
    argv = [image, "--motion", "pan", "--amplitude-px", 3, "--duration-ms", 50]
    assert simulate_main([*map(str, argv), "-o", str(out), "-q"]) == 0
    with open_events(out) as r:
        src = r.source
    assert (src["kind"], src["motion"], src["amplitude_px"]) == ("image-motion", "pan", 3.0)


def test_render_force_replaces_only_a_folder_of_frames(tmp_path, capsys, monkeypatch):
    """--force onto an existing folder deleted it whole, a user's files with it; '-o .'
    was an internal error."""
    from eventsim.cli.render import main as render_main

    events = write_events(tmp_path / "ev.h5", _sparse_events(500, 200_000), (64, 48))
    frames = tmp_path / "frames"
    argv = [str(events), "-o", str(frames), "--window-ms", "100", "--no-progress", "--force"]
    assert render_main(argv) == 0
    assert render_main(argv) == 0  # an earlier render's folder is replaced
    capsys.readouterr()
    keep = frames / "notes.txt"
    keep.write_text("mine")
    assert render_main(argv) == 1
    one_line(capsys.readouterr().err, "'notes.txt'", "not a rendered frame")
    assert keep.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.h5", "frames"]
    notes = tmp_path / "NOTES"
    notes.write_text("mine")
    assert render_main([*argv[:2], str(notes), *argv[3:]]) == 1
    one_line(capsys.readouterr().err, "is a file", "does not replace it")
    assert notes.read_text() == "mine"
    monkeypatch.chdir(tmp_path)  # '.' is then this test's folder, whatever happens
    assert render_main([*argv[:2], ".", *argv[3:]]) == 1
    one_line(capsys.readouterr().err, "names no folder")


def test_a_foreign_ms_to_idx_that_does_not_match_the_times_is_rebuilt(tmp_path):
    """A DSEC-layout file from another tool whose ms_to_idx follows another convention (or
    is cut short) gave wrong time windows silently; it is now checked and rebuilt."""
    import h5py

    ev = _sparse_events(5000, 2_000_000)
    t = ev["t"]
    right = np.searchsorted(t, np.arange(t[-1] // 1000 + 1) * 1000)
    for name, ms in (("right", right), ("halved", right // 2), ("short", right[:100])):
        path = tmp_path / f"{name}.h5"
        with h5py.File(path, "w") as f:
            for col, dtype in (("x", np.uint16), ("y", np.uint16), ("t", np.uint32)):
                f[f"events/{col}"] = ev[col].astype(dtype)
            f["events/p"] = ev["p"].astype(np.uint8)
            f["t_offset"] = np.int64(0)
            f["ms_to_idx"] = ms.astype(np.uint64)
        with open_events(path) as r:
            rebuilt = any("does not match" in n for n in r.notes)
            assert rebuilt == (name != "right"), (name, r.notes)
            for a, b in ((500_000, 700_000), (123_456, 1_234_567), (1_900_000, 2_100_000)):
                want = ev[(t >= a) & (t < b)]
                np.testing.assert_array_equal(r.read(a, b), want, err_msg=f"{name} {a}..{b}")


def test_convert_reads_vid2e_nanoseconds_and_esim_py_column_order(tmp_path, capsys):
    """rpg_vid2e's esim_torch times are nanoseconds: read as µs they came out 1000x too long,
    with no option to say so; esim_py's N x 4 float arrays are x, y, t, p and were refused
    as 'coordinate column 'y' holds non-integer values' with no way to give the order."""
    from eventsim.cli.convert import main as convert_main

    ev = _sparse_events(300, 500_000)
    np.savez(tmp_path / "vid2e.npz", x=ev["x"], y=ev["y"], t=ev["t"] * 1000, p=ev["p"] * 2 - 1)
    out = tmp_path / "vid2e.h5"
    argv = [str(tmp_path / "vid2e.npz"), str(out), "--sensor-size", "64x48"]
    assert convert_main([*argv, "--time-unit", "ns"]) == 0
    np.testing.assert_array_equal(load_events(out), ev)

    matrix = np.stack([ev["x"], ev["y"], ev["t"] / 1e6, ev["p"] * 2 - 1], axis=1)
    np.save(tmp_path / "esim.npy", matrix.astype(np.float64))
    argv = [str(tmp_path / "esim.npy"), str(tmp_path / "esim.h5"), "--sensor-size", "64x48"]
    capsys.readouterr()
    assert convert_main(argv) == 1
    one_line(capsys.readouterr().err, "read as columns t, x, y, p", "--columns")
    assert convert_main([*argv, "--columns", "xytp"]) == 0
    np.testing.assert_array_equal(load_events(tmp_path / "esim.h5"), ev)


def test_a_time_unit_that_the_format_fixes_is_refused(tmp_path):
    """time_unit was ignored silently for faery's formats and for EVENT_DTYPE arrays."""
    from eventsim.errors import ParameterError

    ev = _sparse_events(50, 100_000)
    raw = write_events(tmp_path / "a.raw", ev, (64, 48), fmt="evt3")
    with pytest.raises(ParameterError, match="fixes the unit"):
        open_events(raw, time_unit="s")
    npy = tmp_path / "a.npy"
    np.save(npy, ev)
    with open_events(npy, time_unit="ms", sensor_size=(64, 48)) as r:
        assert r.read()["t"].tolist() == (ev["t"] * 1000).tolist()


def test_evt3_decoder_reads_the_owner_fixture_like_faery():
    """The fallback decoder, run on the committed faery-written Gen4 file (vectors, a dense
    24-bit wrap, a t0 header), gives its expected events exactly."""
    import json
    from pathlib import Path

    from eventsim.io import evt3

    data = Path(__file__).resolve().parent / "data"
    info = json.loads((data / "fixtures.json").read_text())["faery-gen4-evt3"]
    header = evt3.read_header(data / info["file"])
    assert header.size == tuple(info["sensor_size"]) and header.version == "3"
    assert not evt3.faery_misreads(data / info["file"], header)
    ev = evt3.read_evt3(data / info["file"], header.size, header)
    want = np.load(data / info["expected"])
    for col in "xytp":
        np.testing.assert_array_equal(ev[col], want[col], err_msg=col)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--tau-ms", "5"], "--tau-ms does not apply to --mode polarity"),
        (["--bins", "3"], "--bins does not apply to --mode polarity"),
        (["--mode", "heatmap", "--color-by", "net"], "--color-by does not apply"),
        (["--mode", "polarity", "--no-colorbar"], "--no-colorbar does not apply"),
    ],
)
def test_render_refuses_look_options_its_mode_ignores(tmp_path, capsys, argv, needle):
    """Mode-specific options (time-surface decay, voxel bins, heat-map settings...) were
    ignored silently by the other modes."""
    from eventsim.cli.render import main as render_main

    events = write_events(tmp_path / "ev.h5", _sparse_events(200, 100_000), (64, 48))
    out = tmp_path / "f.png"
    assert render_main([str(events), "-o", str(out), "--no-progress", *argv]) == 1
    one_line(capsys.readouterr().err, needle)
    assert not out.exists()


def test_hidden_files_in_a_frame_folder_are_not_frames(tmp_path, capsys, frame_folder):
    """macOS's '._0001.png' companions of copied images stopped the run as unreadable
    images; an ESIM-layout folder holding only such a file was not looked into."""
    seq = tmp_path / "seq"
    images = seq / "images"
    images.mkdir(parents=True)
    for p in frame_folder.iterdir():
        (images / p.name).write_bytes(p.read_bytes())
        (images / f"._{p.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (seq / "._cover.png").write_bytes(b"\x00\x05\x16\x07")
    (seq / "timestamps.txt").write_text("".join(f"{i / 30}\n" for i in range(6)))
    out = tmp_path / "seq.h5"
    assert simulate_main([str(seq), "-o", str(out), "-q"]) == 0
    with open_events(out) as r:
        assert r.source["n_frames"] == 6


def test_a_time_span_too_long_for_ms_to_idx_is_named(tmp_path, capsys):
    """Ten years of times (nanoseconds read as µs, a bad timestamps file) asked numpy for
    terabytes of ms_to_idx and ended as 'out of memory: Unable to allocate 338. TiB'."""
    from eventsim.cli.convert import main as convert_main

    ev = _sparse_events(10, 1000)
    ev["t"][-1] = 10 * 365 * 86_400 * 10**6
    npy = tmp_path / "far.npy"
    np.save(npy, ev)
    out = tmp_path / "far.h5"
    # such a span is refused as implausible first; --force (deprecated for this, as
    # --allow-implausible-times) takes the times as read, which must still end in the named
    # error, not in numpy's allocation failure
    assert convert_main([str(npy), str(out), "--sensor-size", "64x48"]) == 1
    err_line = capsys.readouterr().err.splitlines()[-1]
    one_line(err_line, "error:", "implausible", "pass --allow-implausible-times")
    assert convert_main([str(npy), str(out), "--sensor-size", "64x48", "--force"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    one_line(err[-1], "error:", "days after the first", "ms_to_idx", "microseconds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["far.npy"]


def test_python_simulate_of_a_folder_path(tmp_path, frame_folder):
    """simulate('frames/') told the user to 'pass fps (--fps)', which simulate() does not
    take, and did not read ESIM's images/ + timestamps.txt layout that the CLI reads."""
    from eventsim.errors import InputError
    from eventsim.simulator import simulate

    with pytest.raises(InputError, match=r"FolderSource\(.*fps="):
        simulate(str(frame_folder))
    seq = tmp_path / "seq"
    (seq / "images").mkdir(parents=True)
    for p in frame_folder.iterdir():
        (seq / "images" / p.name).write_bytes(p.read_bytes())
    (seq / "timestamps.txt").write_text("".join(f"{i / 30}\n" for i in range(6)))
    result = simulate(str(seq))
    assert result.n_frames == 6 and result.t_last_frame_us == 166_667


def test_a_timestamps_file_in_microseconds_is_named_so(tmp_path, frame_folder):
    """DSEC's image_timestamps.txt holds integer µs; read as seconds, the warning told the
    user to divide by 1000 (milliseconds), which leaves the times 1000x too long."""
    from eventsim.simulator.sources import FolderSource, TimestampsWarning

    times = tmp_path / "image_timestamps.txt"
    times.write_text("".join(f"{49_599_300_523 + 50_000 * i}\n" for i in range(6)))
    with pytest.warns(TimestampsWarning, match="in microseconds, divide them by 1e6"):
        FolderSource(frame_folder, timestamps_file=times, allow_long_gaps=True)


@pytest.mark.parametrize(("fmt", "size"), [("evt3", (3000, 10)), ("evt3", (10, 2049))])
def test_evt3_refuses_sensors_its_11_bit_coordinates_cannot_hold(tmp_path, fmt, size):
    """faery wrote EVT 3.0 for sensors up to 4096 wide, keeping x mod 2048: a 3000-wide
    recording came back with other coordinates, silently."""
    from eventsim.errors import ParameterError

    ev = _sparse_events(20, 1000)
    ev["x"] %= size[0]
    ev["y"] %= size[1]
    ev["x"][0], ev["y"][1] = size[0] - 1, size[1] - 1
    with pytest.raises(ParameterError, match=r"11 bits.*2048x2048"):
        write_events(tmp_path / "a.raw", ev, size, fmt=fmt)
    assert list(tmp_path.iterdir()) == []


def test_a_timestamps_file_with_a_byte_order_mark_is_read(tmp_path):
    """Notepad's UTF-8 files start with a BOM: line 1 was "'\\ufeff0.0' is not a time"."""
    from eventsim.simulator.sources import read_timestamps_file

    times = tmp_path / "timestamps.txt"
    times.write_bytes("\ufeff0.0\r\n0.033\r\n".encode())
    assert read_timestamps_file(times).tolist() == [0, 33000]


def test_rpg_text_events_with_a_byte_order_mark_are_read(tmp_path):
    """The BOM made the 'width height' line unreadable."""
    path = tmp_path / "events.txt"
    path.write_bytes("\ufeff640 480\n0.000001 1 2 1\n0.000002 3 4 0\n".encode())
    with open_events(path) as r:
        assert r.sensor_size == (640, 480) and r.read()["t"].tolist() == [1, 2]


def test_an_unordered_timestamps_file_names_the_line(tmp_path):
    """The error counted entries, not lines, so a file with comments or blank lines pointed
    at the wrong line; times less than 1 µs apart are said to be so."""
    from eventsim.errors import InputError
    from eventsim.simulator.sources import read_timestamps_file

    times = tmp_path / "timestamps.txt"
    times.write_text("# seconds\n0.0\n\n0.033\n0.020\n")
    with pytest.raises(InputError, match=r"line 5 \(0.02 s\) follows 0.033 s$"):
        read_timestamps_file(times)
    times.write_text("0.0000001\n0.0000002\n")
    with pytest.raises(InputError, match=r"line 2 .* \(less than 1 us later\)"):
        read_timestamps_file(times)


def test_a_video_that_stops_decoding_early_is_reported(tmp_path, capsys):
    """A truncated or corrupt video was simulated up to where it broke, exit 0 and no word
    (27 of 60 frames); it now says so in one warning line and keeps the output."""
    from eventsim.simulator.sources import VideoDecodeWarning, VideoSource

    frames, _ = moving_shapes_clip(64, 48, duration_s=2.0, fps=30, seed=2)
    whole = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter.fourcc(*"MJPG"), 30, (64, 48))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "cut.h5"
    assert simulate_main([str(cut), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    one_line(err, "warning:", "stopped decoding after frame", "of the 60")
    assert out.is_file()
    with pytest.warns(VideoDecodeWarning):
        list(VideoSource(cut))
    assert simulate_main([str(whole), "-o", str(tmp_path / "whole.h5"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_dsec_layout_with_times_before_zero_reads_the_right_windows(tmp_path):
    """A foreign DSEC-layout file with int64 times below 0: a window there looked up
    ms_to_idx[-1] (the end of the file), so read(-1000, -100) returned every event."""
    import h5py

    ev = _sparse_events(1000, 2_000_000)
    ev["t"] -= 5_000
    path = tmp_path / "negative.h5"
    with h5py.File(path, "w") as f:
        for col, dtype in (("x", np.uint16), ("y", np.uint16), ("t", np.int64), ("p", np.uint8)):
            f[f"events/{col}"] = ev[col].astype(dtype)
        t = ev["t"]
        f["ms_to_idx"] = np.searchsorted(t, np.arange(t[-1] // 1000 + 1) * 1000).astype(np.uint64)
    with open_events(path, sensor_size=(64, 48)) as r:
        assert not any("ms_to_idx" in n for n in r.notes)  # its index follows the rule
        for a, b in ((-4_000, -100), (-300, 7_000), (-10_000, 0), (1_000, 900_000)):
            want = ev[(t >= a) & (t < b)]
            np.testing.assert_array_equal(r.read(a, b), want, err_msg=f"{a}..{b}")
