"""Simulator follow-ups 5: file names that are not UTF-8, progress bars, the sensor's memory and
noise rates of `eventsim simulate`."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from eventsim.cli.simulate import main as simulate_main
from eventsim.io import open_events
from eventsim.simulator import DVSParams
from eventsim.simulator.synthetic import write_video

from cli_checks import one_line

# -- names that are not UTF-8 --------------------------------------------------------------------

# the byte 0xff cannot start a UTF-8 character: Python names such a file 'bad\udcff.png'
_BAD = os.fsdecode(b"bad\xff")

needs_bytes_names = pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding().lower() != "utf-8",
    reason="file names are bytes, read as UTF-8, only on POSIX systems with a UTF-8 locale",
)


def _simulate(*args: str, cwd) -> subprocess.CompletedProcess:
    """`eventsim simulate` in its own process: a segfault must not end the test run."""
    return subprocess.run(
        [sys.executable, "-m", "eventsim", "simulate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


# `eventsim simulate` with each of {argvs} in turn, in one process: prints each one's status
_SIMULATE_EACH = """
from eventsim.cli import main

for argv in {argvs!r}:
    print(f"exit status {{main(argv)}}", flush=True)
"""


def _image(path, shift: int = 0) -> None:
    img = np.zeros((24, 32, 3), np.uint8)
    img[6:18, 8 + shift : 20 + shift] = 200
    assert cv2.imencode(".png", img)[0]
    with open(path, "wb") as fh:
        fh.write(cv2.imencode(".png", img)[1].tobytes())


def _events(path) -> int:
    with open_events(path) as r:
        assert r.sensor_size == (32, 24)
        return len(r)


@needs_bytes_names
def test_images_whose_names_are_not_utf8_are_read(tmp_path):
    # OpenCV's imread killed the process (exit 139) on such a name: --image, --pair, a folder
    _image(tmp_path / f"{_BAD}.png")
    _image(tmp_path / f"{_BAD}2.png", shift=3)
    folder = tmp_path / f"{_BAD}-frames"
    folder.mkdir()
    for i in range(3):
        _image(folder / f"{i}{_BAD}.png", shift=2 * i)
    runs = {
        "image": ["--image", f"{_BAD}.png", "--duration-ms", "20"],
        "pair": ["--pair", f"{_BAD}.png", f"{_BAD}2.png"],
        "folder": [str(folder.name), "--fps", "30"],
    }
    argvs = [["simulate", *args, "-o", f"{kind}.h5", "-q"] for kind, args in runs.items()]
    # one process for the three (each start-up imports torch): a crash still ends only it, and
    # the statuses printed so far say which run it was
    proc = subprocess.run(
        [sys.executable, "-c", _SIMULATE_EACH.format(argvs=argvs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    statuses = [ln for ln in proc.stdout.splitlines() if ln.startswith("exit status ")]
    for kind, status in zip(runs, statuses):
        assert status == "exit status 0", (kind, status, proc.stderr[-2000:])
    assert (proc.returncode, len(statuses)) == (0, len(runs)), (statuses, proc.stderr[-2000:])
    for kind in runs:
        assert _events(tmp_path / f"{kind}.h5") > 0, kind


@needs_bytes_names
def test_a_video_whose_name_is_not_utf8_is_read(tmp_path):
    # OpenCV's VideoCapture (and VideoWriter) killed the process on such a name
    frames = np.zeros((6, 24, 32, 3), np.uint8)
    for i in range(6):
        frames[i, 6:18, 4 + 3 * i : 14 + 3 * i] = 220
    code = (
        "import sys, numpy as np\n"
        "from eventsim.simulator.synthetic import write_video\n"
        "frames = np.load(sys.argv[1])\n"
        "write_video(sys.argv[2], frames, fps=30)\n"
    )
    np.save(tmp_path / "frames.npy", frames)
    name = f"{_BAD}.mp4"
    written = f"{_BAD}-written.mp4"
    made = subprocess.run(
        [sys.executable, "-c", code, "frames.npy", written],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert made.returncode == 0, (made.returncode, made.stderr[-2000:])
    assert (tmp_path / written).stat().st_size > 0
    write_video(tmp_path / "plain.mp4", frames, fps=30)
    os.rename(tmp_path / "plain.mp4", tmp_path / name)
    out = _simulate(name, "-o", "video.h5", "-q", cwd=tmp_path)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert _events(tmp_path / "video.h5") > 0
    # and the library reads it in process
    from eventsim.simulator.sources import VideoSource

    source = VideoSource(tmp_path / name)
    assert source.sensor_size == (32, 24) and len(list(source)) == 6


@needs_bytes_names
def test_an_unreadable_image_with_such_a_name_is_one_line(tmp_path):
    (tmp_path / f"{_BAD}.png").write_bytes(b"not an image")
    out = _simulate("--image", f"{_BAD}.png", "-o", "x.h5", cwd=tmp_path)
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    one_line(out.stderr, "cannot be read", "bad\\udcff.png")


def test_write_video_still_writes_plain_names(tmp_path):
    path = write_video(tmp_path / "plain.mp4", np.zeros((3, 16, 16, 3), np.uint8), fps=10)
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened() and cap.read()[0]
    finally:
        cap.release()


@needs_bytes_names
def test_an_output_whose_name_is_not_utf8_is_named_escaped(tmp_path):
    # a UTF-8 locale's stdout is strict (only the C locale's escapes surrogates): the 'wrote'
    # line failed with an internal error after the output was written
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    args = ["--synthetic", "moving-shapes", "--duration-ms", "50", "--sensor-size", "32x24"]
    out = subprocess.run(
        [sys.executable, "-m", "eventsim", "simulate", *args, "-q", "-o", f"{_BAD}.h5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.startswith("wrote bad\\udcff.h5: "), out.stdout
    assert _events(tmp_path / f"{_BAD}.h5") > 0


# -- progress bars -------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _shapes(tmp_path, name: str, *flags: str) -> list[str]:
    clip = ["--synthetic", "moving-shapes", "--duration-ms", "50", "--sensor-size", "32x24"]
    return [*clip, *flags, "-o", str(tmp_path / name)]


def test_simulate_draws_its_bar_on_a_terminal_only(tmp_path, capsys, monkeypatch):
    # like every other command: it drew its bar into logs and pipes unless given -q
    assert simulate_main(_shapes(tmp_path, "pipe.h5")) == 0
    assert "simulate" not in capsys.readouterr().err
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert simulate_main(_shapes(tmp_path, "tty.h5")) == 0
    assert "simulate:" in terminal.getvalue() and "frame" in terminal.getvalue()


@pytest.mark.parametrize("flag", ["--no-progress", "-q", "--quiet"])
def test_no_progress_and_its_old_spelling_hide_the_bar(tmp_path, capsys, monkeypatch, flag):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert simulate_main(_shapes(tmp_path, "x.h5", flag)) == 0
    assert terminal.getvalue() == ""
    assert capsys.readouterr().out.startswith("wrote ")


# -- the sensor's memory -------------------------------------------------------------------------


@pytest.fixture
def little_memory(monkeypatch):
    """A machine with 1 MiB to spare, every estimate checked."""
    from eventsim.simulator import core

    monkeypatch.setattr(core, "_available_memory", lambda: 1 << 20)
    monkeypatch.setattr(core, "_UNCHECKED_BYTES", 0)


def test_a_sensor_beyond_the_memory_is_refused_before_the_run(tmp_path, capsys, little_memory):
    # 32767x32767 (86 GB of state) ran until the machine ran out of memory
    argv = ["--image", str(tmp_path / "a.png"), "--sensor-size", "1000x800", "-o"]
    _image(tmp_path / "a.png")
    assert simulate_main([*argv, str(tmp_path / "x.h5")]) == 1
    line = one_line(capsys.readouterr().err, "sensor size 1000x800", "800,000 pixels")
    assert "61.0 MiB of memory" in line and "80 bytes a pixel" in line
    assert "more than the 1.0 MiB available" in line
    assert not (tmp_path / "x.h5").exists()
    # the leak's state is counted
    assert simulate_main([*argv, str(tmp_path / "x.h5"), "--preset", "noisy"]) == 1
    one_line(capsys.readouterr().err, "128 bytes a pixel with the leak on")


def test_a_sensor_size_taken_from_the_input_is_checked(tmp_path, little_memory):
    from eventsim.errors import ParameterError
    from eventsim.simulator import EventSimulator, simulate
    from eventsim.simulator.sources import ArraySource

    frames = np.zeros((3, 480, 640), np.uint8)
    with pytest.raises(ParameterError, match=r"sensor size 640x480 \(307,200 pixels\)"):
        simulate(ArraySource(frames, fps=30))
    with pytest.raises(ParameterError, match=r"more than the 1\.0 MiB available"):
        EventSimulator(DVSParams(), (640, 480))


def test_a_sensor_that_fits_is_not_refused(tmp_path, monkeypatch):
    from eventsim.simulator import core

    monkeypatch.setattr(core, "_UNCHECKED_BYTES", 0)
    monkeypatch.setattr(core, "_available_memory", lambda: 80 * 640 * 480)
    core.check_memory((640, 480), DVSParams())
    monkeypatch.setattr(core, "_available_memory", lambda: None)  # cannot tell: not refused
    core.check_memory((32767, 32767), DVSParams())


def test_a_gpu_run_is_checked_against_the_gpu(monkeypatch):
    torch = pytest.importorskip("torch")
    from eventsim.errors import ParameterError
    from eventsim.simulator import core

    # the state lives on the GPU; the host holds the frames and draws the thresholds
    monkeypatch.setattr(core, "_resolve_device", lambda device: torch.device("cuda", 0))
    monkeypatch.setattr(core, "_UNCHECKED_BYTES", 0)
    monkeypatch.setattr(core, "_available_memory", lambda: 40 * 1000 * 1000)
    monkeypatch.setattr(core, "_gpu_memory", lambda device: 72 * 1000 * 1000)
    core.check_memory((1000, 1000), DVSParams(), "cuda")
    monkeypatch.setattr(core, "_gpu_memory", lambda device: 71 * 1000 * 1000)
    with pytest.raises(ParameterError, match=r"needs about 68\.7 MiB on cuda:0 for"):
        core.check_memory((1000, 1000), DVSParams(), "cuda")
    monkeypatch.setattr(core, "_available_memory", lambda: 39 * 1000 * 1000)
    monkeypatch.setattr(core, "_gpu_memory", lambda device: 72 * 1000 * 1000)
    with pytest.raises(ParameterError, match=r"38\.1 MiB of memory"):
        core.check_memory((1000, 1000), DVSParams(), "cuda")


def test_the_largest_sensor_is_refused_on_this_machine():
    from eventsim.errors import ParameterError
    from eventsim.simulator.core import _available_memory, check_memory

    have = _available_memory()
    if have is None or have > 80 * 2**30:
        pytest.skip("this machine may hold a 32767x32767 sensor's 80 GiB of state")
    with pytest.raises(ParameterError, match="sensor size 32767x32767"):
        check_memory((32767, 32767), DVSParams())


@needs_bytes_names
def test_render_writes_a_video_whose_name_or_folder_is_not_utf8(tmp_path):
    # OpenCV's VideoWriter (and the VideoCapture that checks the result) killed the process
    _image(tmp_path / "a.png")
    made = _simulate("--image", "a.png", "--duration-ms", "20", "-o", "ev.h5", "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    (tmp_path / _BAD).mkdir()
    for out in (f"{_BAD}.mp4", os.path.join(_BAD, "clip.mp4")):
        run = subprocess.run(
            [sys.executable, "-m", "eventsim", "render", "ev.h5", "-o", out, "--window-ms", "5"],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=tmp_path,
            timeout=300,
        )
        assert run.returncode == 0, (out, run.returncode, run.stderr[-2000:])
        target = tmp_path / out
        assert target.stat().st_size > 0
        linked = tmp_path / "plain.mp4"
        linked.unlink(missing_ok=True)
        linked.symlink_to(target)
        capture = cv2.VideoCapture(str(linked))
        assert capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 3, out
        capture.release()


def test_big_endian_uint16_frames_are_16_bit_like_native_ones():
    # '>u2' is not equal to np.uint16: big-endian 16-bit frames ran as DN, 257x too bright
    from eventsim.simulator.sources import ArraySource, PairSource

    native = np.full((2, 4, 4), 65535, np.uint16)
    for frames in (native, native.astype(">u2")):
        frame, _ = next(iter(ArraySource(frames, fps=100)))
        assert frame.max() == 255.0, frames.dtype
    pair = PairSource(native[0].astype(">u2"), native[1], interval_ms=10)
    first, _ = next(iter(pair))
    assert first.max() == 255.0


def test_a_premultiplied_grey_alpha_tiff_that_goes_to_pillow_gives_its_grey(monkeypatch):
    # Pillow cannot convert 'La' (premultiplied grey) to 'L': a ValueError escaped decode_image
    # as an internal error for such a TIFF in a compression OpenCV lacks; OpenCV is made to
    # lack this one's. The grey is divided by its alpha (tests/test_images_review6.py)
    pil = pytest.importorskip("PIL.Image")
    import io
    import struct

    from eventsim.simulator import sources

    monkeypatch.setattr(sources, "_imdecode", lambda buf, quiet: None)
    monkeypatch.setattr(sources, "_OPENCV_TIFF_CODECS", frozenset())
    la = np.zeros((3, 5, 2), np.uint8)
    la[..., 0] = np.arange(15, dtype=np.uint8).reshape(3, 5) * 10
    la[..., 1] = 128
    out = io.BytesIO()
    pil.fromarray(la, "LA").save(out, "TIFF")
    unassociated = struct.pack("<HHIHH", 338, 3, 1, 2, 0)
    assert out.getvalue().count(unassociated) == 1
    data = out.getvalue().replace(unassociated, struct.pack("<HHIHH", 338, 3, 1, 1, 0))
    divided = np.minimum(la[..., 0].astype(np.int64) * 255 // 128, 255).astype(np.uint8)
    on_white = sources.composite_on_white(divided, la[..., 1])  # since round 11
    np.testing.assert_array_equal(sources.decode_image(data, "premultiplied.tif"), on_white)
