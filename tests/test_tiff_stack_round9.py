"""TIFF stacks as INPUT, round 9: a TIFF of several images (ImageJ's or Fiji's stack, a
microscope's or high-speed camera's, tifffile's) is simulated as frames, a page at a time,
timed by --fps or by the file (ImageJ's finterval=, OME's TimeIncrement). Its events are
those of the same frames as a frame folder, in batches of any size."""

from __future__ import annotations

import importlib.util
import struct
import zlib

import cv2
import numpy as np
import pytest
from test_sources_decode8 import _packed
from test_sources_second_look6 import _tiff as _pages

from eventsim.cli.simulate import main as simulate_main
from eventsim.errors import InputError
from eventsim.io import EventReader
from eventsim.simulator import DVSParams, pipeline, sources
from eventsim.simulator.pipeline import simulate
from eventsim.simulator.sources import FolderSource, TiffStackSource, read_image

from cli_checks import one_line
from user_media import textured


def _moving(n: int, w: int = 40, h: int = 30, seed: int = 3) -> list[np.ndarray]:
    """``n`` RGB frames of a textured scene shifting 2 px a frame: events in every one."""
    scene = textured(seed, w + 2 * n, h)
    return [np.ascontiguousarray(scene[:, 2 * k : 2 * k + w]) for k in range(n)]


def _multi(pages: list[tuple[list[bytes], list[tuple[int, str, list[int]]]]], order: str = "<") -> bytes:  # fmt: skip
    """A classic TIFF of ``pages``, each its blocks (strips or tiles) and its tags as
    `user_media.tiff_with_tags` takes them, but with the offsets tags (273, 324) holding the
    indices of the page's blocks: a page's blocks, then its directory and the values that do
    not fit, as libtiff lays pages out."""
    out = bytearray(8)
    link = 4  # where the offset of the next directory goes
    for blocks, tags in pages:
        starts = []
        for block in blocks:
            starts.append(len(out))
            out += block + b"\0" * (len(block) % 2)
        ifd_at = len(out)
        struct.pack_into(order + "I", out, link, ifd_at)
        tail_at = ifd_at + 2 + 12 * len(tags) + 4
        ifd, tail = struct.pack(order + "H", len(tags)), b""
        for tag, code, values in sorted(tags):
            if tag in (273, 324):
                values = [starts[i] for i in values]
            packed = struct.pack(order + ("B" if code == "s" else code) * len(values), *values)
            if len(packed) > 4:
                packed, tail = struct.pack(order + "I", tail_at + len(tail)), tail + packed
            kind = {"H": 3, "I": 4, "s": 2}[code]
            ifd += struct.pack(order + "HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
        link = ifd_at + len(ifd)
        out += ifd + bytes(4) + tail
    out[:4] = b"II*\0" if order == "<" else b"MM\0*"
    return bytes(out)


def _grey_page(
    pixels: np.ndarray, description: bytes = b"", bits: int = 8, **tags: list[int]
) -> tuple[list[bytes], list[tuple[int, str, list[int]]]]:
    """An uncompressed little-endian grey page of ``pixels`` in one strip, ``bits`` a sample,
    as `_multi` takes it; ``tNNN=[values]`` replaces or adds SHORT tag NNN."""
    h, w = pixels.shape
    block = _packed(pixels, bits, "<")
    page = [
        (256, "H", [w]),
        (257, "H", [h]),
        (258, "H", [bits]),
        (259, "H", [1]),
        (262, "H", [1]),
        (273, "I", [0]),
        (277, "H", [1]),
        (278, "H", [h]),
        (279, "I", [len(block)]),
        *([(270, "s", [*description, 0])] if description else []),
    ]
    replaced = {int(tag.lstrip("t")): values for tag, values in tags.items()}
    page = [(t, c, replaced.pop(t, v)) for t, c, v in page]
    return [block], page + [(t, "H", v) for t, v in replaced.items()]


def _folder_events(tmp_path, frames: list[np.ndarray], fps: float, params: DVSParams) -> bytes:
    folder = tmp_path / "folder"
    folder.mkdir()
    for k, frame in enumerate(frames):
        bgr = frame[..., ::-1] if frame.ndim == 3 else frame
        assert cv2.imwrite(str(folder / f"{k:03d}.png"), bgr)
    events = simulate(FolderSource(folder, fps=fps), params).events
    assert events is not None  # in memory: no output file was asked for
    return events.tobytes()


PARAMS = DVSParams(pos_threshold=0.15, neg_threshold=0.15)


@pytest.mark.parametrize(
    "layout",
    [dict(), dict(big=True, order=">"), dict(planar=2)],
    ids=["classic", "bigtiff-MM", "planar"],
)
def test_a_16_bit_stack_gives_the_events_of_the_same_frames_as_a_folder(tmp_path, layout):
    frames = [(f.astype(np.uint16) * 257 + k) for k, f in enumerate(_moving(5))]
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames], **layout))
    source = TiffStackSource(path, fps=200)
    assert source.n_frames == 5 and source.input_size == (40, 30)
    np.testing.assert_array_equal(source.timestamps_us, [0, 5000, 10000, 15000, 20000])
    events = simulate(source, PARAMS).events
    assert events.size
    assert events.tobytes() == _folder_events(tmp_path, frames, 200, PARAMS)


@pytest.mark.skipif(not importlib.util.find_spec("PIL"), reason="Pillow writes the stack")
@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_adobe_deflate"])
def test_an_8_bit_stack_pillow_wrote_gives_the_events_of_a_folder(tmp_path, compression):
    from PIL import Image

    frames = _moving(6)
    images = [Image.fromarray(f) for f in frames]
    path = tmp_path / "stack.tiff"
    images[0].save(path, save_all=True, append_images=images[1:], compression=compression)
    assert sources.tiff_frame_count(path) == 6
    events = simulate(TiffStackSource(path, fps=120), PARAMS).events
    assert events.size
    assert events.tobytes() == _folder_events(tmp_path, frames, 120, PARAMS)


def test_batches_of_any_size_give_the_events_of_the_whole(tmp_path, monkeypatch):
    frames = [f[..., 1] for f in _moving(9)]
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames]))
    whole = simulate(TiffStackSource(path, fps=500), PARAMS, upsample="linear").events
    assert whole.size
    for size in ((1, 1), (2, 2), (4, 4)):
        monkeypatch.setattr(pipeline, "_BATCH_FRAMES", size)
        chunked = simulate(TiffStackSource(path, fps=500), PARAMS, upsample="linear").events
        assert chunked.tobytes() == whole.tobytes(), size


def test_the_stack_is_read_a_page_at_a_time(tmp_path, monkeypatch):
    """Stacks run to many GB: no read is longer than a page's pixels."""
    frames = _moving(8)
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames]))
    reads: list[int] = []
    getitem = sources._FileBytes.__getitem__

    def recorded(self, key):
        data = getitem(self, key)
        reads.append(len(data))
        return data

    monkeypatch.setattr(sources._FileBytes, "__getitem__", recorded)
    monkeypatch.setattr(sources.Path, "read_bytes", lambda self: pytest.fail("read whole"))
    got = [frame for frame, _ in TiffStackSource(path, fps=30)]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))
    assert max(reads) == frames[0].nbytes < path.stat().st_size // 4


@pytest.mark.parametrize("layout", ["white-is-zero-16", "tiled", "4-bit", "deflate-predictor"])
def test_every_page_is_decoded_as_a_file_of_it_alone(tmp_path, layout):
    """The layouts `read_image` reads (16-bit WhiteIsZero, tiles, 4-bit grey, a predictor) are
    read on every page: each is decoded as a TIFF of that page alone."""
    rng = np.random.default_rng(7)
    pages = []
    for _ in range(3):
        if layout == "white-is-zero-16":
            px = rng.integers(0, 65536, (6, 8)).astype(np.uint16)
            blocks, tags = _grey_page(px, bits=16, t262=[0])
        elif layout == "4-bit":
            blocks, tags = _grey_page(rng.integers(0, 16, (6, 7)).astype(np.uint8), bits=4)
        elif layout == "tiled":
            px = rng.integers(0, 256, (20, 24)).astype(np.uint8)
            padded = np.zeros((32, 32), np.uint8)
            padded[:20, :24] = px
            blocks = [padded[y : y + 16, x : x + 16].tobytes() for y in (0, 16) for x in (0, 16)]
            _, tags = _grey_page(px)
            tags = [t for t in tags if t[0] not in (273, 278, 279)]
            tags += [(322, "H", [16]), (323, "H", [16]), (324, "I", [0, 1, 2, 3]), (325, "I", [256] * 4)]  # fmt: skip
        else:
            px = rng.integers(0, 256, (6, 8)).astype(np.uint8)
            diff = np.diff(px.astype(np.int16), axis=1, prepend=0).astype(np.uint8)
            block = zlib.compress(diff.tobytes())
            _, tags = _grey_page(px, t259=[8], t317=[2], t279=[len(block)])
            blocks = [block]
        pages.append((blocks, tags))
    path = tmp_path / "stack.tif"
    path.write_bytes(_multi(pages))
    got = [frame for frame, _ in TiffStackSource(path, fps=30)]
    assert len(got) == 3
    for k, page in enumerate(pages):
        alone = tmp_path / f"page{k}.tif"
        alone.write_bytes(_multi([page]))
        np.testing.assert_array_equal(got[k], read_image(alone))


@pytest.mark.parametrize(
    "description, step_us, said",
    [
        (
            b"ImageJ=1.54f\nimages=4\nslices=4\nfinterval=0.002\nloop=false\n",
            2000,
            "finterval=0.002 sec",
        ),
        (b"ImageJ=1.54f\nimages=4\nframes=4\nfinterval=5\ntunit=ms\n", 5000, "finterval=5 ms"),
        (
            b'<?xml version="1.0"?><OME><Image><Pixels DimensionOrder="XYCZT" SizeT="4" TimeIncrement="0.01" TimeIncrementUnit="ms"/></Image></OME>',
            10,
            "TimeIncrement",
        ),
    ],
    ids=["finterval", "finterval-ms", "ome"],
)
def test_the_frame_rate_comes_from_the_file(tmp_path, description, step_us, said):
    frames = [f[..., 0] for f in _moving(4)]
    path = tmp_path / "stack.tif"
    path.write_bytes(_multi([_grey_page(f, description if k == 0 else b"") for k, f in enumerate(frames)]))  # fmt: skip
    source = TiffStackSource(path)
    np.testing.assert_array_equal(source.timestamps_us, np.arange(4) * step_us)
    assert said in source.describe()["timing"]
    # fps given wins over the file's
    np.testing.assert_array_equal(TiffStackSource(path, fps=100).timestamps_us, np.arange(4) * 10_000)  # fmt: skip


def test_a_stack_without_a_frame_rate_asks_for_one(tmp_path, capsys):
    frames = [f[..., 0] for f in _moving(3)]
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames]))
    out = tmp_path / "out.h5"
    assert simulate_main([str(path), "-o", str(out), "-q"]) == 1
    one_line(capsys.readouterr().err, repr(str(path)), "3 frames", "no frame rate", "pass --fps")
    assert not out.exists()
    with pytest.raises(InputError, match=r"simulate\(TiffStackSource\(.*fps=\.\.\.\)"):
        simulate(str(path))
    with pytest.raises(InputError, match=r"no frame rate.*; pass fps$"):
        TiffStackSource(path)
    # a description that is no ImageJ one, or an ImageJ time unit not known, gives none
    for text in (b"made by a camera\n", b"ImageJ=1.54f\nimages=3\nfinterval=2\ntunit=fortnight\n"):  # fmt: skip
        path.write_bytes(_multi([_grey_page(f, text if k == 0 else b"") for k, f in enumerate(frames)]))  # fmt: skip
        with pytest.raises(InputError, match="no frame rate"):
            TiffStackSource(path)


def test_simulate_writes_a_stack_with_a_progress_count_and_its_source(tmp_path, capsys):
    frames = _moving(5)
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages([(f, {}) for f in frames]))
    out = tmp_path / "out.h5"
    assert simulate_main([str(path), "-o", str(out), "--fps", "100", "-q"]) == 0
    assert "from 5 frames (40x30" in capsys.readouterr().out
    with EventReader(out) as reader:
        assert reader.source["kind"] == "tiff_stack" and reader.source["timing"] == "100 fps"
        assert reader.source["n_frames"] == 5 and reader.attrs["n_frames"] == 5
    # a stack of another name is a stack all the same (not a video OpenCV cannot open)
    other = tmp_path / "stack.lsm"
    other.write_bytes(path.read_bytes())
    assert simulate_main([str(other), "-o", str(out), "--fps", "100", "--force", "-q"]) == 0
    assert "from 5 frames (40x30" in capsys.readouterr().out
    # options of an image motion or a video do not apply
    for extra in (["--motion", "pan"], ["--start-s", "0.01"]):
        assert simulate_main([str(path), "-o", str(out), "--fps", "100", "--force", "-q", *extra]) == 1  # fmt: skip
        one_line(capsys.readouterr().err, extra[0])
    # as one image it is still refused, saying how it is read as frames
    assert simulate_main(["--image", str(path), "-o", str(tmp_path / "x.h5"), "-q"]) == 1
    one_line(capsys.readouterr().err, "5 images", "give the file itself as the input")


def _imagej_one_directory(frames: list[np.ndarray], images: int, compression: int = 1) -> bytes:
    """ImageJ's stack past 4 GiB: one directory, the frames' pixels one after another."""
    text = f"ImageJ=1.54f\nimages={images}\nslices={images}\nfinterval=0.001\n".encode()
    _, tags = _grey_page(frames[0], text, t259=[compression])
    return _multi([([b"".join(f.tobytes() for f in frames)], tags)])


def test_an_imagej_stack_of_one_directory_is_read_frame_by_frame(tmp_path):
    frames = [f[..., 2] for f in _moving(6)]
    path = tmp_path / "big.tif"
    path.write_bytes(_imagej_one_directory(frames, 6))
    source = TiffStackSource(path)
    assert source.n_frames == 6
    got = [frame for frame, _ in source]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))
    np.testing.assert_array_equal(source.timestamps_us, np.arange(6) * 1000)
    assert simulate(str(path), PARAMS).events.tobytes() == _folder_events(tmp_path, frames, 1000, PARAMS)  # fmt: skip


def test_a_truncated_stack_ends_its_events_with_a_warning(tmp_path, capsys):
    frames = [f[..., 2] for f in _moving(6)]
    path = tmp_path / "cut.tif"
    path.write_bytes(_imagej_one_directory(frames, 9))  # says 9, holds 6
    source = TiffStackSource(path)
    assert source.n_frames == 6
    with pytest.warns(sources.VideoDecodeWarning, match="9 images .* holds 6 .truncated"):
        assert len([frame for frame, _ in source]) == 6
    out = tmp_path / "out.h5"
    assert simulate_main([str(path), "-o", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert "from 6 frames" in captured.out
    one_line(captured.err, "warning", "says it holds 9 images")
    # a page of several directories whose pixels lie past the end of the file
    pages = [(f, {}) for f in frames[:5]] + [(frames[5], {273: (4, [1 << 20])})]
    path.write_bytes(_pages(pages))
    source = TiffStackSource(path, fps=50)
    with pytest.warns(sources.VideoDecodeWarning, match="page 6 of 6 runs past the end"):
        assert len([frame for frame, _ in source]) == 5
    assert "truncated" in (source.decode_problem or "")


def test_stacks_whose_pages_are_no_frame_sequence_are_refused(tmp_path):
    frames = [f[..., 2] for f in _moving(4)]
    path = tmp_path / "stack.tif"
    path.write_bytes(_imagej_one_directory(frames, 4, compression=32773))
    with pytest.raises(InputError, match="compressed or scattered"):
        TiffStackSource(path)
    for layout in (b"channels=2\nslices=2", b"slices=2\nframes=2"):
        text = b"ImageJ=1.54f\nimages=4\n" + layout + b"\nfinterval=0.01\n"
        path.write_bytes(_multi([_grey_page(f, text if k == 0 else b"") for k, f in enumerate(frames)]))  # fmt: skip
        with pytest.raises(InputError, match=r"hyperstack of 2 .* x 2 "):
            TiffStackSource(path)


def test_pages_that_are_no_frames_are_left_out(tmp_path):
    """A thumbnail (NewSubfileType 1) or mask (4) after a page is no frame of the stack."""
    frames = [f[..., 0] for f in _moving(3)]
    thumb = frames[0][::2, ::2]
    pages = [(frames[0], {}), (thumb, {254: (4, [1])}), (frames[1], {}), (frames[1], {254: (4, [4])}), (frames[2], {})]  # fmt: skip
    path = tmp_path / "stack.tif"
    path.write_bytes(_pages(pages))
    got = [frame for frame, _ in TiffStackSource(path, fps=10)]
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))


def test_a_stack_longer_than_an_event_file_spans_is_refused_before_simulating(tmp_path, capsys):
    frames = [f[..., 0] for f in _moving(3)]
    path = tmp_path / "slow.tif"
    text = b"ImageJ=1.54f\nimages=3\nfinterval=2000000\n"
    path.write_bytes(_multi([_grey_page(f, text if k == 0 else b"") for k, f in enumerate(frames)]))  # fmt: skip
    out = tmp_path / "out.h5"
    for extra, needles in (([], ["TIFF stack", "finterval=2000000 sec", "4e+06 s apart"]), (["--fps", "1e-7"], ["--fps 1e-07 puts"])):  # fmt: skip
        assert simulate_main([str(path), "-o", str(out), "-q", *extra]) == 1
        one_line(capsys.readouterr().err, *needles, "more than an event file can span")
        assert not out.exists()
