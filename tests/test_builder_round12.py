"""The dataset builder, round 12: a video whose modification time moved with its bytes the same
was refused on resume; a video edited in its middle with its modification time restored was
reused (only its first and last MiB were hashed); a split file given relative to the recipe one
day and by its absolute path the next was "another recipe"; a misspelt split in ``overrides``
was built as one more split; Python readers of an unfinished build did not say, from its lock,
whether it runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_build_round11 import _build, _images, _interrupted

from eventsim.datasets import EventVQADataset, build_dataset, engine, read_manifest, verify_dataset
from eventsim.datasets.loader import unfinished_build
from eventsim.errors import DatasetError, OutputExistsError, RecipeError

from user_media import small_recipe, write_jsonl, write_video


def _video_recipe(folder: Path, n: int = 1, shard_size: int = 64) -> Path:
    """A video recipe in ``folder``: n questions about v.avi."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "v.avi").exists():
        write_video(folder / "v.avi", 25, 20, 2)
    write_jsonl(
        folder / "qa.jsonl",
        [{"video": "v.avi", "time": 0.5, "question": "Q?", "answer": "a"}] * n,
    )
    return small_recipe(folder, "video", "qa.jsonl", shard_size=shard_size, name="r12")


def _touch(path: Path) -> None:
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))


def _flip_keeping_mtime(path: Path, at: int) -> None:
    """Change the byte at ``at`` in place, then put the modification time back."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# ----------------------------------------------------------------------------- videos


def test_a_touched_video_with_the_same_bytes_is_reused(tmp_path):
    recipe = _video_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    video = tmp_path / "v.avi"
    _touch(video)
    summary = _build(recipe, out)
    assert (summary.shards_reused, summary.shards_built) == (1, 0)
    # its record is the file's new state, so the next run does not hash it again
    (line,) = (out / engine.INPUTS_FILE).read_text().splitlines()
    st = video.stat()
    assert json.loads(line)["inputs"][str(video)][:2] == [st.st_size, st.st_mtime_ns]
    assert verify_dataset(out).ok


def test_a_touched_video_with_other_bytes_is_refused_naming_it(tmp_path):
    recipe = _video_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    video = tmp_path / "v.avi"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF
    video.write_bytes(bytes(data))
    _touch(video)
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out)
    text = str(err.value)
    assert str(video) in text and "test-00000.h5" in text
    assert "its modification time" in text and "its sha256 is not the one it was built from" in text


def _big_video(path: Path) -> None:
    """A 640x480 MJPG video of noise, larger than 2 MiB."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25, (640, 480))
    assert writer.isOpened()
    rng = np.random.default_rng(12)
    for _ in range(15):
        writer.write(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    writer.release()
    assert path.stat().st_size > 2 * (1 << 20) + 4096


def test_a_video_edited_in_its_middle_with_its_time_restored_is_refused(tmp_path):
    # only its first and last MiB were hashed: an edit between them passed
    _big_video(tmp_path / "v.avi")
    recipe = _video_recipe(tmp_path)
    out = tmp_path / "ds"
    _build(recipe, out)
    video = tmp_path / "v.avi"
    _flip_keeping_mtime(video, video.stat().st_size // 2)
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out)
    text = str(err.value)
    assert str(video) in text and "same size and modification time" in text
    assert "its sha256 is not the one it was built from" in text


def test_a_video_is_hashed_once_per_build_and_not_on_a_resume_that_finds_it_unchanged(
    tmp_path, monkeypatch
):
    # three shards read one video: hashed once for all of them (the digests remembered for
    # the bytes a state describes), and not again while its state is the one logged
    recipe = _video_recipe(tmp_path, n=3, shard_size=1)
    video = str(tmp_path / "v.avi")
    hashed: list[str] = []
    real = engine.file_digest

    def counting(path):
        if str(path) == video:
            hashed.append(str(path))
        return real(path)

    # a resume hashes a moved video in a thread of its own (`engine._hash_file`)
    real_in_thread = engine._hash_file

    def counting_in_thread(path, *args):
        if str(path) == video:
            hashed.append(str(path))
        return real_in_thread(path, *args)

    monkeypatch.setattr(engine, "file_digest", counting)
    monkeypatch.setattr(engine, "_hash_file", counting_in_thread)
    out = tmp_path / "ds"
    _build(recipe, out)
    assert hashed == [video]
    logged = [json.loads(x) for x in (out / engine.INPUTS_FILE).read_text().splitlines()]
    assert len({json.dumps(e["inputs"][video]) for e in logged}) == 1
    assert logged[0]["inputs"][video][4] == real(Path(video))[0]
    hashed.clear()
    assert _build(recipe, out).shards_reused == 3
    assert hashed == []
    # moved: hashed once more for the three shards
    _touch(tmp_path / "v.avi")
    assert _build(recipe, out).shards_reused == 3
    assert hashed == [video]


# ----------------------------------------------------------------------------- split file paths


def _absolute(recipe: Path) -> dict[str, str]:
    return {"splits.test": str(recipe.parent / "qa.jsonl")}


def test_an_unfinished_build_resumes_with_its_split_file_given_by_its_absolute_path(
    tmp_path, monkeypatch
):
    recipe = _images(tmp_path / "rec")
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out)
    summary = _build(recipe, out, overrides=_absolute(recipe))
    assert (summary.shards_reused, summary.shards_built) == (1, 2)
    assert verify_dataset(out).ok


def test_a_finished_dataset_is_finished_again_with_the_split_file_given_otherwise(tmp_path):
    recipe = _images(tmp_path / "rec")
    out = tmp_path / "ds"
    _build(recipe, out)
    samples = (out / "samples.jsonl").read_bytes()
    summary = _build(recipe, out, overrides=_absolute(recipe))
    assert (summary.shards_reused, summary.shards_built) == (3, 0)
    assert _build(recipe, out).shards_reused == 3
    assert (out / "samples.jsonl").read_bytes() == samples
    # source.root likewise
    out = tmp_path / "rooted"
    _build(recipe, out, overrides={"source.root": "."})
    summary = _build(recipe, out, overrides={"source.root": str(recipe.parent)})
    assert (summary.shards_reused, summary.shards_built) == (3, 0)


def test_a_split_file_of_the_same_bytes_in_another_place_is_still_another_recipe(tmp_path):
    recipe = _images(tmp_path / "rec")
    out = tmp_path / "ds"
    _build(recipe, out)
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(recipe.parent / "qa.jsonl", other / "qa.jsonl")
    for name in ("a.png", "b.png"):
        shutil.copy(recipe.parent / name, other / name)
    with pytest.raises(OutputExistsError, match=r"another recipe \(splits\.test is "):
        _build(recipe, out, overrides={"splits.test": str(other / "qa.jsonl")})


def test_a_split_file_written_otherwise_is_no_difference_named_when_another_field_differs(
    tmp_path, monkeypatch
):
    recipe = _images(tmp_path / "rec")
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out)
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out, overrides={**_absolute(recipe), "dataset.seed": "9"})
    assert "dataset.seed is" in str(err.value) and "splits.test" not in str(err.value)
    # a finished dataset's places are those of its recipe file's folder
    shutil.rmtree(out)
    _build(recipe, out)
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out, overrides={**_absolute(recipe), "dataset.seed": "9"})
    assert "dataset.seed is" in str(err.value) and "splits.test" not in str(err.value)


# ----------------------------------------------------------------------------- overrides


def test_a_misspelt_split_in_overrides_is_refused_naming_the_valid_ones(tmp_path, shapes_recipe):
    recipe = shapes_recipe(tmp_path / "r.toml", train=2, test=2)
    out = tmp_path / "ds"
    with pytest.raises(RecipeError) as err:
        build_dataset(recipe, out, overrides={"splits.tset": 3}, progress=False)
    text = str(err.value)
    assert "no split 'tset'" in text and "its splits: train, test" in text
    assert text.endswith("did you mean 'test'?")
    assert not out.exists()
    # a split the recipe has is overridden as before
    summary = build_dataset(recipe, out, overrides={"splits.test": 1}, progress=False)
    assert summary.samples == {"train": 2, "test": 1}


def test_a_recipe_without_splits_takes_them_from_overrides(tmp_path):
    recipe = {
        "dataset": {"name": "no-splits"},
        "source": {"object_size_px": [8, 12], "target_size_px": [8, 12]},
        "camera": {"width": 64, "height": 48},
    }
    summary = build_dataset(
        recipe, tmp_path / "ds", overrides={"splits.test": 1}, progress=False, limit=1
    )
    assert summary.samples == {"test": 1}


# ----------------------------------------------------------------------------- readers


def _stopped(tmp_path: Path) -> Path:
    folder = tmp_path / "ds"
    (folder / "shards").mkdir(parents=True)
    (folder / ".build-state.json").write_text("{}\n")
    return folder


def test_python_readers_of_a_stopped_build_say_it_as_info_does(tmp_path):
    folder = _stopped(tmp_path)
    told = unfinished_build(folder)
    assert told is not None and "was interrupted or failed" in told
    for read in (read_manifest, EventVQADataset):
        with pytest.raises(DatasetError) as err:
            read(folder)
        assert str(err.value) == told
    with pytest.raises(DatasetError) as err:
        read_manifest(folder / "shards")
    assert str(err.value) == unfinished_build(folder / "shards")
    assert "is a folder inside" in str(err.value)


def test_python_readers_of_a_running_build_say_it_runs(tmp_path):
    folder = _stopped(tmp_path)
    with engine._build_lock(folder) as locked:
        assert locked
        with pytest.raises(DatasetError) as err:
            EventVQADataset(folder)
    assert f"is running (pid {os.getpid()}); wait for it to finish" in str(err.value)
    assert "interrupted" not in str(err.value)
