"""Findings of the fifth review of `eventsim build` (the dataset builder and its inputs)."""

import functools
import os
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets import EventVQADataset, build_dataset, load_recipe
from eventsim.errors import DatasetError, RecipeError

from user_media import error_reasons, small_recipe, textured, write_jsonl, write_video

_recipe = functools.partial(small_recipe, name="r5")
_reasons = error_reasons


# ----------------------------------------------------------------------------- frame memory


def test_a_shapes_scene_of_too_many_frames_is_refused_up_front():
    """A shapes scene renders every frame of its window at once (one frame per max_step_px of
    the longest motion); 4096x4096 with motion_px up to 2000 at 0.05 px a step asked for 40001
    frames (1.9 TB) and the build stopped "out of memory" once it got to the sample."""
    big = {"camera": {"width": 4096, "height": 4096}, "dataset": {"name": "x"}}
    source = {"kind": "shapes", "max_step_px": 0.05, "motion_px": [1000, 2000]}
    with pytest.raises(
        RecipeError,
        match=r"source\.motion_px = \[1000\.0, 2000\.0\] at source\.max_step_px = 0\.05 implies "
        r"40001 frames per sample .* at most 21 fit the 1 GiB",
    ):
        load_recipe({**big, "source": source, "splits": {"test": 1}})
    # a scene where nothing moves renders two frames, whatever its motion_px
    still = {**source, "mode": "vqa", "moving_share": 0.0}
    assert load_recipe({**big, "source": still, "splits": {"test": 1}}).sensor_size == (4096, 4096)
    assert load_recipe({"dataset": {"name": "x"}, "splits": {"test": 1}}).source["mode"] == "vqa"


def test_the_frames_the_upsampling_holds_count_towards_the_limit():
    """The simulator's upsampling holds a few batches of 8-byte luma at once (20 frames at
    4096x4096, 2.5 GiB), which the recipe's frame limit did not see. Inserted frames go out in
    batches, so max_upsample_factor does not count."""
    base = {"dataset": {"name": "x"}, "splits": {"test": "qa.jsonl"}}
    video = {**base, "source": {"kind": "video"}, "camera": {"width": 4096, "height": 4096}}
    # every source kind: a video's frame rate is not known yet, its least window is counted
    with pytest.raises(
        RecipeError,
        match=r'simulator\.upsample = "linear" needs 2 RGB frames per sample and up to 20 '
        r"frames at once in the simulator's upsampling .* over the 1 GiB",
    ):
        load_recipe({**video, "simulator": {"upsample": "linear"}})
    load_recipe(video)
    # a high factor at a small size is fine; the default factor at common sizes too
    upsample = {"upsample": "linear", "params": {"max_upsample_factor": 100000}}
    load_recipe({**base, "source": {"kind": "video"}, "simulator": upsample})
    shapes = {"dataset": {"name": "x"}, "splits": {"test": 1}}
    for size in (224, 1280):
        camera = {"width": size, "height": 720 if size > 224 else 224}
        load_recipe({**shapes, "camera": camera, "simulator": {"upsample": "flow"}})


def test_a_video_window_is_checked_with_the_upsampling_it_gets(tmp_path):
    """Per sample, a video's window frames and the upsampling's frames together: 40 frames of
    2048x2048 fit without upsampling, but not beside the 20 the upsampling holds."""
    write_video(tmp_path / "fast.avi", 1000, 5, step_px=1)
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"video": "fast.avi", "time": 0.003, "question": "Q", "answer": "a"}],
    )
    settings = {"camera.width": "2048", "camera.height": "2048", "events.window_ms": "38"}
    upsampled = {**settings, "simulator.upsample": "linear"}
    recipe = load_recipe(_recipe(tmp_path, "video", "qa.jsonl"), upsampled)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    reason = _reasons(out)["test-000000"]
    assert reason.startswith("video fast.avi at 1000 fps over the 38 ms event window needs 40 ")
    assert "up to 20 frames at once in the simulator's upsampling" in reason
    # without upsampling the same window is only too early
    plain = load_recipe(_recipe(tmp_path, "video", "qa.jsonl"), settings)
    build_dataset(plain, out, progress=False, force=True)
    assert "is earlier than the 38 ms event window" in _reasons(out)["test-000000"]


# ----------------------------------------------------------------------------- strict order


def _two_split_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "two.toml"
    path.write_text(
        '[dataset]\nname = "two"\n[source]\nkind = "image"\nfps = 2000\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 5\n[splits]\nfirst = "first.jsonl"\n'
        'second = "second.jsonl"\n[build]\nshard_size = 1\n'
    )
    return path


def test_strict_names_a_build_error_of_an_earlier_split_before_a_later_splits_bad_line(
    tmp_path, capsys
):
    """A malformed line of a later split (found while planning) was named at once, though a
    sample of an earlier split could not be built: the first error in dataset order is now."""
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    good = {"image": "a.png", "question": "Q", "answer": "a"}
    write_jsonl(tmp_path / "first.jsonl", [good, {**good, "image": "missing.png"}])
    (tmp_path / "second.jsonl").write_text('{"image": \n')
    recipe = _two_split_recipe(tmp_path)
    out = tmp_path / "ds"
    with pytest.raises(DatasetError, match=r"sample first-000001 \(.*line 2\): image .*missing"):
        build_dataset(recipe, out, strict=True, progress=False)
    args = [str(recipe), "-o", str(tmp_path / "cli"), "--strict", "--no-progress"]
    assert build_main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "first-000001" in err[0] and "missing.png" in err[0]
    # with the first split sound, the later split's line is named, and nothing after it built
    write_jsonl(tmp_path / "first.jsonl", [good, good])
    with pytest.raises(DatasetError, match=r"sample second-000000 \(.*line 1\): malformed"):
        build_dataset(recipe, out, strict=True, progress=False, force=True)
    assert sorted(p.name for p in (out / "shards").glob("*.h5")) == [
        "first-00000.h5",
        "first-00001.h5",
    ]
    # a bad first line of the first split is named before anything is written
    (tmp_path / "first.jsonl").write_text('"text"\n')
    with pytest.raises(DatasetError, match=r"sample first-000000 .*expected a JSON object"):
        build_dataset(recipe, tmp_path / "none", strict=True, progress=False)
    assert not (tmp_path / "none").exists()


# ----------------------------------------------------------------------------- Ctrl-C count


def test_ctrl_c_counts_the_shards_it_knows_without_opening_them(tmp_path, monkeypatch, capsys):
    """After Ctrl-C the count of kept shards opened every shard of the plan (thousands of HDF5
    files for a large dataset); those the build reused or built are now counted from what it
    knows, and only a shard it has not heard of that exists on disk is opened."""
    from eventsim.datasets import engine

    recipe = _recipe(tmp_path, "shapes", "8", shard_size=2)
    out = tmp_path / "ds"
    real_run, real_matches = engine.run_shard, engine.shard_matches
    opened: list[str] = []

    def matches(f, expect):
        opened.append(Path(f.filename).name)
        return real_matches(f, expect)

    def stop_at(shard: int, publish_first: bool = False):
        def run(task, on_sample=None):
            if task.shard == shard:
                if publish_first:
                    # a worker that finished its shard just before the Ctrl-C reached the build
                    real_run(task, on_sample)
                raise KeyboardInterrupt
            return real_run(task, on_sample)

        return run

    monkeypatch.setattr(engine, "shard_matches", matches)
    monkeypatch.setattr(engine, "run_shard", stop_at(2))
    args = [str(recipe), "-o", str(out), "--workers", "1", "--no-progress"]
    assert build_main(args) == 130
    assert "2 finished shards kept" in capsys.readouterr().err
    assert opened == []
    # resumed: shards 0-1 reused, 2 built, 3 finished on disk before the build heard of it
    monkeypatch.setattr(engine, "run_shard", stop_at(3, publish_first=True))
    assert build_main(args) == 130
    assert "4 finished shards kept" in capsys.readouterr().err
    assert opened == ["test-00003.h5"]


# ----------------------------------------------------------------------------- digest locks


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_a_digest_lock_is_held_does_not_hold_it(tmp_path, monkeypatch):
    """A DataLoader forking its workers while another thread hashed a shard gave each worker
    the lock's open file description: the lock stayed held as long as a worker lived, and a
    process waiting for it waited out its whole timeout after the hash failed."""
    from eventsim._locks import try_lock
    from eventsim.datasets import _digests

    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(tmp_path / "cache"))
    shard = tmp_path / "shard.h5"
    shard.write_bytes(b"x" * 100)
    st = os.stat(shard)
    name = _digests.identity(shard, st)
    lock_file = _digests.cache_folder() / f".{name}.lock"
    hashing, finish = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def compute() -> str:
        hashing.set()
        finish.wait(30)
        raise OSError("read error")  # no digest written: a waiting process must hash itself

    def hash_in_thread() -> None:
        try:
            _digests.sha256_of(shard, st, compute)
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=hash_in_thread)
    thread.start()
    assert hashing.wait(30)
    # another process waiting for the same entry has the lock file open
    waiter = os.open(lock_file, os.O_RDWR)
    release_r, release_w = os.pipe()
    started_r, started_w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: a DataLoader worker that lives on
        try:
            os.write(started_w, b"1")  # (the fork hooks have run by now)
            os.read(release_r, 1)
        finally:
            os._exit(0)
    try:
        finish.set()
        thread.join(30)
        assert failed and not thread.is_alive()
        # until the child first runs it holds its copy: a lock left held for a moment only
        os.read(started_r, 1)
        assert try_lock(waiter), "the forked child still holds the digest lock"
    finally:
        os.write(release_w, b"x")
        os.waitpid(pid, 0)
        for fd in (waiter, release_r, release_w, started_r, started_w):
            os.close(fd)


# ----------------------------------------------------------------------------- parquet images


def test_a_16_bit_png_in_a_parquet_file_is_read_as_the_same_file_is(tmp_path):
    """Parquet image bytes were decoded as 8-bit colour, while the same PNG as a file keeps its
    16 bits: the two gave other events. Both are now read one way."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(3)
    small = rng.integers(0, 65536, (8, 10, 3), dtype=np.uint16)
    deep = cv2.resize(small, (80, 60), interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode(".png", deep)
    assert ok and cv2.imdecode(png, cv2.IMREAD_UNCHANGED).dtype == np.uint16
    (tmp_path / "deep.png").write_bytes(png.tobytes())
    record = {"question": "Q", "answer": "a", "id": "q0"}
    write_jsonl(tmp_path / "qa.jsonl", [{**record, "image": "deep.png"}])
    table = pa.Table.from_pylist([{**record, "image": {"bytes": png.tobytes(), "path": None}}])
    pq.write_table(table, tmp_path / "qa.parquet")
    built = {}
    for name in ("qa.jsonl", "qa.parquet"):
        out = tmp_path / name.replace(".", "-")
        recipe = _recipe(tmp_path, "image", name, extra='motion = "pan"\nfps = 2000')
        summary = build_dataset(recipe, out, progress=False)
        assert summary.samples == {"test": 1}, (out / "errors.jsonl").read_text()
        built[name] = EventVQADataset(out, "test")[0]
    from_file, from_parquet = built["qa.jsonl"], built["qa.parquet"]
    assert len(from_file["events"]) > 0
    assert np.array_equal(from_file["events"], from_parquet["events"])
    assert np.array_equal(from_file["image"], from_parquet["image"])


def test_unreadable_parquet_image_bytes_name_the_row_and_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"image": {"bytes": b"garbage", "path": None}, "question": "Q", "answer": "a"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "image", "qa.parquet"), out, progress=False)
    assert _reasons(out)["test-000000"] == (
        "image 'row 0 of qa.parquet' cannot be read (not an image OpenCV can decode)"
    )


def test_a_parquet_image_column_of_paths_or_of_bytes_is_read(tmp_path):
    """A parquet file whose image column holds paths (strings) or raw bytes, not the Hub's
    {bytes, path} struct, had every row skipped as 'image has no bytes or path'."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    png = (tmp_path / "a.png").read_bytes()
    record = {"question": "Q", "answer": "a"}
    pq.write_table(pa.Table.from_pylist([{**record, "image": "a.png"}]), tmp_path / "paths.parquet")
    pq.write_table(pa.Table.from_pylist([{**record, "image": png}]), tmp_path / "bytes.parquet")
    pq.write_table(pa.Table.from_pylist([{**record, "image": None}]), tmp_path / "null.parquet")
    write_jsonl(tmp_path / "qa.jsonl", [{**record, "image": {"path": "a.png"}}])
    events = []
    for name in ("paths.parquet", "bytes.parquet", "qa.jsonl"):
        out = tmp_path / name.replace(".", "-")
        summary = build_dataset(_recipe(tmp_path, "image", name), out, progress=False)
        assert summary.samples == {"test": 1}, (out / "errors.jsonl").read_text()
        events.append(EventVQADataset(out, "test")[0]["events"])
    assert len(events[0]) > 0 and all(np.array_equal(events[0], e) for e in events)
    out = tmp_path / "null"
    build_dataset(_recipe(tmp_path, "image", "null.parquet"), out, progress=False)
    assert _reasons(out)["test-000000"] == "parquet row 0: image has no bytes or path (got null)"


# ----------------------------------------------------------------------------- split files


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "qa.csv",
            "image,question,answer\na.png,Q,a\n",
            r"is a \.csv table; source kind 'image' reads JSONL .* and parquet",
        ),
        (
            "qa.json",
            '[\n  {"image": "a.png", "question": "Q", "answer": "a"}\n]\n',
            r"holds one JSON array of 1 item; expected JSONL",
        ),
        ("qa-*.jsonl", None, r"a wildcard name reads parquet files only"),
    ],
)
def test_a_split_file_in_another_format_is_named_as_such(tmp_path, name, text, expected):
    """A CSV table or a JSON array given as a split file had every line skipped as 'malformed
    JSONL line N: Expecting value'; a JSONL wildcard was 'No such file or directory'."""
    if text is not None:
        (tmp_path / name).write_text(text)
    else:
        write_jsonl(tmp_path / "qa-1.jsonl", [{"image": "a.png", "question": "Q", "answer": "a"}])
    with pytest.raises(DatasetError, match=expected):
        build_dataset(_recipe(tmp_path, "image", name), tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()


def test_a_shapes_recipe_whose_objects_never_fit_says_which_fields(tmp_path, capsys):
    """Each sample was skipped as 'cannot fit a target and (12, 12) clutter pieces of (10.0,
    10.6) px into (32, 32)' (Python tuples, no field names), and the command line called the
    drawn samples 'records' that were 'rejected'."""
    recipe = _recipe(
        tmp_path,
        "shapes",
        "2",
        extra='mode = "target"\nn_clutter = [12, 12]\nmotion_px = [2, 4]\n',
    )
    recipe.write_text(recipe.read_text().replace("[8, 12]", "[8, 10]"))
    out = tmp_path / "ds"
    sizes = ["--set", "camera.width=32", "--set", "camera.height=32"]
    assert build_main([str(recipe), "-o", str(out), "--no-progress", *sizes]) == 1
    reason = _reasons(out)["test-000000"]
    assert reason.startswith(
        "cannot fit a target (target_size_px = [8, 10]) and n_clutter = [12, 12] clutter pieces "
        "of object_size_px = [8, 10] apart into 32x32 pixels"
    )
    err = capsys.readouterr().err
    assert "split test: all 2 samples could not be drawn, so it has no samples" in err
    assert "no samples were built: 2 samples could not be drawn" in err


def test_a_video_source_names_a_parquet_split_file_as_one(tmp_path):
    """Read as JSONL, a video source's parquet split file was 'not UTF-8 text'."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"video": "v.avi", "time": 0.5, "question": "Q", "answer": "a"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    with pytest.raises(DatasetError, match=r"source kind 'video' reads JSONL \(one JSON object"):
        build_dataset(_recipe(tmp_path, "video", "qa.parquet"), tmp_path / "ds", progress=False)


def test_a_parquet_records_question_type_and_target_motion_are_kept(tmp_path):
    """A JSONL record's question_type and target_motion became the sample's; a parquet file's
    columns of the same names were not read (every sample 'open', no motion)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    row = {"image": "a.png", "question": "Q", "answer": "a"}
    labels = {"question_type": "counting", "target_motion": "moving"}
    pq.write_table(pa.Table.from_pylist([{**row, **labels}]), tmp_path / "qa.parquet")
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "image", "qa.parquet"), out, progress=False)
    sample = EventVQADataset(out, "test")[0]
    assert sample["question_type"] == "counting" and sample["meta"]["target_motion"] == "moving"


def test_a_missing_source_root_is_named_before_anything_is_built(tmp_path):
    """Each record was skipped as missing its image, and the empty dataset written had to be
    replaced with --force once the recipe named the right folder."""
    write_jsonl(tmp_path / "qa.jsonl", [{"image": "a.png", "question": "Q", "answer": "a"}])
    recipe = _recipe(tmp_path, "image", "qa.jsonl", extra='root = "photos"')
    with pytest.raises(DatasetError, match=r"source\.root = 'photos' \(.*\) does not exist"):
        build_dataset(recipe, tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()


def test_a_blank_dataset_name_is_refused():
    with pytest.raises(RecipeError, match=r"dataset\.name is empty"):
        load_recipe({"dataset": {"name": " "}, "splits": {"test": 1}})
    with pytest.raises(RecipeError, match=r"dataset\.name is empty"):
        load_recipe({"dataset": {"name": "x"}, "splits": {"test": 1}}, {"dataset.name": ""})


def test_parquet_images_are_read_a_row_group_at_a_time(tmp_path):
    """Each build process read the image column of a whole parquet file and kept it (the
    calling process too, after an in-process build): hundreds of MB for RealWorldQA. Rows are
    now read by row group, and the right image still lands in each sample."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from eventsim.datasets import engine
    from eventsim.datasets.sources import SampleMaker

    rows, records = [], []
    for k in range(5):
        cv2.imwrite(str(tmp_path / f"{k}.png"), textured(k, 64, 48))
        png = (tmp_path / f"{k}.png").read_bytes()
        rows.append({"image": {"bytes": png, "path": None}, "question": f"Q{k}", "answer": "a"})
        records.append({"image": f"{k}.png", "question": f"Q{k}", "answer": "a"})
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet", row_group_size=2)
    write_jsonl(tmp_path / "qa.jsonl", records)
    images = {}
    for name in ("qa.parquet", "qa.jsonl"):
        out = tmp_path / name.replace(".", "-")
        recipe = load_recipe(_recipe(tmp_path, "image", name))
        assert build_dataset(recipe, out, progress=False).samples == {"test": 5}
        assert engine._MAKERS == {}
        images[name] = [s["image"] for s in EventVQADataset(out, "test")]
    assert all(np.array_equal(a, b) for a, b in zip(images["qa.parquet"], images["qa.jsonl"]))
    maker = SampleMaker(load_recipe(_recipe(tmp_path, "image", "qa.parquet")))
    for row in (4, 0, 3):
        maker._parquet_image(str(tmp_path / "qa.parquet"), row)
        assert maker._parquet_group is not None and len(maker._parquet_group[3]) <= 2


def test_a_shard_is_written_sample_by_sample(tmp_path, monkeypatch):
    """A shard's samples (frames and events) were all held until the shard was written: with
    shard_size up to 100,000, a worker's memory grew with the shard. Each is now written
    before the next is built."""
    import gc
    import weakref

    from eventsim.datasets.sources import SampleMaker

    alive = [0]
    most = []
    real = SampleMaker.make

    def make(self, spec):
        gc.collect()
        most.append(alive[0])
        sample = real(self, spec)
        alive[0] += 1
        weakref.finalize(sample, lambda: alive.__setitem__(0, alive[0] - 1))
        return sample

    monkeypatch.setattr(SampleMaker, "make", make)
    # three samples in one shard: held until the shard was written, the third saw two alive
    recipe = _recipe(tmp_path, "shapes", "3", shard_size=3)
    assert build_dataset(recipe, tmp_path / "ds", progress=False, workers=1).samples == {"test": 3}
    assert len(most) == 3 and max(most) <= 1


# ----------------------------------------------------------------------------- text


def test_a_record_with_a_nul_or_a_lone_surrogate_is_skipped_with_its_reason(tmp_path):
    """JSON allows "\\u0000" and "\\ud800"; HDF5 text and UTF-8 do not, and the whole build
    stopped with an internal error (ValueError, UnicodeEncodeError) at the shard holding one."""
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    lines = [
        '{"image": "a.png", "question": "What\\u0000is it?", "answer": "a"}',
        '{"image": "a.png", "question": "Q", "answer": "a", "choices": ["a", "b\\u0000"]}',
        '{"image": "a.png", "question": "Q", "answer": "a", "id": "x\\ud800"}',
        '{"image": "a.png", "question": "Q", "answer": "a\\udc00"}',
        '{"image": "a.png", "question": "Q", "answer": "a"}',
    ]
    (tmp_path / "qa.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ds"
    summary = build_dataset(_recipe(tmp_path, "image", "qa.jsonl"), out, progress=False)
    assert summary.samples == {"test": 1}
    reasons = _reasons(out)
    assert reasons["test-000000"] == (
        "question holds a NUL character (\\u0000), which HDF5 text cannot store"
    )
    assert reasons["test-000001"].startswith("choices holds a NUL character")
    assert reasons["test-000002"] == (
        "id holds '\\ud800', half of a UTF-16 surrogate pair: not text"
    )
    assert reasons["test-000003"].startswith("answer holds '\\udc00'")


def test_a_split_file_path_that_is_not_utf8_is_refused(tmp_path):
    """A split file in a folder whose name is not UTF-8 crashed OpenCV (segmentation fault)
    reading the images below it; a recipe file there stopped the build at its end."""
    try:
        folder = tmp_path / os.fsdecode(b"data\xff")
        folder.mkdir()
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    # no image: reading one there would crash this test process without the fix
    write_jsonl(folder / "qa.jsonl", [{"image": "a.png", "question": "Q", "answer": "a"}])
    # as `--set splits.test=...` gives it from the command line
    recipe = load_recipe(
        _recipe(tmp_path, "image", "x.jsonl"), {"splits.test": str(folder / "qa.jsonl")}
    )
    with pytest.raises(DatasetError, match=r"splits\.test path .*data\\udcff.* is not UTF-8"):
        build_dataset(recipe, tmp_path / "ds", progress=False)
    shapes = folder / "shapes.toml"
    shapes.write_bytes(_recipe(tmp_path, "shapes", "1").read_bytes())
    with pytest.raises(DatasetError, match=r"recipe file path .* is not UTF-8"):
        build_dataset(load_recipe(shapes), tmp_path / "ds2", progress=False)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds2").exists()
