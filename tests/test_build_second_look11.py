"""`eventsim build`, a second look at round 11's resume checks: an image over 2 MiB replaced
(``cp -p``) by one of its size that differs between its first and last MiB was reused, its
ends being all that was compared though its samples record its whole sha256; a recipe that sat
beside (or above) the split file it names by absolute path was refused once moved alone, the
fingerprint naming its split files relative to the recipe's folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset, engine
from eventsim.errors import OutputExistsError

from user_media import small_recipe, textured, write_jsonl


def _all_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _build(recipe: Path, out: Path, **kwargs):
    return build_dataset(recipe, out, progress=False, **kwargs)


def _interrupted(monkeypatch, recipe: Path, out: Path) -> None:
    """A build of ``recipe`` stopped by Ctrl-C as it starts its second shard."""
    real = engine.run_shard

    def run(task, *args, **kwargs):
        if task.shard >= 1:
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", run)
    with pytest.raises(KeyboardInterrupt):
        _build(recipe, out)
    monkeypatch.undo()


def _replace_keeping_times(path: Path, data: bytes) -> None:
    """Put another file holding ``data`` in ``path``'s place with its times (``cp -p``)."""
    new = path.with_name(path.name + ".new")
    new.write_bytes(data)
    shutil.copystat(path, new)
    os.replace(new, path)


def _big_bmp_recipe(folder: Path) -> tuple[Path, Path]:
    # an uncompressed image: an edit of its middle rows leaves its size and both ends alone
    image = folder / "big.bmp"
    cv2.imwrite(str(image), textured(3, 1024, 1024))
    assert image.stat().st_size > 2 << 20
    write_jsonl(folder / "qa.jsonl", [{"image": "big.bmp", "question": "Q?", "answer": "a"}])
    return small_recipe(folder, "image", "qa.jsonl", name="sl11"), image


def test_an_image_replaced_keeping_its_size_times_and_ends_is_refused(tmp_path):
    recipe, image = _big_bmp_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF
    _replace_keeping_times(image, bytes(data))
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out)
    text = str(err.value)
    assert str(image) in text and "same size and modification time" in text
    assert "its sha256 is not the one it was built from" in text


def test_an_image_copy_that_kept_its_times_is_reused(tmp_path):
    recipe, image = _big_bmp_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    _replace_keeping_times(image, image.read_bytes())
    assert _build(recipe, out).shards_reused == 1
    (line,) = (out / engine.INPUTS_FILE).read_text().splitlines()
    st = image.stat()
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    assert json.loads(line)["inputs"][str(image)] == [
        st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, sha,
    ]  # fmt: skip
    (record,) = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert record["meta"]["image_sha256"] == sha


def test_an_image_whose_samples_were_all_skipped_is_reused_after_its_change_time_moved(
    tmp_path,
):
    # `chmod` moves a file's change time: an image none of whose samples was built recorded
    # no sha256 in them, and was refused ("no sha256 of it was recorded to compare")
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": x, "question": "Q?", "answer": "a"} for x in ("a.png", "bad.png")],
    )
    recipe = small_recipe(tmp_path, "image", "qa.jsonl", shard_size=1, name="sl11")
    out = tmp_path / "ds"
    assert _build(recipe, out).errors == {"test": 1}
    before = _all_bytes(out)
    os.chmod(tmp_path / "bad.png", 0o600)
    assert _build(recipe, out).shards_reused == 2
    # its record renewed, the rest as it was
    assert {k: v for k, v in _all_bytes(out).items() if k != engine.INPUTS_FILE} == {
        k: v for k, v in before.items() if k != engine.INPUTS_FILE
    }
    (tmp_path / "bad.png").write_bytes(b"not an image either")  # another size
    shutil.copystat(tmp_path / "a.png", tmp_path / "bad.png")
    with pytest.raises(OutputExistsError, match=r"bad\.png"):
        _build(recipe, out)


def test_a_recipe_beside_its_split_file_named_by_absolute_path_resumes_once_moved(
    tmp_path, monkeypatch
):
    # refused as another recipe ("split file '/…/qa.jsonl' is new, its split file 'qa.jsonl'
    # is no longer read"): the same file, named from the recipe's old and new folders
    data = tmp_path / "data"
    data.mkdir()
    for name, seed in (("a.png", 1), ("b.png", 2)):
        cv2.imwrite(str(data / name), textured(seed, 64, 48))
    write_jsonl(
        data / "qa.jsonl",
        [{"image": x, "question": "Q?", "answer": "a"} for x in ("a.png", "b.png", "a.png")],
    )
    recipe = small_recipe(data, "image", str(data / "qa.jsonl"), shard_size=1, name="sl11")
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out)
    moved = Path(shutil.move(recipe, tmp_path / "r.toml"))
    summary = _build(moved, out)
    assert (summary.shards_reused, summary.shards_built) == (1, 2)
    full = tmp_path / "full"
    _build(moved, full)
    assert _all_bytes(out) == _all_bytes(full)


def test_a_dataset_of_another_fingerprint_rule_from_the_same_recipe_file_is_not_called_moved(
    tmp_path,
):
    # an eventsim of the same version number whose fingerprint covered the recipe's folder
    # (0.2.6) built it: the refusal said it was read from another place, naming this very file
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    write_jsonl(tmp_path / "qa.jsonl", [{"image": "a.png", "question": "Q?", "answer": "a"}])
    recipe = small_recipe(tmp_path, "image", "qa.jsonl", name="sl11")
    out = tmp_path / "ds"
    _build(recipe, out)
    manifest = json.loads((out / "dataset.json").read_text())
    manifest["recipe_fingerprint"] = "0" * 64
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out)
    text = str(err.value)
    assert "its recipe file was" not in text
    assert "same fields, but built by another eventsim or read from another place" in text
