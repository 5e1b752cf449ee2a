"""The build's inputs, round 9b: an image held as bytes in a parquet cell (the Hub's VQA layout)
recorded no ``meta.image_sha256``, so two different images asked the same question under the
same id in two splits were reported as a train/test leak; it now records the sha256 of the
cell's encoded bytes, as a file image records its file's. A finished dataset run again where
its images or videos are missing (copied to another machine without them) was refused as if
they had been removed to be changed; with no shard left to build nothing can be mixed, so it is
kept with a note, while a changed input, or a shard left to build, is still refused."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import cv2
import pytest

from eventsim.cli import main as cli_main
from eventsim.datasets import build_dataset, engine
from eventsim.datasets.inspection import split_repeats
from eventsim.errors import OutputExistsError

from user_media import small_recipe, textured, write_jsonl, write_video

_recipe = functools.partial(small_recipe, name="r9b")


def _png(seed: int) -> bytes:
    ok, data = cv2.imencode(".png", textured(seed))
    assert ok
    return data.tobytes()


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]


def _bytes_parquet(path: Path, images: list[bytes], hub_struct: bool) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        {
            "id": str(k),
            "image": {"bytes": data, "path": f"{k}.png"} if hub_struct else data,
            "question": "Q?",
            "answer": "yes",
        }
        for k, data in enumerate(images)
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("hub_struct", [True, False], ids=["hub-struct", "bytes-column"])
def test_an_image_held_in_a_parquet_cell_records_the_sha256_of_its_bytes(tmp_path, hub_struct):
    images = [_png(1), _png(2)]
    _bytes_parquet(tmp_path / "test.parquet", images, hub_struct)
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "image", "test.parquet", 'motion = "pan"'), out, progress=False)
    got = [r["meta"]["image_sha256"] for r in _records(out)]
    assert got == [hashlib.sha256(data).hexdigest() for data in images]
    # the same meaning as a file image's: the same bytes in a file give the same sha256
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.png").write_bytes(images[0])
    write_jsonl(
        tmp_path / "files" / "qa.jsonl", [{"image": "a.png", "question": "Q?", "answer": "y"}]
    )
    build_dataset(
        _recipe(tmp_path / "files", "image", "qa.jsonl", 'motion = "pan"'),
        tmp_path / "ds-files",
        progress=False,
    )
    assert _records(tmp_path / "ds-files")[0]["meta"]["image_sha256"] == got[0]


def _two_split_parquets(tmp_path: Path, train: bytes, test: bytes) -> Path:
    for split, data in (("train", train), ("test", test)):
        _bytes_parquet(tmp_path / f"{split}.parquet", [data], hub_struct=True)
    path = tmp_path / "r.toml"
    path.write_text(
        '[dataset]\nname = "r9bs"\n[source]\nkind = "image"\nmotion = "pan"\n[camera]\n'
        'width = 64\nheight = 48\n[events]\nwindow_ms = 20\n[splits]\ntrain = "train.parquet"\n'
        'test = "test.parquet"\n'
    )
    return path


def test_different_images_in_parquet_cells_are_no_split_repeat(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "ds"
    build_dataset(_two_split_parquets(tmp_path, _png(1), _png(2)), out, progress=False)
    assert split_repeats(out) == []


def test_one_image_in_parquet_cells_of_two_splits_is_still_a_split_repeat(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "ds"
    build_dataset(_two_split_parquets(tmp_path, _png(1), _png(1)), out, progress=False)
    assert len(split_repeats(out)) == 1


# ------------------------------------------------------------------ inputs missing on a re-run


def _three_images(tmp_path: Path) -> Path:
    """An image recipe of three samples, one shard each: 0.png, 1.png, 2.png."""
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"{k}.png"), textured(k + 1))
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": f"{k}.png", "question": "Q?", "answer": "yes"} for k in range(3)],
    )
    return _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=1)


def _remove_images(tmp_path: Path) -> None:
    for k in range(3):
        (tmp_path / f"{k}.png").unlink()


def test_a_finished_dataset_whose_images_are_missing_is_kept_with_a_note(tmp_path):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    manifest = (out / "dataset.json").read_bytes()
    log = (out / engine.INPUTS_FILE).read_bytes()
    _remove_images(tmp_path)
    summary = build_dataset(recipe, out, progress=False)
    assert (summary.shards_built, summary.shards_reused) == (0, 3)
    (note,) = summary.notes
    assert note.startswith(
        "nothing to do, 3 shards complete; 3 of the image or video files they were"
    )
    assert repr(str(tmp_path / "0.png")) in note and "could not be checked" in note
    assert (out / "dataset.json").read_bytes() == manifest
    # the log keeps what the shards were built from: a changed image put back is still refused
    assert (out / engine.INPUTS_FILE).read_bytes() == log
    cv2.imwrite(str(tmp_path / "1.png"), textured(9))
    with pytest.raises(OutputExistsError, match=r"test-00001\.h5.*1\.png"):
        build_dataset(recipe, out, progress=False)


def test_the_command_says_nothing_to_do(tmp_path, capsys):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    _remove_images(tmp_path)
    capsys.readouterr()
    assert cli_main(["build", str(recipe), "-o", str(out), "--no-preview", "--no-progress"]) == 0
    assert "note: nothing to do, 3 shards complete" in capsys.readouterr().out


def test_missing_images_are_refused_while_a_shard_is_left_to_build(tmp_path):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    _remove_images(tmp_path)
    (out / "shards" / "test-00002.h5").unlink()
    with pytest.raises(OutputExistsError, match=r"test-00000\.h5.*0\.png.*removed since"):
        build_dataset(recipe, out, progress=False)


def test_a_changed_image_is_refused_though_the_others_are_missing(tmp_path):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    for k in (0, 2):
        (tmp_path / f"{k}.png").unlink()
    cv2.imwrite(str(tmp_path / "1.png"), textured(9, w=90))
    with pytest.raises(OutputExistsError, match=r"test-00001\.h5.*1\.png.*another size"):
        build_dataset(recipe, out, progress=False)


def test_an_image_created_where_it_was_missing_is_still_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), textured(1))
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": n, "question": "Q?", "answer": "yes"} for n in ("a.png", "b.png")],
    )
    recipe = _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=1)
    out = tmp_path / "ds"
    assert build_dataset(recipe, out, progress=False).n_errors == 1
    (tmp_path / "a.png").unlink()
    cv2.imwrite(str(tmp_path / "b.png"), textured(2))
    with pytest.raises(OutputExistsError, match=r"b\.png.*did not exist"):
        build_dataset(recipe, out, progress=False)


def test_a_finished_dataset_whose_video_is_missing_is_kept_with_a_note(tmp_path):
    write_video(tmp_path / "v.avi", 25, 20, 2)
    write_jsonl(
        tmp_path / "qa.jsonl", [{"video": "v.avi", "time": 0.5, "question": "Q?", "answer": "a"}]
    )
    recipe = _recipe(tmp_path, "video", "qa.jsonl")
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (tmp_path / "v.avi").unlink()
    summary = build_dataset(recipe, out, progress=False)
    assert summary.shards_reused == 1
    assert summary.notes[0].startswith(
        "nothing to do, 1 shard complete; 1 of the image or video files it was built from is"
    )


def test_a_video_rewritten_with_its_size_and_mtime_kept_is_refused(tmp_path):
    """Taken as unchanged by eventsim 0.2.6: its change time moved, so the sha256 of its first
    and last MiB is compared with the one logged (tests/test_build_round11.py); the video is
    still not read whole."""
    write_video(tmp_path / "v.avi", 25, 20, 2)
    write_jsonl(
        tmp_path / "qa.jsonl", [{"video": "v.avi", "time": 0.5, "question": "Q?", "answer": "a"}]
    )
    recipe = _recipe(tmp_path, "video", "qa.jsonl")
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    st = (tmp_path / "v.avi").stat()
    data = bytearray((tmp_path / "v.avi").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "v.avi").write_bytes(bytes(data))
    os.utime(tmp_path / "v.avi", ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(OutputExistsError, match=r"v\.avi.*same size and modification time"):
        build_dataset(recipe, out, progress=False)
