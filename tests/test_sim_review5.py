"""Simulator review 5: TIFF decoding (orientation 5..8, compressions OpenCV lacks) and the
`eventsim simulate` audit's findings."""

from __future__ import annotations

import struct
import sys

import cv2
import numpy as np
import pytest

from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import InputError
from eventsim.io import open_events
from eventsim.simulator import sources
from eventsim.simulator.sources import apply_exif_orientation, read_image

from cli_checks import one_line
from user_media import tiff_bytes

# -- TIFF ----------------------------------------------------------------------------------------


@pytest.fixture
def stored():
    rng = np.random.default_rng(5)
    return {
        "rgb8": rng.integers(0, 256, (6, 10, 3), dtype=np.uint8),
        "grey16": rng.integers(0, 65536, (6, 10), dtype=np.uint16),
    }


def _as_read(pixels: np.ndarray) -> np.ndarray:
    return pixels / 257.0 if pixels.dtype == np.uint16 else pixels


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
@pytest.mark.parametrize("kind", ["rgb8", "grey16"])
def test_a_tiff_turned_by_90_degrees_reads_upright(tmp_path, stored, kind, orientation):
    # OpenCV 5.0 fails on a non-square TIFF tagged 5..8 ("original_ptr == real_mat.data"),
    # with every imread flag: such images were "not an image OpenCV can decode"
    pixels = stored[kind]
    path = tmp_path / "a.tif"
    path.write_bytes(tiff_bytes(pixels, orientation=orientation))
    got = read_image(path)
    assert got.shape[:2] == (10, 6)
    np.testing.assert_array_equal(got, _as_read(apply_exif_orientation(pixels, orientation)))


@pytest.mark.parametrize("orientation", [1, 3, 6])
def test_a_tiff_compression_opencv_lacks_is_read_by_pillow(tmp_path, stored, orientation):
    pytest.importorskip("PIL")
    pixels = stored["grey16"]
    path = tmp_path / "lzma.tif"
    path.write_bytes(tiff_bytes(pixels, compression=34925, orientation=orientation))
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None or orientation == 1
    got = read_image(path)
    # 16-bit depth kept, turned upright by the one EXIF rule
    np.testing.assert_array_equal(got, _as_read(apply_exif_orientation(pixels, orientation)))


def test_a_tiff_compression_opencv_lacks_without_pillow_is_one_line(tmp_path, stored, monkeypatch):
    path = tmp_path / "lzma.tif"
    path.write_bytes(tiff_bytes(stored["rgb8"], compression=34925))
    if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None:
        pytest.skip("this OpenCV decodes LZMA TIFFs")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(InputError, match=r"'.*lzma\.tif' is a TIFF with LZMA compression") as exc:
        read_image(path)
    assert "install Pillow" in str(exc.value)


def test_16_bit_colour_that_only_pillow_decodes_is_refused(tmp_path, stored):
    # Pillow reads 16-bit colour samples as 8 bits: the depth would be lost without a word
    pytest.importorskip("PIL")
    path = tmp_path / "rgb16.tif"
    rgb16 = np.repeat(stored["grey16"][..., None], 3, axis=2)
    path.write_bytes(tiff_bytes(rgb16, compression=34925))
    if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None:
        pytest.skip("this OpenCV decodes LZMA TIFFs")
    with pytest.raises(InputError, match="16-bit colour TIFF with LZMA compression"):
        read_image(path)


def test_opencv_log_level_is_restored_after_a_quiet_decode(tmp_path, stored):
    pytest.importorskip("PIL")
    level = cv2.utils.logging.getLogLevel()
    path = tmp_path / "lzma.tif"
    path.write_bytes(tiff_bytes(stored["rgb8"], compression=34925))
    read_image(path)
    assert cv2.utils.logging.getLogLevel() == level


def test_simulate_reads_such_tiffs_as_folder_image_and_pair(tmp_path, stored, capfd):
    pytest.importorskip("PIL")
    folder = tmp_path / "frames"
    folder.mkdir()
    base = stored["grey16"]
    for i in range(3):
        frame = np.clip(base.astype(np.int64) + 6000 * i, 0, 65535).astype(np.uint16)
        compression = 34925 if i % 2 else 1
        (folder / f"{i}.tif").write_bytes(tiff_bytes(frame, compression=compression, orientation=6))
    runs = {
        "folder": [str(folder), "--fps", "100"],
        "image": ["--image", str(folder / "1.tif"), "--duration-ms", "20"],
        "pair": ["--pair", str(folder / "0.tif"), str(folder / "1.tif")],
    }
    for name, argv in runs.items():
        out = tmp_path / f"{name}.h5"
        assert simulate_main([*argv, "-o", str(out), "-q"]) == 0
        err = capfd.readouterr().err
        # no OpenCV log lines from the decoder that lacks LZMA
        assert err == "", err
        with open_events(out) as r:
            assert r.sensor_size == (6, 10), name
            assert len(r) > 0, name


def test_simulate_names_a_tiff_it_cannot_decode(tmp_path, stored, monkeypatch, capfd):
    path = tmp_path / "lzma.tif"
    path.write_bytes(tiff_bytes(stored["rgb8"], compression=34925))
    if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None:
        pytest.skip("this OpenCV decodes LZMA TIFFs")
    capfd.readouterr()
    monkeypatch.setitem(sys.modules, "PIL", None)
    rc = simulate_main(["--image", str(path), "-o", str(tmp_path / "x.h5"), "-q"])
    assert rc == 1
    one_line(capfd.readouterr().err, "lzma.tif", "LZMA compression")


def test_exif_orientation_of_tiff_still_found(tmp_path, stored):
    # the directory walk that finds compression and orientation also serves exif_orientation
    data = tiff_bytes(stored["rgb8"], orientation=7)
    assert sources.exif_orientation(data) == 7
    big_endian = b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 274, 3, 1, 8, 0)
    assert sources.exif_orientation(big_endian + bytes(4)) == 8


# -- DVSParams -----------------------------------------------------------------------------------


def test_a_fractional_refractory_period_is_refused_not_switched_off():
    from eventsim.errors import ParameterError
    from eventsim.simulator import DVSParams

    # 0.5 passed the checks and then counted as int(0.5) = 0: no refractory period at all
    with pytest.raises(ParameterError, match=r"^refractory_period_us = 0\.5; expected an integer$"):
        DVSParams(refractory_period_us=0.5)
    whole = DVSParams(refractory_period_us=500.0, max_upsample_factor=np.int64(4))
    assert whole.refractory_period_us == 500 and isinstance(whole.refractory_period_us, int)
    assert type(whole.max_upsample_factor) is int
    assert type(DVSParams(cutoff_hz=np.float32(30)).cutoff_hz) is float


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("pos_threshold", "0.2", "expected a number"),  # was TypeError: must be real number
        ("cutoff_hz", True, "expected a number"),
        ("max_upsample_factor", 2.5, "expected an integer"),
        ("refractory_period_us", None, "expected an integer"),
    ],
)
def test_params_of_the_wrong_type_are_named(field, value, expected):
    from eventsim.errors import ParameterError
    from eventsim.simulator import DVSParams

    with pytest.raises(ParameterError, match=rf"^{field} = .*; {expected}$"):
        DVSParams(**{field: value})


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        # the numba kernel's int64 argument: "TypingError: ... Int value is too large"
        (
            "refractory_period_us=1e20",
            "--set refractory_period_us=1e20; expected at most",
        ),
        # the log-normal normalisation: "OverflowError: (34, 'Numerical result out of range')"
        (
            "leak_rate_spread_decades=1e300",
            "--set leak_rate_spread_decades=1e300; expected at most 10",
        ),
    ],
)
def test_simulate_refuses_out_of_range_settings_in_one_line(tmp_path, capfd, setting, message):
    argv = ["--synthetic", "moving-shapes", "--duration-ms", "50", "--sensor-size", "32x24"]
    rc = simulate_main(
        [*argv, "--set", setting, "--set", "leak_rate_hz=1", "-o", str(tmp_path / "x.h5"), "-q"]
    )
    assert rc == 1
    one_line(capfd.readouterr().err, message)


# -- frame times from rates, intervals and durations ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # frames less than 1 us apart all got time 0: "frame timestamps must increase
        # strictly: frame 1 at 0 us follows 0 us", naming no option
        (["FOLDER", "--fps", "1e9"], "--fps 1e+09; expected a value > 0 and at most 1e+06"),
        (["--image", "A", "--fps", "3e6"], "--fps 3e+06; expected a value > 0 and at most"),
        (
            ["--image", "A", "--duration-ms", "0.0001"],
            "--duration-ms 0.0001 puts the first and last frames",
        ),
        (
            ["--pair", "A", "B", "--interval-ms", "0.0001"],
            "--interval-ms 0.0001 is shorter than 1 us",
        ),
        (["--synthetic", "moving-shapes", "--fps", "2e6", "--duration-ms", "0.01"], "--fps 2e+06"),
        # the last frame's time overflowed int64: a negative time, or an internal OverflowError
        (["FOLDER", "--fps", "1e-13"], "--fps 1e-13 puts frame 3 at 2e+13 s"),
        (["--pair", "A", "B", "--interval-ms", "1e300"], "--interval-ms 1e+300 is longer than"),
        (["--synthetic", "moving-shapes", "--fps", "1e-300"], "--fps 1e-300 puts frame 2 at"),
    ],
)
def test_frame_times_finer_than_a_microsecond_or_past_int64_are_named(
    tmp_path, capfd, argv, message
):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (12, 16), dtype=np.uint8))
    names = {"FOLDER": str(folder), "A": str(folder / "0.png"), "B": str(folder / "1.png")}
    argv = [names.get(a, a) for a in argv]
    rc = simulate_main([*argv, "--sensor-size", "16x16", "-o", str(tmp_path / "x.h5"), "-q"])
    assert rc == 1
    one_line(capfd.readouterr().err, message)


def test_library_sources_refuse_sub_microsecond_frames():
    from eventsim.errors import ParameterError
    from eventsim.simulator.sources import ArraySource, ImageMotionSource

    frames = np.zeros((3, 4, 4), np.uint8)
    with pytest.raises(
        ParameterError, match=r"fps = 10000000\.0; expected a value > 0 and at most"
    ):
        ArraySource(frames, fps=1e7)
    with pytest.raises(ParameterError, match=r"fps = 1e-300 puts frame 3 at"):
        ArraySource(frames, fps=1e-300)
    # a slow image motion still spans its duration with two frames (a saccade, which ends
    # where it starts, with four since round 11: its corners)
    assert ImageMotionSource(frames[0], "pan", fps=1e-3).timestamps_us.tolist() == [0, 300_000]
    saccade = ImageMotionSource(frames[0], fps=1e-3).timestamps_us.tolist()
    assert saccade == [0, 100_000, 200_000, 300_000]
    assert ImageMotionSource(frames[0], fps=1e6, duration_ms=0.01).n_frames == 11


def test_a_nan_pan_angle_is_refused_not_a_hang():
    from eventsim.errors import ParameterError
    from eventsim.simulator.sources import ImageMotionSource

    # OpenCV's warpAffine never returned from the NaN shift of the first frame
    with pytest.raises(ParameterError, match="angle_deg = nan; expected a finite angle"):
        ImageMotionSource(np.zeros((4, 4), np.uint8), "pan", angle_deg=float("nan"))


# -- in-memory frames ----------------------------------------------------------------------------


def _clip16():
    rng = np.random.default_rng(2)
    return rng.integers(0, 65536, (4, 8, 10), dtype=np.uint16), np.arange(4) * 1000


def test_uint16_frames_are_16_bit_images_grey_or_colour():
    from eventsim.simulator import simulate_frames

    frames, ts = _clip16()
    expected = simulate_frames(frames / 257.0, ts)
    assert expected.size > 0
    # grey uint16 was refused ("expected uint8 or float") while RGB uint16 ran as DN up to
    # 65535, 257 times too bright: the intensity-dependent noise and low-pass saturated
    np.testing.assert_array_equal(simulate_frames(frames, ts), expected)
    rgb = np.repeat(frames[..., None], 3, axis=3)
    np.testing.assert_array_equal(simulate_frames(rgb, ts), expected)


def test_one_channel_and_alpha_frames_are_taken_and_odd_ones_named():
    from eventsim.simulator import simulate, simulate_frames

    frames, ts = _clip16()
    grey = (frames >> 8).astype(np.uint8)
    expected = simulate_frames(grey, ts)
    # [T,H,W,1] was an OpenCV error from the luma conversion (cv2.error, a traceback)
    np.testing.assert_array_equal(simulate_frames(grey[..., None], ts), expected)
    rgba = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=3)
    np.testing.assert_array_equal(simulate_frames(rgba, ts), expected)
    # a 4th channel is alpha, blended onto white (round 11: it was dropped)
    faint = np.stack([grey, grey, grey, np.full_like(grey, 7)], axis=3)
    on_white = np.round(grey * (7 / 255) + 255 * (1 - 7 / 255)).astype(np.uint8)
    np.testing.assert_array_equal(simulate_frames(faint, ts), simulate_frames(on_white, ts))
    with pytest.raises(InputError, match=r"frames have dtype bool; expected uint8, uint16"):
        simulate_frames(grey > 100, ts)
    with pytest.raises(InputError, match=r"frames have shape \(4, 8, 10, 2\)"):
        simulate_frames(np.zeros((4, 8, 10, 2), np.uint8), ts)

    class TwoChannels:
        sensor_size = (10, 8)

        def __iter__(self):
            for t in ts:
                yield np.zeros((8, 10, 2), np.uint8), int(t)

    with pytest.raises(InputError, match=r"frame 0 has shape \(8, 10, 2\); expected HxW"):
        simulate(TwoChannels())


# -- EventSimulator arguments --------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1.5, 2**64, -1, True, "3"])
def test_seeds_that_cannot_be_stored_are_refused(seed):
    from eventsim.errors import ParameterError
    from eventsim.simulator import DVSParams, EventSimulator

    # 1.5 ran as seed 1; 2**64 ran and then failed to be stored in the output file
    # ("TypeError: Object dtype dtype('O') has no native HDF5 equivalent")
    with pytest.raises(ParameterError, match=r"expected an integer 0\.\.2\*\*64-1"):
        EventSimulator(DVSParams(), (4, 4), seed=seed)
    assert EventSimulator(DVSParams(), (4, 4), seed=np.uint64(2**64 - 1)).seed == 2**64 - 1


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        (np.array(["0", "1"]), "timestamps_us have dtype <U1; expected integer microseconds"),
        (np.array([0, 2**64 - 1], np.uint64), r"timestamps_us reach 1\.84467e\+19 us"),
        (np.array([0.0, 1e19]), r"timestamps_us reach 1e\+19 us; expected times within int64"),
    ],
)
def test_timestamps_of_another_kind_are_named(ts, message):
    from eventsim.simulator import DVSParams, EventSimulator

    # strings were a TypeError from np.isfinite; 2**64-1 wrapped to -1 ("frame 1 at -1 us"),
    # 1e19 to -2**63
    with pytest.raises(InputError, match=message):
        EventSimulator(DVSParams(), (4, 4)).step(np.zeros((2, 4, 4), np.uint8), ts)


# -- upsampling ----------------------------------------------------------------------------------


def test_upsampled_frames_of_one_interval_go_to_the_simulator_in_batches(monkeypatch):
    from eventsim.simulator import DVSParams, pipeline, simulate
    from eventsim.simulator.sources import ArraySource
    from eventsim.simulator.upsample import Upsampler

    frames = np.zeros((3, 6, 8), np.uint8)
    frames[1] = 255
    frames[2, :, :4] = 255
    ts = np.array([0, 10_000, 20_000])
    params = DVSParams(max_log_change=0.01, max_upsample_factor=500)
    upsampler = Upsampler("linear", params)
    batches = list(pipeline._batches(ArraySource(frames, ts), (8, 6), upsampler, False, 16))
    # every interval held all its inserted frames (here 499) before the first batch went out
    assert max(len(b[0]) for b in batches) <= 16
    assert sum(len(b[0]) for b in batches) == 3 + upsampler.inserted
    assert sum(b[3] for b in batches) == 3
    whole = simulate(ArraySource(frames, ts), params, upsample="linear").events
    monkeypatch.setattr(pipeline, "_BATCH_FRAMES", (4, 4))
    assert simulate(ArraySource(frames, ts), params, upsample="linear").events.tobytes() == (
        whole.tobytes()
    )


def test_flow_upsampling_of_thin_or_tiny_sensors_does_not_crash(tmp_path):
    import subprocess

    # OpenCV's DIS flow killed the process (segfault) on 12x40 frames, and on 1280x24 ones
    # once downscaled to 640x12 for the flow; under 12 px it raised (an internal error)
    code = (
        "import numpy as np\n"
        "from eventsim.simulator.upsample import estimate_flow\n"
        "rng = np.random.default_rng(0)\n"
        "for h, w in [(12, 40), (8, 100), (24, 1280), (1, 1), (13, 300), (5, 3)]:\n"
        "    a = rng.integers(0, 256, (h, w), dtype=np.uint8)\n"
        "    f = estimate_flow(a, np.roll(a, 1, axis=1))\n"
        "    assert f.shape == (h, w, 2) and f.flags.c_contiguous, (h, w, f.shape)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "ok\n", (out.returncode, out.stderr[-2000:])
    folder = tmp_path / "thin"
    folder.mkdir()
    rng = np.random.default_rng(1)
    strip = rng.integers(0, 256, (12, 60), dtype=np.uint8)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.roll(strip, 3 * i, axis=1))
    out_h5 = tmp_path / "thin.h5"
    argv = [str(folder), "--fps", "30", "--upsample", "flow", "-o", str(out_h5), "-q"]
    assert simulate_main(argv) == 0
    with open_events(out_h5) as r:
        assert r.sensor_size == (60, 12) and len(r) > 0


def test_big_endian_float_frames_give_the_native_arrays_events():
    from eventsim.simulator import DVSParams, EventSimulator

    frames = np.random.default_rng(4).random((4, 8, 10)).astype(np.float32) * 255
    ts = np.arange(4) * 1000
    native = EventSimulator(DVSParams(), (10, 8)).step(frames, ts)
    # torch.from_numpy refused them: "given numpy array has byte order different from ..."
    swapped = EventSimulator(DVSParams(), (10, 8)).step(frames.astype(">f4"), ts.astype(">i8"))
    assert native.size > 0 and swapped.tobytes() == native.tobytes()


def test_a_corrupt_image_is_one_line_without_opencvs_log(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    folder = tmp_path / "frames"
    folder.mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    whole = tiff_bytes(rgb)
    (folder / "0.tif").write_bytes(whole)
    (folder / "1.tif").write_bytes(whole[: len(whole) - 60])  # cut short
    capfd.readouterr()
    level = cv2.utils.logging.getLogLevel()
    rc = simulate_main([str(folder), "--fps", "30", "-o", str(tmp_path / "x.h5"), "-q"])
    assert rc == 1
    # OpenCV's libtiff lines ("TIFFFillStrip: Read error ...") came first
    one_line(capfd.readouterr().err, "1.tif", "cannot be read")
    assert cv2.utils.logging.getLogLevel() == level


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_half_and_long_double_frames_can_be_fitted_to_the_sensor(dtype):
    from eventsim.simulator import simulate_frames

    frames = np.random.default_rng(3).random((3, 8, 10)) * 255
    ts = np.arange(3) * 1000
    # OpenCV's resize raised for both ("func != 0", "Overload resolution failed")
    got = simulate_frames(frames.astype(dtype), ts, sensor_size=(5, 4))
    expected = simulate_frames(frames.astype(dtype).astype(np.float64), ts, sensor_size=(5, 4))
    assert got.size > 0 and got.tobytes() == expected.tobytes()


def test_an_image_array_from_read_image_gives_the_files_events(tmp_path):
    from eventsim.simulator import simulate
    from eventsim.simulator.sources import ImageMotionSource, PairSource

    # the dataset builder reads images with read_image (16-bit files as float DN) and hands
    # the array on: the sources took float arrays as 0..1 and scaled them by 255 again
    rng = np.random.default_rng(6)
    paths = []
    for i in range(2):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 65536, (12, 16), dtype=np.uint16))
        paths.append(path)
    arrays = [read_image(p) for p in paths]
    assert arrays[0].dtype == np.float64 and arrays[0].max() <= 255
    for make in (
        lambda a, b: ImageMotionSource(a, "pan", duration_ms=20),
        lambda a, b: PairSource(a, b),
    ):
        from_files = simulate(make(*paths)).events
        assert from_files.size > 0
        assert simulate(make(*arrays)).events.tobytes() == from_files.tobytes()
    # and a uint16 array is the 16-bit image itself
    raw = cv2.imread(str(paths[0]), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(
        ImageMotionSource(raw, "pan").image, ImageMotionSource(paths[0], "pan").image
    )
