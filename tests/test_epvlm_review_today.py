"""Second look at the epvlm changes of one day (checkpoint checks, image reading, devices):
cases where a change refused or altered what was right before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.loading import check_weight_files, checkpoint_keys, load_pretrained_model  # noqa: E402
from epvlm.tiny import save_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def single_file(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("single") / "ckpt", ["what is it"])


def _with_stale_index(single_file: Path, folder: Path, shards: str) -> Path:
    """``single_file`` plus a model.safetensors.index.json left over from a sharded save, naming
    shards that are gone (``shards="absent"``) or cut short (``"cut"``)."""
    shutil.copytree(single_file, folder)
    keys = checkpoint_keys(folder)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {k: names[i % 2] for i, k in enumerate(keys)}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 1}, "weight_map": weight_map})
    )
    if shards == "cut":
        whole = (folder / "model.safetensors").read_bytes()
        for name in names:
            (folder / name).write_bytes(whole[: len(whole) // 3])
    return folder


@pytest.mark.parametrize("shards", ["absent", "cut"])
def test_a_single_weight_file_wins_over_an_index_beside_it_as_in_transformers(
    single_file, tmp_path, shards
):
    """transformers loads model.safetensors whenever a folder has one and ignores an index
    beside it; the header check read the index first and refused such a folder (its shards
    missing or damaged) although stock transformers loads it whole."""
    from transformers import Qwen2VLForConditionalGeneration

    folder = _with_stale_index(single_file, tmp_path / "ckpt", shards)
    stock = Qwen2VLForConditionalGeneration.from_pretrained(folder).state_dict()
    check_weight_files(folder)
    ours = load_pretrained_model(folder).state_dict()
    assert ours.keys() == stock.keys()
    assert all(torch.equal(ours[k], stock[k]) for k in ours)
    # the names an error message quotes are those of the file that is read
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert checkpoint_keys(folder) == sorted(f.keys())


def test_a_16_bit_transparent_png_gives_the_pixels_stock_transformers_gets(tmp_path):
    """PIL (and so transformers' image loading) reads a 16-bit RGBA PNG as 8-bit RGBA, its
    alpha the high byte; blending by the full 16-bit alpha gave pixels one level off stock on
    about one in seven pixels of a random image. The colour read already matched."""
    import cv2
    import numpy as np
    from PIL import Image
    from transformers.image_transforms import convert_to_rgb

    from epvlm.cli import _read_image

    bgra = np.random.default_rng(0).integers(0, 65536, (40, 50, 4), dtype=np.uint16)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), bgra)
    stock = convert_to_rgb(Image.open(path), return_numpy=True)
    assert np.array_equal(_read_image(str(path)), stock)


@pytest.mark.parametrize("orientation", [2, 3, 4])
def test_a_tiff_with_an_orientation_tag_is_turned_once(tmp_path, orientation):
    """OpenCV's TIFF decoder applies the orientation tag even with IMREAD_IGNORE_ORIENTATION;
    turning the image again by the tag's value mirrored or flipped it back (before today's
    change the read was upright, as PIL's exif_transpose makes it)."""
    import numpy as np
    from PIL import Image, ImageOps

    from epvlm.cli import _read_image

    pixels = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.tif"
    Image.fromarray(pixels).save(path, exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(_read_image(str(path)), upright)
