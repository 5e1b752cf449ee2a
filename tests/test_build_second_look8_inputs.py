"""Second look at the build's inputs log (DIR/.build-inputs.jsonl): a line cut short by a kill
swallowed the next shard's line, a shard rebuilt and finished unheard of before a Ctrl-C was
checked against the inputs of the shard it replaced, images named by a parquet column of paths
were neither recorded nor told apart (and, once they were, a NUL in one stopped the build), and
a build stopped before its log was written was resumed unchecked for good."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset, engine
from eventsim.datasets.inspection import split_repeats
from eventsim.errors import OutputExistsError

from user_media import small_recipe, textured, write_jsonl

_recipe = functools.partial(small_recipe, name="sl8")


def _images(tmp_path: Path, n: int) -> Path:
    """An image recipe of ``n`` samples, one shard each: 0.png, 1.png, ..."""
    for k in range(n):
        cv2.imwrite(str(tmp_path / f"{k}.png"), textured(k + 1))
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": f"{k}.png", "question": "Q?", "answer": "yes"} for k in range(n)],
    )
    return _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=1)


def _replace(path: Path, seed: int) -> None:
    before = path.stat().st_mtime_ns
    cv2.imwrite(str(path), textured(seed))
    os.utime(path, ns=(before + 10**9, before + 10**9))


def _interrupted(monkeypatch, recipe: Path, out: Path, stop_at: int, after: bool = False) -> None:
    """Build ``recipe`` into ``out``, a Ctrl-C coming as shard ``stop_at`` starts, or with
    ``after`` once a worker has written it and before the build hears of it."""
    real = engine.run_shard

    def run(task, *args, **kwargs):
        if task.shard == stop_at and not after:
            raise KeyboardInterrupt
        result = real(task, *args, **kwargs)
        if task.shard == stop_at:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(engine, "run_shard", run)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.undo()


def test_a_line_cut_short_does_not_swallow_the_next_shards_line(tmp_path, monkeypatch):
    recipe = _images(tmp_path, 3)
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out, stop_at=1)
    # a build killed while it appended a line (no Ctrl-C, which waits for the line)
    with open(out / engine.INPUTS_FILE, "a") as fh:
        fh.write('{"inputs": {"')
    _interrupted(monkeypatch, recipe, out, stop_at=2)
    assert set(engine._read_inputs(out)) == {"test-00000.h5", "test-00001.h5"}
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_reused, summary.shards_built) == (2, 1)
    lines = (out / engine.INPUTS_FILE).read_text().splitlines()
    assert [json.loads(x)["shard"] for x in lines] == [f"test-0000{k}.h5" for k in range(3)]


def test_a_shard_rebuilt_unheard_of_is_not_checked_against_the_shard_it_replaced(
    tmp_path, monkeypatch
):
    recipe = _images(tmp_path, 3)
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out, stop_at=2)
    # shard 0 lost (deleted, damaged) and its image replaced: the resume builds it again from
    # the new image, and a worker finishes it just as the build is stopped
    (out / "shards" / "test-00000.h5").unlink()
    _replace(tmp_path / "0.png", 9)
    _interrupted(monkeypatch, recipe, out, stop_at=0, after=True)
    # the log's line for shard 0 is of the old image: shard 0 is rebuilt, not refused
    summary = build_dataset(recipe, out, progress=False)
    assert summary.n_samples == 3 and summary.shards_reused == 1


def _paths_parquet(tmp_path: Path, images: list[str], split: str = "test") -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        {"id": str(k), "image": name, "question": "Q?", "answer": "yes"}
        for k, name in enumerate(images)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"{split}.parquet")


def test_an_image_a_parquet_column_of_paths_names_is_recorded_and_checked(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), textured(1))
    _paths_parquet(tmp_path, ["a.png"])
    recipe = _recipe(tmp_path, "image", "test.parquet", 'motion = "pan"')
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (line,) = (out / engine.INPUTS_FILE).read_text().splitlines()
    assert list(json.loads(line)["inputs"]) == [str(tmp_path / "a.png")]
    (record,) = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert isinstance(record["meta"]["image_sha256"], str)
    _replace(tmp_path / "a.png", 7)
    with pytest.raises(OutputExistsError, match=r"a\.png"):
        build_dataset(recipe, out, progress=False)


def test_different_images_named_by_parquet_paths_are_no_split_repeat(tmp_path):
    pytest.importorskip("pyarrow")
    cv2.imwrite(str(tmp_path / "train.png"), textured(1))
    cv2.imwrite(str(tmp_path / "test.png"), textured(2))
    for split in ("train", "test"):
        _paths_parquet(tmp_path, [f"{split}.png"], split)
    path = tmp_path / "r.toml"
    path.write_text(
        '[dataset]\nname = "sl8s"\n[source]\nkind = "image"\nmotion = "pan"\n[camera]\n'
        'width = 64\nheight = 48\n[events]\nwindow_ms = 20\n[splits]\ntrain = "train.parquet"\n'
        'test = "test.parquet"\n'
    )
    out = tmp_path / "ds"
    build_dataset(path, out, progress=False)
    assert split_repeats(out) == []


def test_a_parquet_path_no_file_can_have_is_a_skipped_sample(tmp_path):
    """A NUL in a path a parquet cell gives (a JSONL record with one is refused as it is
    planned) names no file: the sample is skipped, the build goes on."""
    cv2.imwrite(str(tmp_path / "a.png"), textured(1))
    _paths_parquet(tmp_path, ["a.png", "b\0.png"])
    recipe = _recipe(tmp_path, "image", "test.parquet", 'motion = "pan"')
    summary = build_dataset(recipe, tmp_path / "ds", progress=False)
    assert (summary.n_samples, summary.n_errors) == (1, 1)


def test_a_build_stopped_before_its_log_was_written_keeps_one_when_resumed(tmp_path, monkeypatch):
    """A Ctrl-C or kill between the state file and the (empty) inputs log left a build that
    every resume took for one begun before the log existed: its shards were never checked."""
    recipe = _images(tmp_path, 2)
    out = tmp_path / "ds"
    _interrupted(monkeypatch, recipe, out, stop_at=0)
    assert not list((out / "shards").glob("*.h5"))
    (out / engine.INPUTS_FILE).unlink()
    _interrupted(monkeypatch, recipe, out, stop_at=1)
    _replace(tmp_path / "0.png", 9)
    with pytest.raises(OutputExistsError, match=r"test-00000\.h5.*0\.png"):
        build_dataset(recipe, out, progress=False)
