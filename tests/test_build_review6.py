"""Findings of the sixth review of `eventsim build` on users' own data (the image-vqa and
video-qa example recipes): videos whose frames are further apart than their nominal rate,
questions at a video's very end, repeated container times, split paths given from a shell."""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_video_review6 import write_mkv

from eventsim.datasets import EventVQADataset, build_dataset, verify_dataset
from eventsim.datasets import sources as dataset_sources
from eventsim.errors import DatasetError

from user_media import error_reasons, small_recipe, textured, write_jsonl

_recipe = functools.partial(small_recipe, name="r6")


def _video_qa(tmp_path: Path, records: list[dict], shard_size: int = 64) -> Path:
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"question": f"Q{k}?", "answer": "a", **r} for k, r in enumerate(records)],
    )
    return _recipe(tmp_path, "video", "qa.jsonl", shard_size=shard_size)


def _windows(out: Path) -> dict[str, list[int]]:
    lines = (out / "samples.jsonl").read_text().splitlines()
    return {json.loads(x)["id"]: json.loads(x)["window_us"] for x in lines}


def test_a_video_whose_frames_are_further_apart_than_its_nominal_rate_is_read_to_the_question(
    tmp_path,
):
    """A variable-frame-rate file whose container says 25 fps but whose frames are 80 ms apart:
    every question after the 12 frames' nominal 0.48 s was skipped as past the end ('is 0.480 s
    long'), and one whose window started between two frames as having no frame before it; both
    are built now, from the frames the video has."""
    write_mkv(tmp_path / "slow.mkv", list(range(0, 960, 80)))  # 0 .. 880 ms
    recipe = _video_qa(
        tmp_path,
        [
            {"video": "slow.mkv", "time": 0.3},  # frames 160 and 240 ms: reference 160
            {"video": "slow.mkv", "time": 0.7},  # after the nominal end
            {"video": "slow.mkv", "time": 0.88},  # the last frame
            {"video": "slow.mkv", "time": 0.95},
            {"video": "slow.mkv", "time": 5.0},  # known past the end from the read before
        ],
    )
    out = tmp_path / "ds"
    summary = build_dataset(recipe, out, progress=False)
    assert summary.samples == {"test": 3}
    assert _windows(out) == {
        "test-000000": [220_000, 240_000],
        "test-000001": [620_000, 640_000],
        "test-000002": [860_000, 880_000],
    }
    reasons = error_reasons(out)
    assert reasons["test-000003"] == (
        "video slow.mkv is 0.920 s long, shorter than the question time 0.950 s"
    )
    assert reasons["test-000004"] == (
        "video slow.mkv is 0.920 s long, shorter than the question time 5.000 s"
    )
    assert verify_dataset(out).ok


def test_questions_past_a_videos_end_read_it_once(tmp_path, monkeypatch):
    """Every question past the nominal end is read from the start; one read to the end is
    remembered, so a split in the wrong unit (milliseconds) does not read each video whole
    for every record."""
    write_mkv(tmp_path / "v.mkv", list(range(0, 400, 40)))
    recipe = _video_qa(tmp_path, [{"video": "v.mkv", "time": t} for t in (300, 400, 500, 0.3)])
    reads = []
    real = dataset_sources._read_up_to

    def counted(video, t_q, window):
        reads.append(t_q)
        return real(video, t_q, window)

    monkeypatch.setattr(dataset_sources, "_read_up_to", counted)
    summary = build_dataset(recipe, tmp_path / "ds", progress=False)
    assert summary.samples == {"test": 1} and summary.errors == {"test": 3}
    assert reads == [300_000_000, 300_000]
    assert set(error_reasons(tmp_path / "ds").values()) == {
        f"video v.mkv is 0.400 s long, shorter than the question time {t:.3f} s"
        for t in (300, 400, 500)
    }


def _write_clip(path: Path, fourcc: str, fps: float, n_frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (80, 60))
    if not writer.isOpened():
        pytest.skip(f"OpenCV here cannot write {fourcc} into {path.suffix}")
    base = textured(5)
    for k in range(n_frames):
        frame = base.copy()
        cv2.rectangle(frame, (5 + k, 20), (20 + k, 35), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


@pytest.mark.parametrize(
    ("name", "fourcc", "fps"),
    [("clip.mp4", "mp4v", 25), ("clip.avi", "MJPG", 30), ("clip.mkv", "FFV1", 24)],
)
def test_a_question_at_a_videos_very_end_shows_its_last_frame(tmp_path, name, fourcc, fps):
    """A question at the video's length (n_frames / fps) was skipped as 'is 1.200 s long,
    shorter than the question time 1.200 s'. Up to a millisecond after the end (containers
    round frame times to it) the last frame is shown now; later is past the end."""
    _write_clip(tmp_path / name, fourcc, fps, 30)
    end = 30 / fps
    recipe = _video_qa(tmp_path, [{"video": name, "time": end + d} for d in (0, 4e-4, 2e-3)])
    out = tmp_path / "ds"
    summary = build_dataset(recipe, out, progress=False)
    assert summary.samples == {"test": 2}
    windows = _windows(out)
    last = 29 * 1e6 / fps
    assert abs(windows["test-000000"][1] - last) <= 500  # Matroska's millisecond times
    assert windows["test-000001"] == windows["test-000000"]
    assert error_reasons(out) == {
        "test-000002": f"video {name} is {end:.3f} s long, shorter than the question time "
        f"{end + 2e-3:.3f} s"
    }


def test_a_video_whose_times_end_before_its_nominal_length_is_not_called_damaged(tmp_path):
    """A video whose frame times end long before the count at its nominal rate does: a question
    inside that nominal length was skipped as 'stops decoding before 0.020 s, short of the 8
    frames its container lists (truncated or corrupt?)', where every frame decodes; it is now
    named as the short video it is."""
    # eight frames within 120 us at a nominal 25 fps (one left out: three share 10 us)
    write_mkv(tmp_path / "tight.mkv", [0, 10, 10, 10, 12, 40, 80, 120], scale_ns=1000)
    recipe = _video_qa(tmp_path, [{"video": "tight.mkv", "time": 0.2}])
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    assert error_reasons(out) == {
        "test-000000": "video tight.mkv is 0.040 s long, shorter than the question time 0.200 s"
    }


def test_a_build_does_not_print_the_videos_repeated_times_warning(tmp_path):
    """`VideoTimesWarning` (frames left out where more shared a container time than there are
    microseconds to the next) came through as a Python warning from whichever process built the
    sample, and only for reads that reached the video's end. A build leaves it out: those
    frames lie within microseconds of kept ones, and the sample is built as before."""
    from eventsim.simulator.sources import VideoTimesWarning

    # a run of three frames at 10-12 us that cannot all fit, then one every 8 ms (125 fps)
    write_mkv(
        tmp_path / "tight.mkv",
        [0, 10, 10, 10, 12, 8000, 16000, 24000, 32000],
        scale_ns=1000,
        fps=125,
    )
    recipe = _video_qa(
        tmp_path,
        [{"video": "tight.mkv", "time": 0.032}, {"video": "tight.mkv", "time": 0.04}],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoTimesWarning)
        summary = build_dataset(recipe, tmp_path / "ds", progress=False)
    assert summary.samples == {"test": 2}
    assert _windows(tmp_path / "ds")["test-000000"] == [12_000, 32_000]
    # the reading it came from still warns
    from eventsim.simulator.sources import VideoSource

    with pytest.warns(VideoTimesWarning, match="1 frame"):
        list(VideoSource(tmp_path / "tight.mkv"))


def test_video_datasets_have_the_same_bytes_with_one_worker_and_two(tmp_path):
    """Which process reads a video, and whether its end was known from an earlier question,
    changes nothing: shards, labels and skip reasons are byte for byte those of one worker."""
    write_mkv(tmp_path / "dup.mkv", [0, 40, 80, 80, 120, 160, 200, 240, 280, 320])
    write_mkv(tmp_path / "slow.mkv", list(range(0, 960, 80)))
    records = [
        {"video": video, "time": t}
        for video in ("dup.mkv", "slow.mkv")
        for t in (0.01, 0.1, 0.3, 0.36, 0.7, 0.95, 9.0)
    ]
    recipe = _video_qa(tmp_path, records, shard_size=3)
    digests = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        build_dataset(recipe, out, workers=workers, exact_workers=True, progress=False)
        shards = sorted((out / "shards").glob("*.h5"))
        files = [*shards, out / "samples.jsonl", out / "errors.jsonl"]
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in files])
        assert verify_dataset(out).ok
    assert digests[0] == digests[1]


def test_a_split_path_given_from_the_working_folder_says_where_it_is(tmp_path, monkeypatch):
    """``--set splits.test=my/test.jsonl`` from a shell reads my/test.jsonl beside the recipe,
    not in the current folder: the error named only the file it did not find there."""
    from eventsim.datasets import load_recipe

    (tmp_path / "recipes").mkdir()
    recipe = _recipe(tmp_path / "recipes", "image", "none.jsonl")
    data = tmp_path / "work" / "my"
    data.mkdir(parents=True)
    cv2.imwrite(str(data / "a.png"), textured(1))
    write_jsonl(data / "test.jsonl", [{"image": "a.png", "question": "Q?", "answer": "a"}])
    monkeypatch.chdir(tmp_path / "work")
    out = tmp_path / "ds"
    for value in ("my/test.jsonl", "my/test*.jsonl"):
        r = load_recipe(recipe, {"splits.test": value})
        with pytest.raises(DatasetError) as err:
            build_dataset(r, out, progress=False)
        text = str(err.value)
        assert "relative split paths start at the recipe file's folder" in text
        assert f"{value!r} is in the current folder: give it as " in text
        assert str(tmp_path / "work" / value) in text
    r = load_recipe(recipe, {"splits.test": str(data / "test.jsonl"), "source.root": "my"})
    with pytest.raises(DatasetError, match=r"'my' is in the current folder: give it as "):
        build_dataset(r, out, progress=False)
    # a path found nowhere keeps its message
    r = load_recipe(recipe, {"splits.test": "nowhere.jsonl"})
    with pytest.raises(DatasetError, match=r"cannot read split file .*nowhere\.jsonl'"):
        build_dataset(r, out, progress=False)
    # given as the hint says, it builds
    r = load_recipe(recipe, {"splits.test": str(data / "test.jsonl")})
    assert build_dataset(r, out, progress=False).samples == {"test": 1}


def test_the_manifest_names_the_recipe_file_from_anywhere(tmp_path, monkeypatch):
    """dataset.json recorded the recipe path as typed (``r6/image.toml``), relative to the
    folder the build ran in."""
    from eventsim.cli.build import main as build_main

    (tmp_path / "r6").mkdir()
    cv2.imwrite(str(tmp_path / "r6" / "a.png"), textured(1))
    write_jsonl(tmp_path / "r6" / "qa.jsonl", [{"image": "a.png", "question": "Q?", "answer": "a"}])
    recipe = _recipe(tmp_path / "r6", "image", "qa.jsonl")
    monkeypatch.chdir(tmp_path)
    assert build_main(["r6/image.toml", "-o", "ds", "--no-progress", "--no-preview"]) == 0
    manifest = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert manifest["recipe_file"] == str(recipe.resolve())


def test_parquet_images_as_bytes_and_as_paths_give_the_events_of_the_jsonl_build(tmp_path):
    """The same image as a JSONL path, parquet bytes ({bytes, path} struct), a parquet
    column of bytes, and a parquet path relative to source.root: one sample, one set of events."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "img").mkdir()
    png = tmp_path / "img" / "a.png"
    cv2.imwrite(str(png), textured(3, 96, 64))
    row = {"question": ["Q?"], "answer": ["a"]}
    write_jsonl(tmp_path / "qa.jsonl", [{"image": "img/a.png", "question": "Q?", "answer": "a"}])
    pq.write_table(
        pa.table({"image": [{"bytes": png.read_bytes(), "path": "a.png"}], **row}),
        tmp_path / "struct.parquet",
    )
    pq.write_table(pa.table({"image": [png.read_bytes()], **row}), tmp_path / "bytes.parquet")
    pq.write_table(
        pa.table({"image": [{"bytes": None, "path": "a.png"}], **row}), tmp_path / "path.parquet"
    )
    events = []
    for split, extra in [
        ("qa.jsonl", ""),
        ("struct.parquet", ""),
        ("bytes.parquet", ""),
        ("path.parquet", 'root = "img"'),
    ]:
        recipe = _recipe(tmp_path, "image", split, extra)
        out = tmp_path / f"ds-{split}"
        assert build_dataset(recipe, out, progress=False).samples == {"test": 1}
        with EventVQADataset(out, "test") as ds:
            events.append(ds[0]["events"])
    assert events[0].size > 0
    for other in events[1:]:
        np.testing.assert_array_equal(other, events[0])


def test_info_leaves_out_the_target_column_where_no_sample_has_a_target(tmp_path):
    """`eventsim info` of an image or video QA dataset had a column 'target n/a' counting every
    sample; it is left out where no sample has a target motion, kept where some do."""
    from eventsim.datasets import describe_dataset
    from eventsim.datasets.loader import read_manifest

    cv2.imwrite(str(tmp_path / "a.png"), textured(1))
    write_jsonl(tmp_path / "qa.jsonl", [{"image": "a.png", "question": "Q?", "answer": "a"}])
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "image", "qa.jsonl"), out, progress=False)
    text = describe_dataset(out)
    assert "target" not in text and "events/sample  open" in text
    manifest = read_manifest(out)
    manifest["splits"]["test"]["target_motion"] = {"moving": 1, "n/a": 0}
    assert "target moving  target n/a" in describe_dataset(out, manifest=manifest)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_opencv_and_ffmpeg_lines_about_bad_media_stay_out_of_a_builds_output(tmp_path, workers):
    """A truncated PNG or a file that is no video was skipped with its reason in errors.jsonl,
    and OpenCV's and FFmpeg's own lines came besides ('[ WARN:0@0.2] global grfmt_png.cpp ...
    PNG input buffer is incomplete', '[png @ 0x...] Invalid PNG signature'), from whichever
    process built the sample; as with `eventsim simulate`, they are off unless OPENCV_LOG_LEVEL
    asks for them."""
    import os
    import subprocess
    import sys

    good = tmp_path / "good.png"
    cv2.imwrite(str(good), textured(1))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:300])
    (tmp_path / "text.png").write_text("hello\n")
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": n, "question": "Q?", "answer": "a"} for n in ("cut.png", "good.png")],
    )
    write_jsonl(
        tmp_path / "v.jsonl",
        [{"video": n, "time": 0.5, "question": "Q?", "answer": "a"} for n in ("text.png",)],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    for kind, split in (("image", "qa.jsonl"), ("video", "v.jsonl")):
        recipe = _recipe(tmp_path, kind, split, shard_size=1)
        command = [
            sys.executable,
            "-m",
            "eventsim",
            "build",
            str(recipe),
            "-o",
            str(tmp_path / kind),
        ]
        options = ["--workers", workers, "--exact-workers", "--no-progress", "--no-preview"]
        run = subprocess.run(
            [*command, *options],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert run.returncode == (0 if kind == "image" else 1), run.stderr
        assert list(error_reasons(tmp_path / kind)) == ["test-000000"]
        noise = [line for line in run.stderr.splitlines() if not line.startswith("eventsim")]
        assert noise == [], run.stderr
