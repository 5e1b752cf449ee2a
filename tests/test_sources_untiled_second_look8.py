"""Second look at `_untiled` (uncompressed TIFF tiles OpenCV 5 cannot decode from memory, handed
to it as strips): its memory, and tiles whose offsets and byte counts are damaged."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from eventsim.errors import InputError
from eventsim.simulator import sources
from eventsim.simulator.sources import decode_image

sys.path.insert(0, str(Path(__file__).parent))
from test_sources_decode8 import _samples, _tiff


def tiff_decoder_input(data):
    """What `_decode_tiff` hands OpenCV of a TIFF file's bytes (tiff_decoder_input was public
    for epvlm's alpha reader, removed in round 11)."""
    return sources._tiff_decoder_input(
        sources._untiled(sources._tiff_image_page(data, "TIFF file"))
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_small_tiles_are_copied_once(channels):
    """The strips are written straight into the one buffer handed to OpenCV, the file's bytes
    and the image's: 1200x1200 in 16x16 tiles took 9 times the file's size, the tiles stacked,
    transposed, cut into strips and joined, and the result copied twice more. (Beyond the
    buffer: the tile offsets and byte counts as Python ints, 80 bytes a 256-byte tile.)"""
    stored = _samples((1200, 1200) if channels == 1 else (600, 600, channels))
    data = _tiff(stored, tile=(16, 16))
    tracemalloc.start()
    try:
        buf = tiff_decoder_input(data)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(buf) < 2.01 * len(data)
    assert peak < 2.4 * len(data), peak / len(data)
    np.testing.assert_array_equal(decode_image(data, "tiles.tif"), stored)


# a child process whose address space is capped after its imports: a few hundred MiB above
# them, while the file below claims 33 x 33 overlapping tiles of 1040 x 1000 grey (1.1 GB)
_CAPPED = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_sources_decode8 import _tiff
    from eventsim.errors import InputError
    from eventsim.simulator.sources import decode_image

    tile, n = (1040, 1000), 33
    one = _tiff(np.full((1000, 1040), 7, np.uint8), tile=tile)
    data = _tiff(
        np.zeros((1, 1), np.uint8),
        tile=tile,
        extra={256: (4, [tile[0] * n]), 257: (4, [tile[1] * n]),
               324: (4, [8] * n * n), 325: (4, [tile[0] * tile[1]] * n * n)},
    )
    data = one[:8 + tile[0] * tile[1]] + data[8 + tile[0] * tile[1]:]
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) for line in fh if line.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 400 * 2**20, resource.RLIM_INFINITY))
    try:
        decode_image(data, "bomb.tif")
    except InputError as exc:
        print("InputError", exc)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_overlapping_tiles_claiming_more_pixels_than_opencv_reads_are_not_built():
    """A 1 MB file whose 1089 tile offsets all point at its one tile claims 34320 x 33000
    pixels, more than OpenCV decodes (2**30): refused as OpenCV refuses it, not built as
    strips first (over 1 GB, several times: MemoryError)."""
    out = subprocess.run(
        [sys.executable, "-c", _CAPPED, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("InputError") and "'bomb.tif'" in out.stdout, out.stdout


def test_overlapping_tiles_within_opencvs_size_are_read():
    """Tiles may share their bytes (a writer's one blank tile for many): read as the tiles say."""
    stored = _samples((16, 16))
    one = _tiff(stored, tile=(16, 16))
    data = _tiff(
        stored,
        tile=(16, 16),
        extra={256: (3, [48]), 257: (3, [32]), 324: (4, [8] * 6), 325: (4, [256] * 6)},
    )
    data = one[: 8 + 256] + data[8 + 256 :]
    np.testing.assert_array_equal(decode_image(data, "shared.tif"), np.tile(stored, (2, 3)))


def _mutated(rng: random.Random) -> bytes:
    shape = rng.choice([(37, 21), (37, 21, 3), (37, 21, 2), (20, 40, 4)])
    bits = 8 if len(shape) == 3 else rng.choice([1, 4, 8])
    kw = dict(planar=rng.choice([1, 2]) if len(shape) == 3 else 1, order=rng.choice("<>"))
    kw["big"] = rng.random() < 0.3
    stored = _samples(shape, bits=bits)
    length = len(_tiff(stored, bits=bits, tile=(16, 16), **kw))  # type: ignore[arg-type]
    spp = shape[2] if len(shape) == 3 else 1
    n = -(-shape[0] // 16) * -(-shape[1] // 16) * (spp if kw["planar"] == 2 else 1)
    size = 16 * 16 * bits * (1 if kw["planar"] == 2 else spp) // 8
    offsets = [8 + (16 if kw["big"] else 0) + i * size for i in range(n)]
    counts = [size] * n
    picks = [0, 1, 8, size - 1, size, size + 1, length - size, length - 1, length, 2**32 - 1]
    for _ in range(rng.randrange(1, 4)):
        which = rng.choice([offsets, counts])
        if not which:
            continue
        i = rng.randrange(len(which))
        which[i] = rng.choice([*picks, rng.randrange(length + 100)])
        if rng.random() < 0.2:
            del which[i]
    if rng.random() < 0.2:
        offsets = [offsets[0]] * len(offsets)
    extra = {324: (16 if kw["big"] else 4, offsets), 325: (4, counts)}
    data = bytearray(_tiff(stored, bits=bits, tile=(16, 16), extra=extra, **kw))  # type: ignore[arg-type]
    if rng.random() < 0.3:
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.2:
        del data[rng.randrange(8, len(data)) :]
    return bytes(data)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.filterwarnings("ignore:Truncated File Read")
def test_damaged_tile_offsets_and_counts_are_refused_or_read():
    """300 files with tile offsets and byte counts past the end of the file, zero, shared, too
    few, or the file cut: read or refused as an InputError naming the file, never another
    exception."""
    rng = random.Random(173)
    for _ in range(300):
        data = _mutated(rng)
        try:
            decode_image(data, "damaged.tif")
        except InputError as exc:
            assert "'damaged.tif'" in str(exc)
        tiff_decoder_input(data)
