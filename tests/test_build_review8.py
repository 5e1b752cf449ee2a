"""Findings of the eighth review of `eventsim build`: an image or video replaced between a build
and its resumption was mixed into one dataset with samples of the file it replaced, and the
cross-split repeat warning took two different images asked the same question under the same id
for one record in two splits."""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset, engine
from eventsim.datasets.inspection import split_repeats
from eventsim.errors import OutputExistsError

from user_media import small_recipe, textured, write_jsonl, write_video

_recipe = functools.partial(small_recipe, name="r8")


def _two_images(tmp_path: Path) -> Path:
    """An image recipe of two samples, one shard each: a.png, then b.png."""
    for name, seed in (("a.png", 1), ("b.png", 2)):
        cv2.imwrite(str(tmp_path / name), textured(seed))
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": n, "question": "Q?", "answer": "yes"} for n in ("a.png", "b.png")],
    )
    return _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=1)


def _replace(path: Path, seed: int) -> None:
    """Another image in ``path``'s place, its modification time moved on (a coarse clock)."""
    before = path.stat().st_mtime_ns
    cv2.imwrite(str(path), textured(seed))
    os.utime(path, ns=(before + 10**9, before + 10**9))


def _stop_after_first_shard(monkeypatch) -> None:
    real = engine.run_shard

    def stop(task, *args, **kwargs):
        if task.shard >= 1:
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", stop)


def test_resuming_after_an_input_image_was_replaced_is_refused(tmp_path, monkeypatch):
    recipe = _two_images(tmp_path)
    out = tmp_path / "ds"
    _stop_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.undo()
    _replace(tmp_path / "a.png", 7)
    with pytest.raises(OutputExistsError) as err:
        build_dataset(recipe, out, progress=False)
    text = str(err.value)
    assert str(tmp_path / "a.png") in text and "test-00000.h5" in text
    assert "force=True" in text
    # refused before anything changed: the finished shard is still there to be replaced
    assert (out / "shards" / "test-00000.h5").is_file()
    summary = build_dataset(recipe, out, progress=False, force=True)
    assert summary.shards_built == 2


def test_finishing_a_dataset_again_after_its_image_changed_is_refused(tmp_path):
    recipe = _two_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    # the same inputs: finished again from its own shards
    assert build_dataset(recipe, out, progress=False).shards_reused == 2
    _replace(tmp_path / "b.png", 8)
    with pytest.raises(OutputExistsError, match=r"test-00001\.h5.*b\.png"):
        build_dataset(recipe, out, progress=False)


def test_an_input_that_was_missing_and_now_exists_is_a_change(tmp_path):
    recipe = _two_images(tmp_path)
    (tmp_path / "b.png").unlink()
    out = tmp_path / "ds"
    assert build_dataset(recipe, out, progress=False).n_errors == 1
    cv2.imwrite(str(tmp_path / "b.png"), textured(2))
    with pytest.raises(OutputExistsError, match="did not exist"):
        build_dataset(recipe, out, progress=False)


def test_a_build_without_recorded_inputs_still_resumes(tmp_path, monkeypatch):
    """A build begun by an eventsim that kept no inputs log is resumed as before, unchecked."""
    recipe = _two_images(tmp_path)
    out = tmp_path / "ds"
    _stop_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.undo()
    (out / engine.INPUTS_FILE).unlink()
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_reused, summary.shards_built) == (1, 1)
    # and finished again later, still from its shards
    assert build_dataset(recipe, out, progress=False).shards_reused == 2


def test_resuming_with_unchanged_inputs_reuses_and_records_every_shard(tmp_path, monkeypatch):
    recipe = _two_images(tmp_path)
    out = tmp_path / "ds"
    _stop_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.undo()
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_reused, summary.shards_built) == (1, 1)
    lines = [json.loads(x) for x in (out / engine.INPUTS_FILE).read_text().splitlines()]
    assert [x["shard"] for x in lines] == ["test-00000.h5", "test-00001.h5"]
    assert list(lines[1]["inputs"]) == [str(tmp_path / "b.png")]


def test_a_shard_finished_without_its_inputs_recorded_is_rebuilt(tmp_path, monkeypatch):
    """A worker may finish a shard just before a Ctrl-C, unheard of by the build: what it was
    built from is not known, so it is built again rather than trusted."""
    recipe = _two_images(tmp_path)
    out = tmp_path / "ds"
    _stop_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.undo()
    (out / engine.INPUTS_FILE).write_text("")
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_reused, summary.shards_built) == (0, 2)


def _two_splits(tmp_path: Path, same_image: bool) -> Path:
    cv2.imwrite(str(tmp_path / "train.png"), textured(1))
    if same_image:
        shutil.copy(tmp_path / "train.png", tmp_path / "test.png")
    else:
        cv2.imwrite(str(tmp_path / "test.png"), textured(2))
    for split in ("train", "test"):
        write_jsonl(
            tmp_path / f"{split}.jsonl",
            [{"id": "0", "image": f"{split}.png", "question": "Q?", "answer": "yes"}],
        )
    path = tmp_path / "r.toml"
    path.write_text(
        '[dataset]\nname = "r8s"\n[source]\nkind = "image"\nmotion = "pan"\n[camera]\n'
        'width = 64\nheight = 48\n[events]\nwindow_ms = 20\n[splits]\ntrain = "train.jsonl"\n'
        'test = "test.jsonl"\n'
    )
    return path


def test_different_images_under_one_id_and_question_are_no_split_repeat(tmp_path):
    out = tmp_path / "ds"
    build_dataset(_two_splits(tmp_path, same_image=False), out, progress=False)
    assert split_repeats(out) == []


def test_the_same_image_under_one_id_and_question_is_still_a_split_repeat(tmp_path):
    out = tmp_path / "ds"
    build_dataset(_two_splits(tmp_path, same_image=True), out, progress=False)
    assert len(split_repeats(out)) == 1


def test_the_inputs_recorded_are_the_files_read_from_source_root(tmp_path):
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), textured(1))
    write_jsonl(tmp_path / "qa.jsonl", [{"image": "a.png", "question": "Q?", "answer": "yes"}])
    recipe = _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"\nroot = "imgs"')
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (line,) = (out / engine.INPUTS_FILE).read_text().splitlines()
    assert list(json.loads(line)["inputs"]) == [str(tmp_path / "imgs" / "a.png")]


def test_a_replaced_video_is_a_change_too(tmp_path):
    write_video(tmp_path / "v.avi", 25, 20, 2)
    write_jsonl(
        tmp_path / "qa.jsonl", [{"video": "v.avi", "time": 0.5, "question": "Q?", "answer": "a"}]
    )
    recipe = _recipe(tmp_path, "video", "qa.jsonl")
    out = tmp_path / "ds"
    assert build_dataset(recipe, out, progress=False).n_samples == 1
    before = (tmp_path / "v.avi").stat().st_mtime_ns
    write_video(tmp_path / "v.avi", 25, 20, 3)
    os.utime(tmp_path / "v.avi", ns=(before + 10**9, before + 10**9))
    with pytest.raises(OutputExistsError, match=r"v\.avi"):
        build_dataset(recipe, out, progress=False)
