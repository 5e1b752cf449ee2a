"""TIFF stacks, second look (round 9): a damaged page's byte counts or directory count cannot
have GBs read; ImageJ's Java-escaped time units ('\\u00B5s') and OME's single-quoted
attributes time a stack; an OME-TIFF of several channel pages or of z slices over time is
refused as ImageJ's hyperstacks are; simulate() without progress makes no tqdm bar. Single
images with thumbnails, overviews or masks stay single images; IFD loops end."""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np
import pytest
from test_sources_second_look6 import _tiff as _pages
from test_tiff_stack_round9 import PARAMS, _folder_events, _grey_page, _moving, _multi

from eventsim.errors import InputError
from eventsim.simulator import pipeline, sources
from eventsim.simulator.pipeline import simulate
from eventsim.simulator.sources import TiffStackSource, read_image


def _greys(n: int) -> list[np.ndarray]:
    return [f[..., 1] for f in _moving(n)]


@pytest.fixture
def small_reads(monkeypatch):
    """Fails a read of more than 1 MiB of a stack's file before it is made."""
    getitem = sources._FileBytes.__getitem__

    def bounded(self, key):
        start, stop, _ = key.indices(len(self))
        if stop - start > 1 << 20:
            pytest.fail(f"read {stop - start:,} bytes at {start:,}")
        return getitem(self, key)

    monkeypatch.setattr(sources._FileBytes, "__getitem__", bounded)


def test_a_damaged_strip_byte_count_is_refused_before_it_is_read(tmp_path, small_reads):
    """Page 2 claims 32 MiB of strips in a (sparse) 64 MiB file: a page of 40x30 bytes."""
    frames = _greys(3)
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(frames[0], {}), (frames[1], {279: (4, [32 << 20])}), (frames[2], {})]))  # fmt: skip
    os.truncate(path, 64 << 20)
    source = TiffStackSource(path, fps=100)
    got = iter(source)
    np.testing.assert_array_equal(next(got)[0], frames[0])
    with pytest.raises(InputError, match=r"page 2 is damaged: its strips claim 33,554,432 bytes"):
        next(got)
    # the first page so damaged is refused as the stack is opened
    path.write_bytes(_pages([(frames[0], {279: (4, [32 << 20])}), (frames[1], {})]))
    os.truncate(path, 64 << 20)
    with pytest.raises(InputError, match=r"page 1 is damaged"):
        TiffStackSource(path, fps=100)


def test_tiles_and_a_full_last_strip_are_within_the_bound(tmp_path):
    """Padding that writers store (a last strip of full size) is no damage."""
    frames = _greys(3)
    path = tmp_path / "stack.tif"
    # 30 rows in strips of 16: the last strip stored as 16 rows, as some writers do
    pages = []
    for f in frames:
        blocks = [f[:16].tobytes(), np.pad(f[16:], ((0, 2), (0, 0))).tobytes()]
        _, tags = _grey_page(f)
        tags = [t for t in tags if t[0] not in (273, 278, 279)]
        tags += [(273, "I", [0, 1]), (278, "H", [16]), (279, "I", [640, 640])]
        pages.append((blocks, tags))
    path.write_bytes(_multi(pages))
    got = [frame for frame, _ in TiffStackSource(path, fps=30)]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))


def test_the_bound_leaves_room_for_fax_codes_of_1_bit_noise():
    """CCITT codes take up to 9 bits a 1-bit pixel: a 4096x4096 fax page of noise, 2 MiB of
    pixels, may take 18 MiB."""
    tags = {256: 4096, 257: 4096, 258: 1, 259: 4, 277: 1, 278: 4096}
    found = {t: sources._TiffField(t, 4, 1, v.to_bytes(4, "little")) for t, v in tags.items()}
    assert sources._tiff_page_most_bytes(found, "little") > 4096 * 4096 * 9 // 8


def test_a_directory_count_past_libtiffs_limit_ends_the_pages(tmp_path, small_reads):
    """A BigTIFF directory's count is 8 bytes: one damaged to a million entries (20 MB) in a
    file of many GB is taken, as libtiff takes it, for no directory."""
    frames = _greys(3)
    data = bytearray(_pages([(f, {}) for f in frames], big=True))
    second = sources._tiff_pages(bytes(data))[1].at
    struct.pack_into("<Q", data, second, 1_000_000)
    path = tmp_path / "stack.tif"
    path.write_bytes(data)
    os.truncate(path, 64 << 20)
    assert sources.tiff_frame_count(path) == 1


def test_a_directory_chain_that_loops_back_ends(tmp_path):
    frames = _greys(3)
    data = bytearray(_pages([(f, {}) for f in frames]))
    pages = sources._tiff_pages(bytes(data))
    count = struct.unpack_from("<H", data, pages[2].at)[0]
    struct.pack_into("<I", data, pages[2].at + 2 + 12 * count, pages[0].at)
    path = tmp_path / "loop.tif"
    path.write_bytes(data)
    assert sources.tiff_frame_count(path) == 3
    got = [frame for frame, _ in TiffStackSource(path, fps=30)]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))


def _described(tmp_path, description: bytes, n: int = 4, **kw) -> TiffStackSource:
    frames = _greys(n)
    path = tmp_path / "stack.tif"
    pages = [_grey_page(f, description if k == 0 else b"") for k, f in enumerate(frames)]
    path.write_bytes(_multi(pages))
    return TiffStackSource(path, **kw)


@pytest.mark.parametrize(
    "lines, step_us",
    [
        (b"finterval=0.033333\n", 33333),
        (b"finterval=0.033333\ntunit=sec\n", 33333),
        (b"finterval=5\ntunit=ms\n", 5000),
        (b"finterval=250\ntunit=\\u00B5s\n", 250),  # as ImageJ writes its units' µ
        (b"finterval=250\ntunit=\xc2\xb5s\n", 250),
        (b"finterval=250\ntunit=\xb5s\n", 250),
        (b"finterval=250\ntunit=us\n", 250),
        (b"unit=micron\nspacing=2.5\nfinterval=0.002\n", 2000),
    ],
    ids=[
        "finterval",
        "sec",
        "ms",
        "escaped-micro",
        "utf8-micro",
        "latin1-micro",
        "us",
        "unit",
    ],
)
def test_imagej_frame_intervals_in_each_time_unit(tmp_path, lines, step_us):
    source = _described(tmp_path, b"ImageJ=1.54f\nimages=4\nslices=4\n" + lines)
    np.testing.assert_allclose(source.timestamps_us, np.arange(4) * step_us, atol=1)


@pytest.mark.parametrize(
    "pixels, step_us",
    [
        ('<Pixels DimensionOrder="XYCZT" SizeT="4" TimeIncrement="0.02"/>', 20000),
        (
            "<Pixels DimensionOrder='XYCZT' SizeT='4' TimeIncrement='0.02' TimeIncrementUnit='ms'/>",
            20,
        ),
        ('<ome:Pixels SizeC="3" SizeT="4" TimeIncrement="2" TimeIncrementUnit="ms"/>', 2000),
    ],
    ids=["unit-absent-seconds", "single-quoted", "rgb-prefixed"],
)
def test_ome_time_increments(tmp_path, pixels, step_us):
    text = f'<?xml version="1.0"?><OME><Image>{pixels}</Image></OME>'.encode()
    if "SizeC" in pixels:  # three channels in an RGB page are one frame of colour
        pages = []
        for k, f in enumerate(_moving(4)):
            h, w, _ = f.shape
            tags = [(256, "H", [w]), (257, "H", [h]), (258, "H", [8, 8, 8]), (259, "H", [1]), (262, "H", [2]), (273, "I", [0]), (277, "H", [3]), (278, "H", [h]), (279, "I", [f.nbytes])]  # fmt: skip
            pages.append(([f.tobytes()], tags + ([(270, "s", [*text, 0])] if k == 0 else [])))
        path = tmp_path / "rgb.tif"
        path.write_bytes(_multi(pages))
        source = TiffStackSource(path)
    else:
        source = _described(tmp_path, text)
    np.testing.assert_array_equal(source.timestamps_us, np.arange(4) * step_us)


# z slices over time: the time points of the first slice are read (test_tiff_round11)
@pytest.mark.parametrize(
    "sizes, said", [('SizeC="2" SizeT="2"', "SizeC=2, SizeT=2")], ids=["channel-pages"]
)
def test_an_ome_tiff_of_channel_pages_is_refused(tmp_path, sizes, said):
    text = f'<OME><Image><Pixels DimensionOrder="XYCZT" {sizes} TimeIncrement="0.01"/></Image></OME>'  # fmt: skip
    with pytest.raises(InputError, match=f"OME-TIFF of {said}, whose pages are no sequence"):
        _described(tmp_path, text.encode())
    # fps given does not make them frames
    with pytest.raises(InputError, match="OME-TIFF of"):
        _described(tmp_path, text.encode(), fps=100)


def test_simulate_without_progress_makes_no_bar(tmp_path, monkeypatch):
    """tqdm's disabled bar still made tqdm's multiprocessing lock, in every build worker."""
    import tqdm.auto

    made: list[dict] = []
    updates: list[int] = []

    class Bar:
        def __init__(self, **kw):
            made.append(kw)

        def set_postfix(self, *args, **kw):
            pass

        def update(self, n):
            updates.append(n)

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    monkeypatch.setattr(pipeline, "_BATCH_FRAMES", (2, 2))
    frames = _greys(5)
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames]))
    quiet = simulate(TiffStackSource(path, fps=100), PARAMS)
    assert made == [] and quiet.n_frames == 5
    shown = simulate(TiffStackSource(path, fps=100), PARAMS, progress=True)
    assert [m["total"] for m in made] == [5] and sum(updates) == 5
    assert shown.events.tobytes() == quiet.events.tobytes()


def test_a_stack_of_rgb_and_grey_pages_gives_the_events_of_a_folder(tmp_path):
    colour = _moving(4)
    frames = [f if k % 2 == 0 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for k, f in enumerate(colour)]  # fmt: skip
    path = tmp_path / "mixed.tif"
    path.write_bytes(_pages([(f, {}) for f in frames]))
    events = simulate(TiffStackSource(path, fps=100), PARAMS).events
    assert events.size
    assert events.tobytes() == _folder_events(tmp_path, frames, 100, PARAMS)


def test_single_images_with_thumbnails_overviews_and_masks_stay_single(tmp_path):
    """A camera's TIFF (a reduced copy in its second directory, tagged or not), a GeoTIFF with
    overviews and a mask: one image, read as one (a 2-page file of two shapes is two images:
    test_tiff_round10)."""
    rgb = _moving(1, 64, 48)[0]
    cases = {
        "camera-tagged": [(rgb, {}), (rgb[::4, ::4], {254: (4, [1])})],
        "camera-untagged": [(rgb, {}), (rgb[::8, ::8], {})],
        "geotiff": [
            (rgb, {}),
            (rgb[::2, ::2], {254: (4, [1])}),
            (rgb[..., 0], {254: (4, [4])}),
            (rgb[::4, ::4], {254: (4, [1])}),
        ],
    }
    for name, pages in cases.items():
        path = tmp_path / f"{name}.tif"
        path.write_bytes(_pages(pages))
        assert sources.tiff_frame_count(path) == 1, name
        np.testing.assert_array_equal(read_image(path), rgb, err_msg=name)
