"""`eventsim build`, round 11: a --limit that left no sample out was recorded in dataset.json
(so a caller that reuses such a dataset as complete kept claiming it, and it differed from the
full build); an input replaced by another file of the same size with its modification time kept
(``cp -p``, ``rsync -t``) was taken as unchanged on resume; a recipe moved to another folder was
refused even where its samples would be the same bytes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset, engine, verify_dataset
from eventsim.errors import OutputExistsError

from user_media import small_recipe, textured, write_jsonl, write_video


def _all_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _manifest(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())


def _build(recipe: Path, out: Path, **kwargs):
    return build_dataset(recipe, out, progress=False, **kwargs)


def _interrupted(monkeypatch, recipe: Path, out: Path, stop_at: int = 1) -> None:
    """A build of ``recipe`` stopped by Ctrl-C as it starts shard ``stop_at``."""
    real = engine.run_shard

    def run(task, *args, **kwargs):
        if task.shard >= stop_at:
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", run)
    with pytest.raises(KeyboardInterrupt):
        _build(recipe, out)
    monkeypatch.undo()


def _images(folder: Path, n: int = 3) -> Path:
    """An image recipe in ``folder``: n samples of a.png and b.png in turn, a shard each."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, seed in (("a.png", 1), ("b.png", 2)):
        cv2.imwrite(str(folder / name), textured(seed, 64, 48))
    names = ["a.png", "b.png"] * n
    write_jsonl(
        folder / "qa.jsonl", [{"image": x, "question": "Q?", "answer": "a"} for x in names[:n]]
    )
    return small_recipe(folder, "image", "qa.jsonl", shard_size=1, name="r11")


# ----------------------------------------------------------------------------- limit


def test_a_limit_that_leaves_no_sample_out_is_the_full_build_byte_for_byte(tmp_path, shapes_recipe):
    # it was recorded ("limit": 4) though the dataset is the whole one, so dataset.json kept
    # claiming a limit wherever such a build was taken as complete (epvlm demo reuses it)
    recipe = shapes_recipe(tmp_path / "r.toml", train=3, test=4, shard=2)
    full, out = tmp_path / "full", tmp_path / "ds"
    _build(recipe, full)
    _build(recipe, out, limit=4)
    assert _manifest(out)["limit"] is None
    assert _all_bytes(out) == _all_bytes(full)


def test_a_limit_at_a_split_files_size_is_recorded_as_none_and_a_smaller_one_as_given(tmp_path):
    recipe = _images(tmp_path / "rec")
    _build(recipe, tmp_path / "at", limit=3)
    assert _manifest(tmp_path / "at")["limit"] is None
    _build(recipe, tmp_path / "below", limit=2)
    assert _manifest(tmp_path / "below")["limit"] == 2
    assert _manifest(tmp_path / "below")["samples"] == {"test": 2}


def test_a_rerun_without_the_limit_records_none(tmp_path, shapes_recipe):
    recipe = shapes_recipe(tmp_path / "r.toml", test=4, shard=2)
    out = tmp_path / "ds"
    _build(recipe, out, limit=3)
    assert _manifest(out)["limit"] == 3
    assert _build(recipe, out).shards_reused == 1
    assert _manifest(out)["limit"] is None and verify_dataset(out).ok


# ----------------------------------------------------------------------------- replaced inputs


def _replace_keeping_times(path: Path, data: bytes) -> None:
    """Put a file holding ``data`` at ``path`` as ``cp -p`` or ``rsync -t`` would: another
    file, with the old one's modification time."""
    st = path.stat()
    other = path.with_name(f"other-{path.name}")
    other.write_bytes(data)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    shutil.copy2(other, path.with_name(f".{path.name}.tmp"))
    os.replace(path.with_name(f".{path.name}.tmp"), path)
    other.unlink()


def _same_size_other_bytes(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    return bytes(data)


def test_an_image_replaced_by_one_of_its_size_and_time_is_refused(tmp_path):
    recipe = _images(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    _replace_keeping_times(tmp_path / "b.png", _same_size_other_bytes(tmp_path / "b.png"))
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out)
    text = str(err.value)
    assert str(tmp_path / "b.png") in text and "test-00001.h5" in text
    assert "same size and modification time" in text and "force=True" in text


def _video_recipe(folder: Path) -> Path:
    write_video(folder / "v.avi", 25, 20, 2)
    write_jsonl(
        folder / "qa.jsonl", [{"video": "v.avi", "time": 0.5, "question": "Q?", "answer": "a"}]
    )
    return small_recipe(folder, "video", "qa.jsonl", name="r11")


def test_a_video_replaced_by_one_of_its_size_and_time_is_refused(tmp_path):
    recipe = _video_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    _replace_keeping_times(tmp_path / "v.avi", _same_size_other_bytes(tmp_path / "v.avi"))
    with pytest.raises(
        OutputExistsError, match=r"v\.avi.*its sha256 is not the one it was built from"
    ):
        _build(recipe, out)


def test_a_copy_that_kept_its_times_is_reused_and_then_not_read_again(tmp_path, monkeypatch):
    recipe = _video_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    video = tmp_path / "v.avi"
    _replace_keeping_times(video, video.read_bytes())
    assert _build(recipe, out).shards_reused == 1
    (line,) = (out / engine.INPUTS_FILE).read_text().splitlines()
    st = video.stat()
    assert json.loads(line)["inputs"][str(video)][:4] == [
        st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
    ]  # fmt: skip
    digests: list[str] = []
    real = engine.file_digest
    monkeypatch.setattr(engine, "file_digest", lambda p: digests.append(p) or real(p))
    assert _build(recipe, out).shards_reused == 1
    assert digests == []


def test_a_log_record_of_another_form_has_its_shard_rebuilt(tmp_path):
    recipe = _images(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    lines = (out / engine.INPUTS_FILE).read_text().splitlines()
    entry = json.loads(lines[1])
    entry["inputs"] = {k: v[:3] for k, v in entry["inputs"].items()}
    lines[1] = json.dumps(entry)
    (out / engine.INPUTS_FILE).write_text("\n".join(lines) + "\n")
    summary = _build(recipe, out)
    assert (summary.shards_reused, summary.shards_built) == (2, 1)
    assert verify_dataset(out).ok


# ----------------------------------------------------------------------------- moved folders


def test_a_moved_dataset_folder_resumes(tmp_path, monkeypatch):
    recipe = _images(tmp_path / "rec")
    _interrupted(monkeypatch, recipe, tmp_path / "ds")
    shutil.move(tmp_path / "ds", tmp_path / "moved")
    summary = _build(recipe, tmp_path / "moved")
    assert (summary.shards_reused, summary.shards_built) == (1, 2)
    assert verify_dataset(tmp_path / "moved").ok


def test_a_moved_recipe_reading_its_split_file_from_the_same_place_resumes(tmp_path, monkeypatch):
    # refused as "another recipe (same fields, but another eventsim version or recipe
    # folder)": the recipe's folder counted, though no sample records it
    data = tmp_path / "data"
    recipe = _images(data)
    where = {"splits.test": str(data / "qa.jsonl")}
    first = tmp_path / "a" / "r.toml"
    first.parent.mkdir()
    first.write_text(recipe.read_text().replace('"qa.jsonl"', json.dumps(where["splits.test"])))
    out = tmp_path / "ds"
    _interrupted(monkeypatch, first, out)
    moved = tmp_path / "b" / "r.toml"
    moved.parent.mkdir()
    shutil.move(first, moved)
    summary = _build(moved, out)
    assert (summary.shards_reused, summary.shards_built) == (1, 2)
    full = tmp_path / "full"
    _build(moved, full)
    assert _all_bytes(out) == _all_bytes(full)


def test_a_moved_recipe_folder_with_its_split_file_is_refused_saying_where_it_was(
    tmp_path, monkeypatch
):
    # its samples record their split file by path: resumed, the dataset would name two
    recipe = _images(tmp_path / "rec")
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out)
    shutil.move(tmp_path / "rec", tmp_path / "moved")
    with pytest.raises(OutputExistsError) as err:
        _build(tmp_path / "moved" / recipe.name, out)
    assert (
        f"read from another place: splits.test is {str(tmp_path / 'rec' / 'qa.jsonl')!r} "
        f"there, {str(tmp_path / 'moved' / 'qa.jsonl')!r} here"
    ) in str(err.value)


def test_a_moved_recipe_whose_split_file_changed_is_refused_naming_the_file(tmp_path, monkeypatch):
    recipe = _images(tmp_path / "rec")
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out)
    shutil.move(tmp_path / "rec", tmp_path / "moved")
    with open(tmp_path / "moved" / "qa.jsonl", "a") as fh:
        fh.write(json.dumps({"image": "a.png", "question": "Q?", "answer": "b"}) + "\n")
    with pytest.raises(OutputExistsError, match=r"its split file 'qa\.jsonl' changed"):
        _build(tmp_path / "moved" / recipe.name, out)


def test_a_moved_shapes_recipe_resumes(tmp_path, monkeypatch, shapes_recipe):
    recipe = shapes_recipe(tmp_path / "r.toml", test=4, shard=2)
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out)
    (tmp_path / "elsewhere").mkdir()
    moved = Path(shutil.move(recipe, tmp_path / "elsewhere" / "r.toml"))
    assert _build(moved, out).shards_reused == 1
