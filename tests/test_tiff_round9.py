"""TIFF inputs, round 9: read as libtiff reads them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from eventsim.simulator.sources import decode_image

from user_media import tiff_with_tags

UNASSOCIATED = 2


def _packbits(raw: bytes) -> bytes:
    """``raw`` PackBits-compressed as literal runs (of up to 128 bytes) only."""
    return b"".join(bytes([len(raw[i : i + 128]) - 1]) + raw[i : i + 128] for i in range(0, len(raw), 128))  # fmt: skip


# -- the predictor beside no compression ---------------------------------------------------------


@pytest.mark.parametrize("compression", [1, 32773])
@pytest.mark.parametrize("depth", ["u1", "u2"])
@pytest.mark.parametrize("spp", [2, 5])
def test_a_predictor_libtiff_ignores_is_not_undone(compression, depth, spp):
    """libtiff (and Pillow) apply the predictor (tag 317) to LZW and deflate strips only; an
    uncompressed or PackBits grey with alpha (or RGB with two extra samples) marked predictor 2
    is read as stored. Its differencing was undone, so every row came out as running sums."""
    rng = np.random.default_rng(spp)
    px = rng.integers(0, np.iinfo(depth).max + 1, (4, 6, spp)).astype(depth)
    raw = px.astype(px.dtype.newbyteorder("<")).tobytes()
    block = _packbits(raw) if compression == 32773 else raw
    tags = [
        (256, "H", [6]),
        (257, "H", [4]),
        (258, "H", [px.itemsize * 8] * spp),
        (259, "H", [compression]),
        (262, "H", [1 if spp == 2 else 2]),
        (273, "I", [8]),
        (277, "H", [spp]),
        (278, "H", [4]),
        (279, "I", [len(block)]),
        (317, "H", [2]),
        (338, "H", [UNASSOCIATED] + [0] * (spp - (2 if spp == 2 else 4))),
    ]
    data = tiff_with_tags([block], tags)
    colour = px[..., 0] if spp == 2 else px[..., :3]
    want = colour if depth == "u1" else colour / 257.0
    np.testing.assert_array_equal(decode_image(data, "p.tif"), want)
    if spp == 2 and depth == "u1":
        # libtiff's own reading of the grey (OpenCV's, which drops the alpha)
        lib = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(lib, colour)
