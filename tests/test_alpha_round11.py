"""Round 11: images with transparency. eventsim's reader dropped the alpha channel, so
`eventsim simulate --image`, frame folders and dataset builds simulated (and stored) whatever
colour lay under transparent pixels, while `epvlm run --image` blended them onto white. The
reader now blends onto white itself (`composite_on_white`), as Pillow and so transformers'
processors do, and `epvlm run` reads through it."""

from __future__ import annotations

import io

import cv2
import h5py
import hdf5plugin  # noqa: F401  (the frames are Blosc-compressed)
import numpy as np
import pytest

from eventsim.simulator.sources import composite_on_white, decode_image, read_image

from user_media import small_recipe, write_jsonl


def _logo(h: int = 224, w: int = 224) -> np.ndarray:
    """RGBA: fully transparent with black under it, an opaque red square in the middle."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (255, 0, 0, 255)
    return rgba


def _png(path, rgba: np.ndarray):
    """``rgba`` (RGB or grey, alpha last; 8- or 16-bit) written as PNG by OpenCV."""
    colour = rgba[..., :-1]
    bgr = colour[..., ::-1] if colour.shape[2] == 3 else np.repeat(colour, 3, axis=2)
    assert cv2.imwrite(str(path), np.dstack([bgr, rgba[..., -1]]))
    return path


def test_a_transparent_png_is_read_on_white(tmp_path):
    rgba = _logo()
    path = _png(tmp_path / "logo.png", rgba)
    got = read_image(path)
    assert got.dtype == np.uint8 and got.shape == (224, 224, 3)
    assert (got[:56] == 255).all() and (got[:, :56] == 255).all()  # was black
    assert (got[112, 112] == (255, 0, 0)).all()
    np.testing.assert_array_equal(decode_image(path.read_bytes(), "logo.png"), got)


def test_simulate_image_stores_and_simulates_the_white_background(tmp_path):
    """The repro: `eventsim simulate --image logo.png --save-frames` stored black frames
    around the square, and its events came from black."""
    from eventsim.cli import main

    path = _png(tmp_path / "logo.png", _logo(96, 96))
    out = tmp_path / "logo.h5"
    args = ["simulate", "--image", str(path), "-o", str(out), "--save-frames", "-q"]
    assert main([*args, "--duration-ms", "60"]) == 0
    with h5py.File(out) as f:
        frames = f["frames"][:]
    assert (frames[:, :10, :10] == 255).all()
    # the same picture on white as an opaque image: the same events and frames
    on_white = _logo(96, 96)[..., :3].copy()
    on_white[_logo(96, 96)[..., 3] == 0] = 255
    opaque = tmp_path / "opaque.png"
    assert cv2.imwrite(str(opaque), on_white[..., ::-1])
    out2 = tmp_path / "opaque.h5"
    args = ["simulate", "--image", str(opaque), "-o", str(out2), "--save-frames", "-q"]
    assert main([*args, "--duration-ms", "60"]) == 0
    with h5py.File(out) as a, h5py.File(out2) as b:
        for key in ("events/x", "events/y", "events/t", "events/p", "frames"):
            np.testing.assert_array_equal(a[key][:], b[key][:], err_msg=key)


def test_a_dataset_build_and_epvlm_run_see_the_same_pixels(tmp_path):
    """A dataset built from a transparent image stored it on black while `epvlm run` read it
    on white; nothing warned."""
    from epvlm.cli import _read_image
    from eventsim.datasets import EventVQADataset, build_dataset

    _png(tmp_path / "logo.png", _logo(48, 64))
    record = {"image": "logo.png", "question": "what colour?", "answer": "red"}
    write_jsonl(tmp_path / "test.jsonl", [record])
    recipe = small_recipe(tmp_path, "image", "test.jsonl", name="alpha11")
    out = tmp_path / "built"
    build_dataset(recipe, out, progress=False)
    image = np.asarray(EventVQADataset(out, split="test")[0]["image"])
    assert image.shape == (48, 64, 3)
    # the stored frame is the camera's last, moved by the saccade: red, white and their
    # blends, never the black under the transparent pixels
    assert (image[..., 0] == 255).all() and (image[:4, :4] == 255).all()
    seen = _read_image(str(tmp_path / "logo.png"))
    assert (seen[..., 0] == 255).all() and (seen[:4, :4] == 255).all()


def test_the_blend_is_transformers_and_pils(tmp_path):
    """8-bit RGBA, grey + alpha and palette transparency give the pixels stock transformers
    gets (PIL's RGBA conversion blended onto white); 16-bit the same as its high byte."""
    pil = pytest.importorskip("PIL.Image")
    image_transforms = pytest.importorskip("transformers.image_transforms")

    from epvlm.cli import _read_image

    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    la = rng.integers(0, 256, (20, 30, 2), dtype=np.uint8)
    deep = rng.integers(0, 65536, (20, 30, 4), dtype=np.uint16)
    palette = pil.new("P", (30, 20))
    palette.putpalette([255, 0, 0, 0, 0, 255])
    palette.paste(1, (0, 0, 15, 20))
    for name, write in (
        ("rgba.png", lambda p: _png(p, rgba)),
        ("la.png", lambda p: pil.fromarray(la, "LA").save(p)),
        ("deep.png", lambda p: _png(p, deep)),
        ("palette.png", lambda p: palette.save(p, transparency=0)),
        ("rgba.webp", lambda p: pil.fromarray(rgba, "RGBA").save(p, lossless=True)),
    ):
        path = tmp_path / name
        write(path)
        stock = image_transforms.convert_to_rgb(pil.open(path), return_numpy=True)
        got = read_image(path)
        as_rgb = np.repeat(got[..., None], 3, axis=2) if got.ndim == 2 else got
        high = (np.round(as_rgb * 257.0).astype(np.uint16) >> 8).astype(np.uint8)
        assert np.abs(high.astype(int) - stock.astype(int)).max() <= 1, name
        np.testing.assert_array_equal(_read_image(str(path)), high, err_msg=name)
    # PIL's own integer blend rounds its own way; epvlm's matches transformers' to the level
    np.testing.assert_array_equal(
        read_image(tmp_path / "rgba.png"),
        composite_on_white(rgba[..., :3], rgba[..., 3]),
    )


def test_a_16_bit_image_keeps_its_depth_where_it_is_opaque(tmp_path):
    deep = np.random.default_rng(3).integers(0, 65536, (6, 8, 4), dtype=np.uint16)
    deep[:3, :, 3] = 65535
    deep[3:, :, 3] = 0
    got = read_image(_png(tmp_path / "deep.png", deep))
    np.testing.assert_array_equal(got[:3], deep[:3, :, :3] / 257.0)
    assert (got[3:] == 255.0).all()  # was the colour under them, at 16 bits


@pytest.mark.parametrize("bits", [8, 16])
def test_an_opaque_alpha_changes_nothing_and_a_clear_pixel_only_itself(tmp_path, bits):
    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    rgb = np.random.default_rng(bits).integers(0, top + 1, (10, 12, 3), dtype=dtype)
    plain = tmp_path / "plain.png"
    assert cv2.imwrite(str(plain), rgb[..., ::-1])
    rgba = np.dstack([rgb, np.full((10, 12), top, dtype)])
    a = read_image(_png(tmp_path / "opaque.png", rgba))
    b = read_image(plain)
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    rgba[4, 5, 3] = 0
    c = read_image(_png(tmp_path / "clear.png", rgba))
    assert (c[4, 5] == 255).all()
    c[4, 5] = b[4, 5]
    assert c.tobytes() == b.tobytes()


def _tiff_grey_alpha(la: np.ndarray, compression: str | None = None) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(la, "LA").save(out, "TIFF", compression=compression)
    return out.getvalue()


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "jpeg"])
def test_a_grey_and_alpha_tiff_is_read_on_white_as_its_png(tmp_path, compression):
    la = np.zeros((8, 16, 2), np.uint8)
    la[..., 0] = 40
    la[:4, :, 1] = 255
    la[4:6, :, 1] = 128
    data = _tiff_grey_alpha(la, compression)
    got = decode_image(data, "la.tif")
    png = read_image(_png(tmp_path / "la.png", la))
    if compression == "jpeg":  # lossy, its alpha too: only near the PNG (was 40, not ~255)
        assert np.abs(got.astype(int) - png[..., 0].astype(int)).max() <= 4
        assert got[6:].min() >= 245
    else:
        assert (got[6:] == 255).all()  # fully transparent: white (was 40)
        np.testing.assert_array_equal(got, png[..., 0])


def test_an_rgba_tiff_only_pillow_decodes_is_read_on_white_as_its_png(tmp_path):
    """Pillow was given the bytes whose alpha was unmarked for OpenCV, and read it as RGBX.
    (An OpenCV that decodes LZMA itself must give the same.)"""
    from user_media import tiff_bytes

    rgba = np.random.default_rng(5).integers(0, 256, (6, 10, 4), dtype=np.uint8)
    rgba[:3, :, 3] = 0
    data = tiff_bytes(rgba, compression=34925)  # LZMA, ExtraSamples 2
    got = decode_image(data, "lzma.tif")
    assert (got[:3] == 255).all()
    np.testing.assert_array_equal(got, read_image(_png(tmp_path / "same.png", rgba)))


def test_a_frame_folder_of_transparent_images_simulates_them_on_white(tmp_path):
    from eventsim.simulator.sources import FolderSource

    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        rgba = _logo(32, 32)
        rgba[..., 3] = np.where(rgba[..., 3] == 0, 0, 255)
        rgba[:, k] = (0, 0, 0, 0)
        _png(folder / f"{k:03d}.png", rgba)
    frames = [frame for frame, _ in FolderSource(folder, fps=30)]
    assert all((f[0, 0] == 255).all() for f in frames)
