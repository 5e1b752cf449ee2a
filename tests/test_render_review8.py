"""Review 8 of `eventsim render` / `eventsim plot`: frame-folder names past a million frames,
narrow Motion JPEG padding and the edge cases a user meets."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.render import writers

FRAME = np.zeros((2, 3, 3), np.uint8)


def test_frame_name_pads_every_frame_to_the_last_ones_width():
    """Six digits sorted only to frame 999,999: frame_1000000.png sorted before
    frame_999999.png, and no %06d pattern read it back."""
    assert writers.frame_name(0) == "frame_000000.png"
    assert writers.frame_name(999_999, 1_000_000) == "frame_999999.png"
    names = [writers.frame_name(k, 1_000_001) for k in (0, 999_999, 1_000_000)]
    assert names == ["frame_0000000.png", "frame_0999999.png", "frame_1000000.png"]
    assert names == sorted(names)
    assert writers.frame_name(5, 10**10) == "frame_0000000005.png"


@pytest.mark.parametrize("n", [1, 10, 11, 101])
def test_folder_names_sort_in_frame_order_past_the_digits_of_its_counter(tmp_path, monkeypatch, n):
    """A folder of more frames than its names' digits count (a million with six; here the
    counter is one digit) pads them all to one width, so names sort in frame order."""
    monkeypatch.setattr(writers, "FRAME_DIGITS", 1)
    out = tmp_path / "frames"
    with writers.FolderSink(out) as sink:
        for k in range(n):
            frame = FRAME.copy()
            frame[0, 0, 0] = k
            sink.write(frame)
    names = sorted(p.name for p in out.iterdir())
    width = len(str(n - 1))
    assert names == [f"frame_{k:0{width}d}.png" for k in range(n)]
    import cv2

    firsts = [int(cv2.imread(str(out / name))[0, 0, 2]) for name in names]
    assert firsts == list(range(n))


def test_ordinary_folder_names_keep_six_digits(tmp_path):
    out = tmp_path / "frames"
    with writers.FolderSink(out) as sink:
        for _ in range(3):
            sink.write(FRAME)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_00000{k}.png" for k in range(3)]
