"""Round 12 polish of the CLI's input and option messages (each test failed before its fix):

- what an event file is was known three times (epvlm run --image, simulate's INPUT check, the
  EventReader's sniffing): epvlm's list missed .hdf, .he5, .txt and .csv, and simulate refused
  .es/.evt on the suffix alone though those can be videos; eventsim.io.formats.sniff_event_file
  is now the one place;
- our own options typed with underscores (--sensor_size, --max_new_tokens) got a bare
  "unrecognized arguments", with no "did you mean";
- a missing INPUT named .h5 was a missing "video";
- VideoSource of an event file called it a corrupt video;
- 'simulate --image a.png b.png' was told "give exactly one input", not --pair;
- the fast-motion warning did not say a walk's turns between frames are lost, and
  --upsample flow (straight lines between frames) silenced it even where the path turns.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from epvlm.cli import _read_image
from epvlm.cli import main as epvlm_main
from eventsim.cli import main
from eventsim.errors import InputError
from eventsim.simulator.sources import ImageMotionSource, VideoSource

DATA = Path(__file__).parent / "data"


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["simulate", "-q", *argv])
    return rc, capsys.readouterr().err


def _image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((height, width)), (0, 0), 1.5)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    cv2.imwrite(str(path), img.astype(np.uint8))
    return str(path)


# --- one source of truth for event files


def test_sniff_event_file_tells_by_contents_then_suffix(tmp_path):
    from eventsim.io.formats import sniff_event_file

    h5 = tmp_path / "clip.bin"
    shutil.copy(DATA / "v2e.h5", h5)
    npy = tmp_path / "clip.mp4"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros(3))
    assert sniff_event_file(h5) == ("an HDF5 file", "hdf5", True)
    assert sniff_event_file(npy) == ("a numpy .npy array", "npy", True)
    assert sniff_event_file(tmp_path / "gone.he5") == ("an HDF5 file (.he5)", "hdf5", False)
    assert sniff_event_file(tmp_path / "gone.csv").layout == "csv"
    assert sniff_event_file(tmp_path / "gone.es").layout == "faery"
    assert sniff_event_file(tmp_path / "gone.mp4") is None
    # read=False: the name alone, whatever the file holds
    assert sniff_event_file(h5, read=False) is None


@pytest.mark.parametrize("name", ["rec.hdf", "rec.he5", "rec.txt", "rec.csv"])
def test_epvlm_image_named_as_any_event_file_is_told_to_pass_events(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"0.001 1 2 1\n" * 4)
    suffix = Path(name).suffix
    with pytest.raises(InputError, match=rf"named as an event file \({suffix}\); pass it as"):
        _read_image(str(path))


def test_epvlm_image_holding_hdf5_under_another_name_is_named(tmp_path):
    path = tmp_path / "frame.bin"
    shutil.copy(DATA / "v2e.h5", path)
    with pytest.raises(InputError, match=r"it is an HDF5 file; pass it as --events"):
        _read_image(str(path))


@pytest.mark.parametrize("suffix", [".es", ".evt"])
def test_simulate_es_and_evt_are_judged_after_opencv_as_dat_is(tmp_path, capsys, suffix):
    path = tmp_path / f"rec{suffix}"
    path.write_bytes(b"% header\n" + bytes(64))
    rc, err = _run(capsys, str(path), "-o", str(tmp_path / "o.h5"))
    assert rc == 1
    assert f"cannot be opened as a video: a {suffix} file is likely an event file" in err


# --- options typed with underscores


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["x.mp4", "-o", "y.h5", "--sensor_size", "346x260"], "did you mean --sensor-size?"),
        (["x.mp4", "-o", "y.h5", "--sensor_size=346x260"], "did you mean --sensor-size=346x260?"),
        (["x.mp4", "-o", "y.h5", "--sensor-sise", "346x260"], "did you mean --sensor-size?"),
    ],
)
def test_simulate_option_typed_with_underscores_is_named(capsys, argv, hint):
    rc, err = _run(capsys, *argv)
    assert rc == 2
    assert "unrecognized arguments: " in err and err.rstrip().endswith(hint)


def test_v2e_hints_still_come_first(capsys):
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", "--pos_thres", "0.3")
    assert rc == 2 and "v2e's option; use --set pos_threshold=0.3" in err
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", "--refractory_period_us", "100")
    assert rc == 2 and "--set refractory_period_us=100" in err


def test_a_word_like_no_option_gets_no_guess(capsys):
    rc, err = _run(capsys, "x.mp4", "-o", "y.h5", "--zzzz")
    assert rc == 2 and "did you mean" not in err


def test_other_commands_name_the_option_too(tmp_path, capsys):
    rc = main(["render", "x.h5", "-o", str(tmp_path / "y.png"), "--end_ms", "5"])
    assert rc == 2 and "did you mean --end-ms?" in capsys.readouterr().err


def test_epvlm_option_typed_with_underscores_is_named(capsys):
    rc = epvlm_main(["eval", "--model", "m", "--dataset", "d", "--max_new_tokens", "8"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unrecognized arguments: --max_new_tokens 8; did you mean --max-new-tokens?" in err
    # a required option missing is said first; the mistyped one is named with it
    rc = epvlm_main(["eval", "--max_new_tokens", "8"])
    err = capsys.readouterr().err
    assert rc == 2 and "arguments are required" in err and "--max-new-tokens?" in err


# --- a missing INPUT named as an event file


def test_missing_input_named_h5_is_no_video(tmp_path, capsys):
    path = tmp_path / "missing.h5"
    rc, err = _run(capsys, str(path), "-o", str(tmp_path / "o.h5"))
    assert rc == 1
    assert f"'{path}' does not exist (and a .h5 file holds events: simulate takes" in err
    assert "video" in err and f"video '{path}'" not in err


# --- VideoSource of an event file


def test_videosource_names_an_event_file(tmp_path):
    path = tmp_path / "clip.h5"
    shutil.copy(DATA / "v2e.h5", path)
    with pytest.raises(InputError) as info:
        VideoSource(path)
    message = str(info.value)
    assert message.startswith(f"'{path}' is an HDF5 file, an event file, not a video")
    assert "corrupt" not in message and "eventsim.io.open_events" in message


def test_videosource_of_a_damaged_video_keeps_its_words(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(100))
    with pytest.raises(InputError) as info:
        VideoSource(path)
    assert str(info.value) == (
        f"video '{path}' cannot be opened (corrupt or an unsupported format)"
    )


# --- --image with a second image


def test_image_with_a_second_image_names_pair(tmp_path, capsys):
    a, b = _image(tmp_path / "a.png"), _image(tmp_path / "b.png")
    rc, err = _run(capsys, "--image", a, b, "-o", str(tmp_path / "o.h5"))
    assert rc == 1
    assert (
        "--image is one image; two images --interval-ms apart are --pair FIRST SECOND, "
        f"e.g. --pair {a} {b}"
    ) in err


# --- fast motion


def test_fast_walk_warning_says_turns_are_missed(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    argv = ["--image", img, "--motion", "random-walk", "--fps", "30"]
    rc, err = _run(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert rc == 0
    assert "so its events bunch at the frame times and miss where its path turns" in err


def test_flow_warns_where_the_path_turns_between_frames(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    source = ImageMotionSource(img, "random-walk", fps=10)
    assert source.max_cut_px > 1.0
    argv = ["--image", img, "--motion", "random-walk", "--fps", "10", "--upsample", "flow"]
    rc, err = _run(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert rc == 0
    assert "longer than the straight line --upsample flow draws between two frames" in err
    assert "miss where the path turns" in err


def test_flow_of_a_pan_or_a_slow_walk_draws_no_warning(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    assert ImageMotionSource(img, "pan", fps=30).max_cut_px == 0.0
    for motion, fps in (("pan", "30"), ("random-walk", "2000")):
        argv = ["--image", img, "--motion", motion, "--fps", fps, "--upsample", "flow"]
        rc, err = _run(capsys, *argv, "--force", "-o", str(tmp_path / "a.h5"))
        assert rc == 0 and "warning" not in err, (motion, err)
