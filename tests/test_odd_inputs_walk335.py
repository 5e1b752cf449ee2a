"""Walkthrough with odd inputs (helper 335).

- A float TIFF holding 0..255 (an 8-bit frame saved with astype(np.float32)) was read as HDR
  up to 255 times white without a word: a folder alternating such TIFFs with the PNGs of the
  same pixels gave 15,171 events instead of 894. It draws an `ImageScaleWarning` (once a
  folder; one line in ``eventsim simulate``); the frames stay as they were read.
- ``eventsim render`` of a 1x500 sensor's heat map suggested ``--scale 204`` (204x102000).
- ``eventsim plot 'ev 日本.h5'`` printed matplotlib's "Glyph 26085 ... missing" warnings and drew
  boxes in the title.
- ``eventsim info FOLDER`` of a folder of frames said only "build one with 'eventsim build'".
- One frame gap of 1000 s or more among close frames (0, 0.033, 5000, 5000.033 s) was
  simulated without a word, though --allow-long-gaps says such gaps are refused: only the
  median gap was looked at.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.errors import DatasetError, InputError
from eventsim.events import EVENT_DTYPE
from eventsim.io.formats import write_events
from eventsim.simulator import FrameScaleWarning
from eventsim.simulator.sources import (
    FolderSource,
    ImageScaleWarning,
    TimestampsWarning,
    read_image,
)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _pixels(i: int) -> np.ndarray:
    return ((np.arange(24 * 32).reshape(24, 32) * (i + 3)) % 256).astype(np.uint8)


def _mixed_folder(folder: Path, n: int = 4, first_float: bool = False) -> Path:
    """PNGs alternating with float32 TIFFs of the same kind of pixels at 0..255."""
    folder.mkdir()
    for i in range(n):
        if (i % 2 == 0) == first_float:
            assert cv2.imwrite(str(folder / f"{i:04d}.tif"), _pixels(i).astype(np.float32))
        else:
            assert cv2.imwrite(str(folder / f"{i:04d}.png"), _pixels(i))
    return folder


# -- 1. float images at 0..255 ------------------------------------------------------------------


def test_a_float_image_of_dn_values_is_read_as_it_is_with_a_warning(tmp_path):
    path = tmp_path / "dn.tif"
    assert cv2.imwrite(str(path), _pixels(0).astype(np.float32))
    with pytest.warns(ImageScaleWarning, match=r"'.*dn\.tif' peaks at 255.*divide them by 255"):
        img = read_image(path)
    # unchanged: a float image's 1.0 is white, so 255 is DN 65025
    np.testing.assert_array_equal(img, _pixels(0).astype(np.float64) * 255.0)
    assert issubclass(ImageScaleWarning, FrameScaleWarning)


@pytest.mark.parametrize("peak", [1.0, 2.0])
def test_float_images_up_to_twice_white_draw_no_warning(tmp_path, peak):
    path = tmp_path / "hdr.tif"
    assert cv2.imwrite(str(path), np.full((4, 5), peak, np.float32))
    png = tmp_path / "bright.png"
    assert cv2.imwrite(str(png), np.full((4, 5), 255, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).max() == 255.0 * peak
        read_image(png)


def test_a_frame_folder_warns_once_naming_its_first_float_image(tmp_path):
    folder = _mixed_folder(tmp_path / "frames", 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = FolderSource(folder, fps=30)
        frames = [f for f, _ in source]
    scale = [w for w in caught if issubclass(w.category, ImageScaleWarning)]
    assert len(scale) == 1, [str(w.message) for w in caught]
    assert "0001.tif" in str(scale[0].message) and str(scale[0].message) == source.scale_problem
    assert scale[0].filename == __file__  # at the loop that read the frames
    for i, frame in enumerate(frames):
        scale_of = 255.0 if i % 2 else 1.0
        np.testing.assert_array_equal(frame, _pixels(i) * scale_of)


@pytest.mark.parametrize("first_float", [False, True])
def test_simulate_says_the_float_image_warning_in_one_line(tmp_path, capsys, first_float):
    folder = _mixed_folder(tmp_path / "frames", 4, first_float=first_float)
    rc, _, err = run(capsys, "simulate", folder, "--fps", 30, "-o", tmp_path / "o.h5", "-q")
    assert rc == 0, err
    lines = [line for line in err.splitlines() if "float image" in line]
    name = "0000.tif" if first_float else "0001.tif"
    assert len(lines) == 1 and name in lines[0], err
    assert lines[0].startswith("eventsim simulate: warning: float image")
    assert "ImageScaleWarning" not in err and "warnings.warn" not in err


# -- 2. the colour bar note of a thin sensor ----------------------------------------------------


def test_render_suggests_no_colorbar_for_a_thin_sensor(tmp_path, capsys):
    ev = np.zeros(50, EVENT_DTYPE)
    ev["y"] = np.arange(50) * 10
    ev["t"] = np.arange(50) * 100
    ev["p"] = 1
    write_events(tmp_path / "f1x500.h5", ev, (1, 500))
    rc, _, err = run(
        capsys, "render", tmp_path / "f1x500.h5", "-o", tmp_path / "r.png", "--mode", "heatmap"
    )
    assert rc == 0, err
    assert "102000" in err  # said as what the colour bar would take, not offered
    assert "--scale 204 makes" not in err
    assert "pass --no-colorbar to leave it out quietly (--scale 8 makes them 8x4000" in err
    write_events(tmp_path / "small.h5", ev[:2], (32, 24))
    rc, _, err = run(
        capsys, "render", tmp_path / "small.h5", "-o", tmp_path / "s.png", "--mode", "heatmap"
    )
    assert rc == 0, err
    assert "--scale 7 makes them 224x168 (--no-colorbar leaves it out quietly)" in err


# -- 3. a file name the plot's font cannot draw -------------------------------------------------


def test_plot_of_a_name_the_font_lacks_writes_it_escaped_without_warnings(tmp_path):
    from eventsim.render.summary import _drawable, plot_summary

    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [0, 100, 200]
    path = write_events(tmp_path / "ev 日本.h5", ev, (8, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_summary(path, tmp_path / "p.png")
    assert _drawable("ev 日本 é·µ.h5") == "ev \\u65e5\\u672c é·µ.h5"
    assert _drawable("bad\udcff.h5") == "bad\\udcff.h5"


def test_plot_of_a_name_holding_dollars_is_not_read_as_mathtext(tmp_path):
    from eventsim.render.summary import plot_summary

    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [0, 100, 200]
    # matplotlib parsed '$\\frac{$' as a formula and raised ParseSyntaxException
    path = write_events(tmp_path / "a$\\frac{$b.h5", ev, (8, 6))
    assert plot_summary(path, tmp_path / "p.png").exists()


# -- 4. info of a folder of frames --------------------------------------------------------------


def test_info_of_a_frame_folder_suggests_simulating_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one = Path("one")
    one.mkdir()
    assert cv2.imwrite(str(one / "a.png"), _pixels(0))
    rc, _, err = run(capsys, "info", "one/")
    assert rc == 1
    assert "folder of frames" in err and err.rstrip().endswith(
        ": eventsim simulate one --fps FPS -o one.h5"
    )
    esim = Path("esim")
    (esim / "images").mkdir(parents=True)
    assert cv2.imwrite(str(esim / "images" / "a.png"), _pixels(0))
    (esim / "timestamps.txt").write_text("0\n")
    rc, _, err = run(capsys, "info", "esim")
    assert rc == 1 and err.rstrip().endswith(": eventsim simulate esim -o esim.h5")
    Path("empty").mkdir()
    from eventsim.datasets import read_manifest

    with pytest.raises(DatasetError, match="build one with") as exc:
        read_manifest("empty")
    assert "simulate" not in str(exc.value)


# -- 5. one long gap among close frames ---------------------------------------------------------


def _gap_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "gap"
    folder.mkdir()
    for i in range(4):
        assert cv2.imwrite(str(folder / f"{i}.png"), _pixels(i))
    (folder / "timestamps.txt").write_text("0\n0.033\n5000\n5000.033\n")
    return folder


def test_one_frame_gap_of_1000_s_is_refused_unless_allowed(tmp_path):
    folder = _gap_folder(tmp_path)
    with pytest.raises(
        InputError, match=r"lines 2 and 3 \(frames 2 and 3\) are 4999\.97 s apart.*allow_long_gaps"
    ):
        FolderSource(folder)
    with pytest.warns(
        TimestampsWarning, match=r"lines 2 and 3 \(frames 2 and 3\) are 4999\.97 s apart"
    ):
        source = FolderSource(folder, allow_long_gaps=True)
    assert source.timestamps_us[2] == 5_000_000_000


def test_simulate_refuses_one_long_gap_naming_the_flag(tmp_path, capsys):
    folder = _gap_folder(tmp_path)
    out = tmp_path / "g.h5"
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q")
    assert rc == 1 and not out.exists()
    assert "lines 2 and 3 (frames 2 and 3) are 4999.97 s apart" in err and err.rstrip().endswith(
        "pass --allow-long-gaps"
    )
    rc, _, err = run(capsys, "simulate", folder, "-o", out, "-q", "--allow-long-gaps")
    assert rc == 0, err
    assert "simulated as seconds because of --allow-long-gaps" in err
