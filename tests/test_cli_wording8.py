"""CLI wording 8: `eventsim simulate` names its options as typed on the command line.

- ``--help`` said ``--fit`` fits "by centre crop or stretch"; its choices are crop and resize.
- ``--set pos_threshold=0`` said "pos_threshold = 0.0; expected ...": the field in Python's
  words, with a value the user did not type (``--set refractory_period_us=1e300`` printed a
  300-digit integer). Now "--set pos_threshold=0; expected ..."; library callers still read
  "pos_threshold = 0.0" (`ParameterValueError`, an `ArgumentValueError`).
- A refused ``--fps``, ``--duration-ms`` or ``--interval-ms`` reached the command line in the
  library's words: "fps = 1000000000.0; expected ...", "duration_ms = 0.0001 at 5000 fps ...",
  "interval_ms = 1e-09; expected 0.001 ... to 9e+15" (which also contradicted the command's own
  limit, 2,147,483,648 ms). They name the option now, and the sources' rate the user did not
  give is no longer named.
- ``--synthetic --fps 1e-9`` said "--duration-ms 1000 at --fps 1e-09 ...", a --duration-ms the
  user did not give.
- A frame folder at ``--fps 1e-9`` was simulated and then refused by the file writer, whose
  message ("an event at t = ... us is 2.22e+04 days after the first") named no option.
- A frame folder without times said "pass fps (--fps) or timestamps_file (--timestamps
  FILE ...)", and times refused as not seconds "pass allow_long_gaps=True (--force)": Python's
  keywords beside the options. A folder whose times span more than an event file can hold
  (one long gap) was also refused only by the writer, after the run.
- ``--synthetic --sensor-size 8x20`` said "clip size 8x20 (width x height) is too small; ...
  (eventsim simulate --synthetic: --sensor-size)".
"""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from eventsim.cli.simulate import build_parser
from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import ArgumentValueError, InputError, ParameterError

from cli_checks import one_line


@pytest.fixture
def names(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (12, 16), dtype=np.uint8))
    return {"FOLDER": str(folder), "A": str(folder / "0.png"), "B": str(folder / "1.png")}


def _simulate(tmp_path, capfd, names, *argv: str) -> str:
    out = tmp_path / "x.h5"
    argv = tuple(names.get(a, a) for a in argv)
    rc = simulate_main([*argv, "-o", str(out), "-q"])
    err = capfd.readouterr().err
    assert rc == 1, err
    assert not out.exists()
    return one_line(err)


def test_fit_help_names_its_choices():
    text = build_parser().format_help()
    # the option's entry, not the usage line
    fit = text[text.index("  --fit {") : text.index("  --preset {")]
    assert "stretch" not in fit
    assert "crop" in fit and "resize" in fit


# -- --set FIELD=VALUE ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "said"),
    [
        ("pos_threshold=0", "--set pos_threshold=0; expected a finite value > 0"),
        ("neg_threshold=1e-9", "--set neg_threshold=1e-9; expected at least 0.01"),
        ("threshold_sigma=nan", "--set threshold_sigma=nan; expected a finite value >= 0"),
        ("log_eps=5", "--set log_eps=5; expected at most 1"),
        ("leak_rate_hz=1e9", "--set leak_rate_hz=1e9; expected at most 1e+06 Hz"),
        ("refractory_period_us=0.5", "--set refractory_period_us=0.5; expected an integer"),
        ("refractory_period_us=1e300", "--set refractory_period_us=1e300; expected at most"),
        ("max_upsample_factor=1e300", "--set max_upsample_factor=1e300; expected an integer"),
        ("hot_pixel_fraction=2", "--set hot_pixel_fraction=2; expected 0..1"),
        ("log_curve=cubic", "--set log_curve=cubic; expected one of ln, linlog"),
        ("cutoff_hz=abc", "--set cutoff_hz=abc; expected a number"),
        ("cutoff_hz=", "--set cutoff_hz=; expected a number"),
        (" pos_threshold = -1 ", "--set pos_threshold=-1; expected a finite value > 0"),
        ("pos_threshold=a b", "--set 'pos_threshold=a b'; expected a number"),
        ("bogus=1", "--set bogus=1: DVSParams has no field bogus; valid fields: log_curve"),
    ],
)
def test_set_names_the_assignment_as_typed(tmp_path, capfd, names, assignment, said):
    line = _simulate(tmp_path, capfd, names, "--synthetic", "moving-shapes", "--set", assignment)
    assert said in line
    assert " = " not in line and len(line) < 400


def test_library_callers_keep_python_words():
    from eventsim.simulator import DVSParams
    from eventsim.simulator.params import ParameterValueError

    with pytest.raises(ParameterValueError, match=r"^pos_threshold = 0\.0; expected") as caught:
        DVSParams(pos_threshold=0.0)
    assert isinstance(caught.value, ArgumentValueError)
    assert (caught.value.parameter, caught.value.value) == ("pos_threshold", 0.0)
    with pytest.raises(ParameterError, match=r"^leak_rate_hz = 1e\+09 Hz; expected at most"):
        DVSParams(leak_rate_hz=1e9)
    with pytest.raises(ParameterError, match=r"^unknown parameter 'bogus'; valid fields"):
        DVSParams().with_overrides({"bogus": "1"})
    # a build worker's error reaches the parent pickled
    again = pickle.loads(pickle.dumps(caught.value))
    assert (str(again), again.parameter, again.rest) == (
        str(caught.value),
        "pos_threshold",
        caught.value.rest,
    )


# -- frame times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said", "not_said"),
    [
        (
            ["FOLDER", "--fps", "1e9"],
            "--fps 1e+09; expected a value > 0 and at most 1e+06",
            "fps =",
        ),
        (["--image", "A", "--fps", "3e6"], "--fps 3e+06; expected a value > 0", "fps ="),
        (
            ["--image", "A", "--duration-ms", "0.0001"],
            "--duration-ms 0.0001 puts the first and last frames less than 1 us apart",
            "5000 fps",
        ),
        (
            ["--pair", "A", "B", "--interval-ms", "1e-9"],
            "--interval-ms 1e-09 is shorter than 1 us (0.001 ms), the time resolution of events",
            "9e+15",
        ),
        (
            ["--pair", "A", "B", "--interval-ms", "0.0004"],
            "--interval-ms 0.0004 is shorter than 1 us",
            "interval_ms",
        ),
        (
            ["--synthetic", "moving-shapes", "--fps", "2e6", "--duration-ms", "0.01"],
            "--fps 2e+06; expected",
            "fps =",
        ),
        (["FOLDER", "--fps", "1e-13"], "--fps 1e-13 puts frame 3 at 2e+13 s", "fps ="),
        (["--synthetic", "moving-shapes", "--fps", "1e-300"], "--fps 1e-300 puts frame 2", "fps ="),
        (
            ["--synthetic", "moving-shapes", "--fps", "1e-9"],
            "1000 ms (the default --duration-ms) at --fps 1e-09 is shorter than one frame",
            "--duration-ms 1000",
        ),
        (
            ["--synthetic", "moving-shapes", "--duration-ms", "1e-9"],
            "--duration-ms 1e-09 at 60 fps (the default) is shorter than one frame interval",
            "1e-09 ms",
        ),
        (
            ["FOLDER", "--fps", "1e-9"],
            "--fps 1e-09 puts the first and last of 3 frames 2e+09 s apart, more than an event "
            "file can span (2,147,483,648 ms, 24.9 days)",
            "ms_to_idx",
        ),
        (
            ["FOLDER"],
            "has no timestamps.txt; pass --fps or --timestamps FILE (one time in seconds per "
            "image)",
            "timestamps_file",
        ),
    ],
)
def test_frame_time_options_are_named_as_typed(tmp_path, capfd, names, argv, said, not_said):
    line = _simulate(tmp_path, capfd, names, *argv, "--sensor-size", "16x16")
    assert said in line
    assert not_said not in line


def test_frame_times_beyond_an_event_file_are_refused_before_the_run(tmp_path, capfd, names):
    folder = tmp_path / "five"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((12, 16), 40 * i, np.uint8))
    # one long gap, refused without --allow-long-gaps since helper 335 (only a median gap was)
    times = tmp_path / "times.txt"
    times.write_text("0\n0.1\n0.2\n0.3\n3000000\n")
    line = _simulate(
        tmp_path, capfd, names, str(folder), "--timestamps", str(times), "--allow-long-gaps"
    )
    assert f"the times in {str(times)!r} put the first and last of 5 frames 3e+06 s apart" in line
    assert "ms_to_idx" not in line


def test_times_that_look_like_microseconds_name_the_flag(tmp_path, capfd, names):
    times = tmp_path / "times.txt"
    times.write_text("0\n2000\n4000\n")
    line = _simulate(tmp_path, capfd, names, "FOLDER", "--timestamps", str(times))
    assert line.endswith("if they are seconds, pass --allow-long-gaps"), line
    assert "allow_long_gaps" not in line


def test_a_synthetic_clip_too_small_names_sensor_size(tmp_path, capfd, names):
    line = _simulate(
        tmp_path, capfd, names, "--synthetic", "moving-shapes", "--sensor-size", "8x20"
    )
    assert "--sensor-size 8x20 is too small for --synthetic; expected at least 16x16" in line
    assert "clip size" not in line


def test_library_sources_keep_python_words(names):
    from eventsim.simulator.sources import FolderSource, ImageMotionSource, PairSource

    image = np.zeros((4, 4), np.uint8)
    with pytest.raises(ArgumentValueError, match=r"^interval_ms = 1e-09; expected 0\.001"):
        PairSource(image, image, interval_ms=1e-9)
    with pytest.raises(
        ArgumentValueError, match=r"^duration_ms = 0\.0001 puts the first and last frames"
    ):
        ImageMotionSource(image, duration_ms=0.0001)
    with pytest.raises(ArgumentValueError, match=r"^fps = 10000000\.0; expected a value > 0"):
        ImageMotionSource(image, fps=1e7)
    with pytest.raises(InputError, match=r"has no timestamps\.txt; pass fps or timestamps_file"):
        FolderSource(names["FOLDER"])
