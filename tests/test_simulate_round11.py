"""Round 11 of eventsim simulate, from a newcomer's walkthrough:

- an input larger than any event camera (a 12 MP phone photo) was simulated at its own size,
  for minutes, without a word: one warning now names its size and --camera / --sensor-size;
- a run that wrote no events (--duration-ms 0.3, seconds typed as milliseconds) said only
  "0 events": a warning now names the likely cause;
- an image motion at a given --fps moving it more than 1 px a frame (--fps 30: 2.9 px) was
  taken without a word, as was a duration too short for the highest default rate.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main


def _image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> str:
    """A blurred random texture: edges everywhere, so any motion makes events."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((height, width)), (0, 0), 1.5)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    cv2.imwrite(str(path), img.astype(np.uint8))
    return str(path)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning:" in line]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["simulate", "-q", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --- an input larger than any event camera


@pytest.fixture
def small_camera(monkeypatch):
    """The largest event camera lowered to 32x24, so a 64x48 input is 'larger' and runs fast."""
    from eventsim.cli import simulate

    monkeypatch.setattr(simulate, "LARGEST_EVENT_CAMERA", (32, 24))


def _inputs(tmp_path: Path) -> dict[str, list[str]]:
    a, b = _image(tmp_path / "a.png"), _image(tmp_path / "b.png", seed=1)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        _image(folder / f"{i:03d}.png", seed=i)
    return {
        "image": ["--image", a],
        "image INPUT": [a],
        "pair": ["--pair", a, b],
        "frame folder": [str(folder), "--fps", "100"],
    }


@pytest.mark.parametrize("kind", ["image", "image INPUT", "pair", "frame folder"])
def test_an_input_larger_than_any_event_camera_is_named_once(tmp_path, capsys, small_camera, kind):
    out = tmp_path / "out.h5"
    rc, stdout, err = _run(capsys, *_inputs(tmp_path)[kind], "-o", str(out))
    assert rc == 0 and out.is_file()  # said, not refused
    assert "(64x48" in stdout
    (line,) = [x for x in _warnings(err) if "larger than any event camera" in x]
    assert line.startswith("eventsim simulate: warning: the input is 64x48 (3,072 pixels), ")
    assert "(at most about 32x24), and is simulated at that size" in line
    assert "--camera NAME (e.g. gen4, 1280x720) or --sensor-size WxH" in line
    assert "--sensor-size 64x48 to keep this one" in line


@pytest.mark.parametrize("given", [["--sensor-size", "64x48"], ["--camera", "dvs128"]])
def test_a_size_given_explicitly_is_not_warned_as_the_inputs(tmp_path, capsys, small_camera, given):
    rc, _, err = _run(
        capsys, "--image", _image(tmp_path / "a.png"), *given, "-o", str(tmp_path / "x.h5")
    )
    assert rc == 0 and "larger than any event camera" not in err


def test_the_threshold_is_the_largest_event_camera(tmp_path, capsys):
    from eventsim.cli import simulate
    from eventsim.simulator.params import CAMERAS

    # no preset is larger than the camera the warning names
    assert all(w * h <= 1280 * 960 for w, h in CAMERAS.values())
    assert simulate.LARGEST_EVENT_CAMERA == (1280, 960)
    rc, _, err = _run(capsys, "--image", _image(tmp_path / "a.png"), "-o", str(tmp_path / "a.h5"))
    assert rc == 0 and _warnings(err) == []


# --- fast image motion


def test_a_given_fps_moving_the_image_over_1_px_a_frame_is_named(tmp_path, capsys):
    from eventsim.simulator.sources import ImageMotionSource

    img = _image(tmp_path / "a.png")
    # the default amplitude of a 346x260 sensor over the default 300 ms
    argv = ["--image", img, "--amplitude-px", "8.7", "--fps", "30", "-o", str(tmp_path / "a.h5")]
    rc, _, err = _run(capsys, *argv)
    assert rc == 0
    (line,) = _warnings(err)
    assert line.startswith(
        "eventsim simulate: warning: --fps 30 moves the image up to 2.9 px a frame (10 frames; "
        "more than 1 px, so its events bunch at the frame times); leave --fps out (the default "
        "keeps it within 0.5 px) or pass --fps "
    )
    need = float(line.rsplit("--fps ", 1)[1].split()[0])
    # the rate it names does keep the motion within 0.5 px, and so does the default
    for fps in (need, None):
        assert ImageMotionSource(img, amplitude_px=8.7, fps=fps).max_step_px <= 0.5


def test_a_given_fps_within_1_px_a_frame_says_nothing(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    rc, _, err = _run(capsys, "--image", img, "--fps", "30", "-o", str(tmp_path / "a.h5"))
    # the default 2 px amplitude of a 64x48 image moves 0.67 px a frame at 30 fps
    assert rc == 0 and _warnings(err) == []


def test_a_duration_too_short_for_the_highest_default_rate_is_named(tmp_path, capsys):
    argv = ["--image", _image(tmp_path / "a.png"), "--amplitude-px", "8.7", "--duration-ms", "3"]
    rc, _, err = _run(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert rc == 0
    (line,) = _warnings(err)
    assert line == (
        "eventsim simulate: warning: the saccade of 8.7 px over --duration-ms 3 moves the image "
        "up to 1.7 px a frame (16 frames; more than 1 px, so its events bunch at the frame "
        "times); give a longer --duration-ms (it is in milliseconds) or a smaller "
        "--amplitude-px, or --fps 17667 or more"
    )


def test_upsample_flow_is_not_warned_of_fast_motion(tmp_path, capsys):
    argv = ["--image", _image(tmp_path / "a.png"), "--amplitude-px", "8.7", "--fps", "30"]
    rc, _, err = _run(capsys, *argv, "--upsample", "flow", "-o", str(tmp_path / "a.h5"))
    assert rc == 0 and "a frame" not in err


# --- no events


def test_seconds_typed_as_milliseconds_are_named(tmp_path, capsys):
    # a saccade takes at least its 4 corners (98a5b3f), so 0.3 ms writes events: too fast ones,
    # which the motion warning names with the unit of --duration-ms
    out = tmp_path / "a.h5"
    rc, stdout, err = _run(
        capsys, "--image", _image(tmp_path / "a.png"), "--duration-ms", "0.3", "-o", str(out)
    )
    assert rc == 0 and out.is_file() and " events from 4 frames" in stdout
    assert ": 0 events" not in stdout
    assert _warnings(err) == [
        "eventsim simulate: warning: the saccade of 2 px over --duration-ms 0.3 moves the image "
        "up to 2.0 px a frame (4 frames; more than 1 px, so its events bunch at the frame "
        "times); give a longer --duration-ms (it is in milliseconds) or a smaller "
        "--amplitude-px, or --fps 40000 or more"
    ]


def test_no_events_names_the_likely_cause(tmp_path, capsys):
    img = _image(tmp_path / "a.png")
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((48, 64), 128, np.uint8))
    folder = tmp_path / "still"
    folder.mkdir()
    for i in range(3):
        _image(folder / f"{i:03d}.png")
    other = _image(tmp_path / "b.png", seed=1)
    cases = {
        "the image may have too little contrast for its motion": ["--image", str(flat)],
        "the two images may be the same, or too alike": ["--pair", img, img],
        "the input may be still": [str(folder), "--fps", "100"],
        "the input spans 0.01 ms, less than the photoreceptor's time constant (cutoff_hz 30: "
        "5.31 ms at full brightness), so its response barely moves": [
            "--pair",
            img,
            other,
            "--interval-ms",
            "0.01",
            "--set",
            "cutoff_hz=30",
        ],
    }
    for i, (cause, argv) in enumerate(cases.items()):
        rc, stdout, err = _run(capsys, *argv, "-o", str(tmp_path / f"{i}.h5"))
        assert rc == 0 and ": 0 events from" in stdout
        (line,) = _warnings(err)
        assert line.startswith("eventsim simulate: warning: no events: ")
        assert line.endswith(f"between frames; {cause}")


def test_a_run_with_events_says_nothing_of_them(tmp_path, capsys):
    img, other = _image(tmp_path / "a.png"), _image(tmp_path / "b.png", seed=1)
    rc, _, err = _run(capsys, "--pair", img, other, "-o", str(tmp_path / "a.h5"))
    assert rc == 0 and _warnings(err) == []
