"""CLI review 8: `eventsim simulate` / `convert` as a v2e user drives them.

- ``simulate --synthetic --duration-ms 100 --fps 1`` made a 1 s clip: a clip is at least two
  frames 1/fps apart, so a duration shorter than one frame interval was stretched to it while
  the file recorded the duration asked for.
- ``convert IN afile/out.npy`` with ``afile`` a file read (and sorted, for text) the whole input
  and printed its notes before it found that the output could not be created.
- ``simulate --pair A B --interval-ms 1e12`` failed at writing, blaming the events' times
  ("check that the times are microseconds"), not the interval, which no event file can span.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import ParameterError
from eventsim.io import open_events
from eventsim.simulator.synthetic import moving_shapes_frames


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- 1. a synthetic clip shorter than one frame interval ---------------------------------------
def test_synthetic_duration_shorter_than_a_frame_interval_is_refused(tmp_path, capsys):
    out = tmp_path / "s.h5"
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--duration-ms", "100", "--fps", "1",
        "-o", out, "--no-progress",
    )  # fmt: skip
    assert rc == 1 and not out.exists()
    line = err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in err
    assert "--duration-ms 100" in line and "--fps 1" in line and "1000 ms" in line


def test_synthetic_frames_refuse_a_duration_under_one_frame_interval():
    with pytest.raises(ParameterError, match=r"duration_s = 0\.1 .* fps = 1\b"):
        next(moving_shapes_frames(32, 24, duration_s=0.1, fps=1.0))


def test_synthetic_duration_of_one_frame_interval_still_spans_it(tmp_path, capsys):
    # 1 s at 1 fps: two frames, 0 and 1 s, the duration asked for
    times = [t for _, t in moving_shapes_frames(32, 24, duration_s=1.0, fps=1.0)]
    assert times == [0, 1_000_000]
    out = tmp_path / "s.h5"
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--duration-ms", "1000", "--fps", "1",
        "--sensor-size", "32x24", "-o", out, "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    with open_events(out) as r:
        assert r.attrs["last_frame_us"] <= 1_000_000


# -- 2. an output below a file is refused before the input is read ------------------------------
def test_convert_refuses_an_output_below_a_file_before_reading(tmp_path, capsys, monkeypatch):
    import eventsim.io

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    # an input that is there: a missing one is named first
    (tmp_path / "in.h5").write_bytes(b"x")
    opened: list[object] = []
    monkeypatch.setattr(eventsim.io, "open_events", lambda *a, **k: opened.append(a))
    rc, _, err = run(capsys, "convert", tmp_path / "in.h5", blocker / "out.npy")
    assert rc == 1 and opened == []
    assert err.strip() == (
        f"eventsim convert: error: {str(blocker)!r}: a file is in the way (a part of the path "
        "exists and is not a folder)"
    )
    assert blocker.read_text() == "x"


def test_simulate_refuses_an_output_two_levels_below_a_file(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((24, 32), 128, np.uint8))
    rc, _, err = run(capsys, "simulate", "--image", img, "-o", blocker / "sub" / "x.h5")
    assert rc == 1 and "Traceback" not in err
    assert f"{str(blocker)!r}: a file is in the way" in err
    assert blocker.read_text() == "x"


# -- 3. a pair interval no event file can span ---------------------------------------------------
def _pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (24, 32), dtype=np.uint8)
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(pa), a)
    cv2.imwrite(str(pb), np.roll(a, 2, axis=1))
    return pa, pb


def test_pair_interval_longer_than_a_file_can_span_is_refused_naming_it(tmp_path, capsys):
    pa, pb = _pair(tmp_path)
    out = tmp_path / "p.h5"
    out.write_bytes(b"old")
    rc, _, err = run(
        capsys, "simulate", "--pair", pa, pb, "--interval-ms", "1e12", "-o", out, "--force"
    )
    assert rc == 1 and out.read_bytes() == b"old"
    assert "--interval-ms 1e+12" in err and "microseconds" not in err
