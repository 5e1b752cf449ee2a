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
