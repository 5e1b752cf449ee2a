"""A second look at round 12's EP-VLM leftovers (3f438c9).

- `epvlm flops --image-hw` out of range named the option only below 1: an aspect ratio over
  Qwen2-VL's 200:1 was 'image aspect ratio of 300x1 exceeds 200', naming neither the option
  nor what is expected; it now says ``--image-hw 300 1: ... expected at most 200:1``.
- `epvlm run --image`'s event-file hint goes by the extension only after the bytes failed to
  decode, so a real image named like an event file, or an event file's extension in capitals,
  is read or named as it should be (pinned here, not changed).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from epvlm.cli import _read_image, main
from epvlm.flops import PRESETS, image_token_grid, load_dims
from eventsim.errors import InputError, ParameterError


@pytest.mark.parametrize(("h", "w", "ratio"), [(300, 1, "300"), (1, 10000000, "1e+07")])
def test_flops_image_hw_over_the_aspect_limit_names_the_option(capsys, h, w, ratio):
    assert main(["flops", "--image-hw", str(h), str(w)]) == 1
    err = capsys.readouterr().err
    assert (
        f"epvlm flops: error: --image-hw {h} {w}: image of {h}x{w} px (H x W) has an aspect "
        f"ratio of {ratio}:1; expected at most 200:1"
    ) in err


def test_flops_image_hw_at_the_aspect_limit_is_taken(capsys):
    assert main(["flops", "--image-hw", "200", "1"]) == 0
    assert "29x1 = 29 image tokens" in capsys.readouterr().out


def test_image_token_grid_says_what_aspect_ratio_is_expected():
    dims = load_dims(next(iter(PRESETS)))
    with pytest.raises(ParameterError, match=r"ratio of 201:1; expected at most 200:1$"):
        image_token_grid(dims, 1, 201)


def test_a_real_image_named_as_an_event_file_is_read(tmp_path):
    image = np.zeros((6, 8, 3), np.uint8)
    image[..., 0] = 200  # blue: first in OpenCV's BGR, last in the RGB read back
    path = tmp_path / "frame.H5"
    path.write_bytes(cv2.imencode(".png", image)[1].tobytes())
    read = _read_image(str(path))
    assert read.shape == (6, 8, 3) and read[0, 0].tolist() == [0, 0, 200]


@pytest.mark.parametrize("name", ["rec.H5", "rec.AEDAT4", "rec.Npz"])
def test_an_event_files_extension_in_capitals_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(InputError, match=r"named as an event file \(\.[a-z0-9]+\); pass it as"):
        _read_image(str(path))
