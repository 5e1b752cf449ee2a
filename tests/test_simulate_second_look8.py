"""Second look at `eventsim simulate` review 8.

- ``--synthetic --duration-ms 33.333 --fps 30`` was refused as shorter than one frame interval
  (33.3333 ms), though the clip stamps its frames in whole microseconds and 1/30 s is 33333 us;
  ``--duration-ms 33.3333`` was told to raise ``--fps to at least 30`` (the --fps given).
- an output folder that is a symbolic link to nothing (a drive not mounted) was called "a file
  in the way".
"""

from __future__ import annotations

import os

import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import ParameterError
from eventsim.io import open_events
from eventsim.simulator.synthetic import moving_shapes_frames


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- 1. one frame interval written to the microsecond -------------------------------------------
@pytest.mark.parametrize(
    ("fps", "duration_ms"),
    [("30", "33.333"), ("30", "33.3333"), ("60", "16.666"), ("60", "16.667"), ("29.97", "33.3667")],
)
def test_synthetic_duration_of_one_interval_to_the_microsecond_runs(
    tmp_path, capsys, fps, duration_ms
):
    out = tmp_path / "s.h5"
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--duration-ms", duration_ms,
        "--fps", fps, "--sensor-size", "32x24", "-o", out, "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    with open_events(out) as r:
        assert r.source["duration_s"] == pytest.approx(float(duration_ms) / 1e3)


def test_synthetic_frames_take_one_interval_to_the_microsecond():
    times = [t for _, t in moving_shapes_frames(32, 24, duration_s=0.033333, fps=30.0)]
    assert times == [0, 33333]


@pytest.mark.parametrize(("fps", "duration_ms"), [("30", "33.3"), ("60", "16.66"), ("1", "999")])
def test_synthetic_duration_a_microsecond_short_is_still_refused(
    tmp_path, capsys, fps, duration_ms
):
    out = tmp_path / "s.h5"
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--duration-ms", duration_ms,
        "--fps", fps, "--sensor-size", "32x24", "-o", out, "--no-progress",
    )  # fmt: skip
    assert rc == 1 and not out.exists()
    assert f"--duration-ms {duration_ms} at --fps {fps} is shorter than one frame" in err
    with pytest.raises(ParameterError, match="shorter than one frame interval"):
        next(moving_shapes_frames(32, 24, float(duration_ms) / 1e3, float(fps)))


# -- 2. an output folder linked to nothing -------------------------------------------------------
def test_output_below_a_dangling_link_names_the_link_and_its_target(tmp_path, capsys):
    link = tmp_path / "data"
    os.symlink(tmp_path / "unmounted", link)
    out = link / "s.h5"
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--duration-ms", "50",
        "--sensor-size", "32x24", "-o", out, "--no-progress",
    )  # fmt: skip
    assert rc == 1 and not (tmp_path / "unmounted").exists()
    assert err.strip() == (
        f"eventsim simulate: error: {str(link)!r} -> {str(tmp_path / 'unmounted')!r}: no such "
        "file or folder"
    )
    assert "in the way" not in err
