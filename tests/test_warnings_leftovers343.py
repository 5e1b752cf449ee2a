"""Warning leftovers (helper 343).

- With --allow-long-gaps, a frame folder whose median gap is over 1 s and which also has one
  gap of 1000 s or more got "simulated as seconds because of --allow-long-gaps (without it
  these gaps are refused)" on both its warnings, the slow-frames one too, whose gaps are not
  refused: the long gaps now draw a `LongFrameGapWarning` (a `TimestampsWarning`), the only
  one that says so.
- The one-long-gap message named "frames 2 and 3" only; other messages of a timestamps file
  name its lines: it names both.
- `colorbar_scale` fell back to 1 where the bar of its scale did not fit, not to the largest
  half step down that does.
- A float TIFF stack at 0..255 (DN saved as float) was read as HDR up to 255 times white
  without a word, where a float image file draws an `ImageScaleWarning`: once a stack now.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import InputError
from eventsim.simulator.sources import (
    FolderSource,
    ImageScaleWarning,
    LongFrameGapWarning,
    TiffStackSource,
    TimestampsWarning,
)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _folder(tmp_path: Path, times: str, n: int) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(n):
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((8, 8), 40 + 40 * i, np.uint8))
    (folder / "timestamps.txt").write_text(times)
    return folder


# -- 1. each timestamps warning says only what applies to it --------------------------------------


def test_only_the_long_gap_warning_says_the_flag_let_it_through(tmp_path, capsys):
    # a median gap of 2 s (slow frames) and one gap of 1500 s
    folder = _folder(tmp_path, "0\n2\n4\n1504\n1506\n", 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FolderSource(folder, allow_long_gaps=True)
    kinds = [(w.category, str(w.message)) for w in caught]
    assert [k for k, _ in kinds] == [LongFrameGapWarning, TimestampsWarning], kinds
    assert "1500 s apart" in kinds[0][1] and "median frame gap is 2 s" in kinds[1][1]

    out = tmp_path / "o.h5"
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q", "--allow-long-gaps")
    assert rc == 0, err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 2, err
    long_gap, slow = lines
    assert "1500 s apart" in long_gap
    assert long_gap.endswith("because of --allow-long-gaps (without it these gaps are refused)")
    assert "median frame gap is 2 s" in slow and "simulated as seconds" not in slow, slow


def test_a_median_gap_of_1000_s_is_a_long_gap_warning(tmp_path):
    folder = _folder(tmp_path, "0\n1000\n2000\n", 3)
    with pytest.warns(LongFrameGapWarning, match="median frame gap is 1000 s"):
        FolderSource(folder, allow_long_gaps=True)


# -- 2. the long gap's lines in the timestamps file -----------------------------------------------


def test_the_long_gap_names_the_lines_of_the_timestamps_file(tmp_path):
    folder = _folder(tmp_path, "# times in s\n0\n0.033\n\n5000\n5000.033\n", 4)
    where = r"its lines 3 and 5 \(frames 2 and 3\) are 4999\.97 s apart"
    with pytest.raises(InputError, match=where):
        FolderSource(folder)
    with pytest.warns(LongFrameGapWarning, match=where):
        FolderSource(folder, allow_long_gaps=True)


# -- 3. the colour bar steps down by half steps ---------------------------------------------------


def test_colorbar_scale_steps_down_to_the_largest_bar_that_fits():
    from eventsim.render.scales import colorbar_fits, colorbar_scale, colorbar_size

    wh, unit = (1384, 1040), "a much longer unit label here"

    def fits(scale: float) -> bool:
        return colorbar_fits(wh, colorbar_size(3.0, unit=unit, scale=scale))

    # the frame's own scale (4) does not fit; 3 does, 3.5 does not
    assert not fits(4.0) and not fits(3.5) and fits(3.0)
    assert colorbar_scale(wh, 3.0, unit=unit) == 3.0
    assert colorbar_scale(wh, 3.0) == 4.0


# -- 4. float TIFF stacks at 0..255 ---------------------------------------------------------------


def _float_stack(path: Path, peaks: list[float]) -> Path:
    ramp = np.arange(24 * 32, dtype=np.float32).reshape(24, 32) / (24 * 32 - 1)
    assert cv2.imwritemulti(str(path), [ramp * peak for peak in peaks])
    return path


def test_a_float_stack_at_0_255_warns_once_of_its_first_page(tmp_path):
    path = _float_stack(tmp_path / "dn.tif", [255.0, 255.0, 255.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = TiffStackSource(path, fps=10)
        frames = [frame for frame, _ in source]
    scale = [str(w.message) for w in caught if w.category is ImageScaleWarning]
    assert len(scale) == 1, scale
    assert "peaks at 255" in scale[0] and "(page 1, the first of the stack" in scale[0]
    assert source.scale_problem == scale[0]
    # the frames are read as they were
    assert len(frames) == 3 and frames[0].max() == pytest.approx(255.0 * 255.0)


def test_a_later_float_page_at_0_255_is_warned_of_as_it_is_read(tmp_path):
    path = _float_stack(tmp_path / "late.tif", [1.0, 1.0, 255.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageScaleWarning)
        source = TiffStackSource(path, fps=10)
    with pytest.warns(ImageScaleWarning, match=r"\(page 3, the first of the stack"):
        list(source)


def test_float_and_16_bit_stacks_in_range_draw_no_scale_warning(tmp_path):
    ramp = np.arange(24 * 32).reshape(24, 32)
    pages16 = [(ramp * 85).astype(np.uint16) for _ in range(2)]
    assert cv2.imwritemulti(str(tmp_path / "s16.tif"), pages16)
    hdr = _float_stack(tmp_path / "hdr.tif", [1.0, 2.0])
    for path in (tmp_path / "s16.tif", hdr):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ImageScaleWarning)
            source = TiffStackSource(path, fps=10)
            list(source)
        assert source.scale_problem is None


def test_simulate_says_the_stacks_scale_warning_in_one_line(tmp_path, capsys):
    path = _float_stack(tmp_path / "dn.tif", [255.0, 128.0])
    rc, _, err = run(capsys, "simulate", path, "--fps", "30", "-o", tmp_path / "o.h5", "-q")
    assert rc == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "peaks at 255" in lines[0], err
