"""The example recipes' sources: static-image VQA (JSONL, parquet) and video QA, bad samples."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets import EventVQADataset, build_dataset, verify_dataset
from eventsim.errors import DatasetError

from user_media import textured, write_jsonl, write_video

ROOT = Path(__file__).resolve().parents[1]


def _image_fixture(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    for k in range(2):
        cv2.imwrite(str(data / "img" / f"ok{k}.png"), textured(k))
    (data / "img" / "broken.png").write_bytes(b"not a png at all")
    write_jsonl(
        data / "test.jsonl",
        [
            {
                "image": "img/ok0.png",
                "question": "Q0?",
                "choices": ["a", "b"],
                "answer": "b",
                "id": "x0",
            },
            {"image": "img/missing.png", "question": "Q1?", "choices": ["a", "b"], "answer": "a"},
            '{"image": "img/ok1.png", "question": ',
            {"image": "img/broken.png", "question": "Q3?", "answer": "yes"},
            {"image": "img/ok1.png", "question": "Q4?", "choices": ["a", "b"], "answer": "c"},
            {"image": "img/ok1.png", "question": "Q5?", "answer": "open answer"},
        ],
    )
    return data / "test.jsonl"


def _recipe(tmp_path: Path, kind: str, split_file: str, extra: str = "") -> Path:
    path = tmp_path / f"{kind}.toml"
    path.write_text(
        f"""
[dataset]
name = "{kind}-t"
[source]
kind = "{kind}"
{extra}
[camera]
width = 64
height = 48
[events]
window_ms = 50
[splits]
test = "{split_file}"
[build]
shard_size = 4
"""
    )
    return path


def test_example_recipes_have_the_documented_fields():
    text = (ROOT / "datasets" / "image-vqa.example.toml").read_text()
    assert 'kind = "image"' in text and "parquet" in text
    assert 'kind = "video"' in (ROOT / "datasets" / "video-qa.example.toml").read_text()


def test_image_jsonl_builds_and_skips_bad_samples(tmp_path):
    split = _image_fixture(tmp_path)
    recipe = _recipe(
        tmp_path,
        "image",
        split.relative_to(tmp_path).as_posix(),
        'motion = "saccade"\namplitude_px = 3.0',
    )
    out = tmp_path / "ds"
    summary = build_dataset(recipe, out, progress=False)
    assert summary.samples == {"test": 2} and summary.errors == {"test": 4}
    assert "skipped 4 bad samples" in summary.text()
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    reasons = {e["id"]: e["reason"] for e in errors}
    assert "does not exist" in reasons["test-000001"] and "missing.png" in reasons["test-000001"]
    assert "malformed JSONL line 3" in reasons["test-000002"]
    assert "cannot be read" in reasons["test-000003"]
    assert "not one of the choices" in reasons["test-000004"]
    ds = EventVQADataset(out, "test")
    s0, s5 = ds[0], ds[1]
    assert s0["id"] == "test-000000" and s0["meta"]["source"]["source_id"] == "x0"
    assert s0["answer"] == "b" and s0["answer_index"] == 1
    assert s5["choices"] == [] and s5["answer_index"] == -1 and s5["question_type"] == "open"
    assert s0["image"].shape == (48, 64, 3) and len(s0["events"]) > 0
    t0, t1 = s0["meta"]["window_us"]
    assert t1 - t0 == 50_000 and s0["events"]["t"].min() >= t0 and s0["events"]["t"].max() <= t1
    # the stored frame is the camera's view at the question time: the motion's last frame
    from eventsim.simulator.sources import ImageMotionSource

    view = ImageMotionSource(
        str(split.parent / "img" / "ok0.png"),
        "saccade",
        duration_ms=50,
        amplitude_px=3.0,
        sensor_size=(64, 48),
        seed=0,
    )
    last_frame, last_t = list(view)[-1]
    assert np.array_equal(s0["image"], last_frame) and last_t == 50_000
    assert verify_dataset(out).ok


def test_strict_stops_at_the_first_bad_sample(tmp_path, capsys):
    split = _image_fixture(tmp_path)
    recipe = _recipe(tmp_path, "image", split.relative_to(tmp_path).as_posix())
    # line 2's missing image comes before line 3's malformed JSON (found while planning)
    with pytest.raises(DatasetError, match=r"line 2\): .*missing\.png"):
        build_dataset(recipe, tmp_path / "strict", strict=True, progress=False)
    assert build_main([str(recipe), "-o", str(tmp_path / "s2"), "--strict", "--no-progress"]) == 1
    assert "missing.png" in capsys.readouterr().err
    # a malformed first line is named while planning: nothing written
    split.write_text(split.read_text().splitlines()[2] + "\n")
    with pytest.raises(DatasetError, match="malformed JSONL line 1"):
        build_dataset(recipe, tmp_path / "s3", strict=True, progress=False)
    assert not (tmp_path / "s3").exists()


def test_image_parquet_layout(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = []
    for k in range(3):
        ok, png = cv2.imencode(".png", textured(10 + k))
        assert ok
        rows.append(
            {
                "image": {"bytes": png.tobytes(), "path": f"{k}.png"},
                "question": f"Q{k}",
                "answer": "A",
            }
        )
    rows[1]["image"] = {"bytes": b"garbage", "path": "1.png"}
    table = pa.Table.from_pylist(rows)
    (tmp_path / "hf").mkdir()
    pq.write_table(table, tmp_path / "hf" / "test-00000-of-00001.parquet")
    recipe = _recipe(tmp_path, "image", "hf/test-00000-of-00001.parquet", 'motion = "pan"')
    summary = build_dataset(recipe, tmp_path / "ds", progress=False, workers=1)
    assert summary.samples == {"test": 2} and summary.errors == {"test": 1}
    ds = EventVQADataset(tmp_path / "ds", "test")
    assert [s["question"] for s in ds] == ["Q0", "Q2"]
    assert all(s["answer_index"] == -1 and len(s["events"]) > 0 for s in ds)


def _write_video(path: Path, n_frames: int = 20, fps: float = 20.0) -> None:
    write_video(path, fps, n_frames, step_px=2)


def test_video_qa_builds_and_skips_short_videos(tmp_path):
    data = tmp_path / "v"
    data.mkdir()
    _write_video(data / "clip.avi")  # 20 frames at 20 fps: 1.0 s
    write_jsonl(
        data / "qa.jsonl",
        [
            {
                "video": "clip.avi",
                "time": 0.5,
                "question": "Q?",
                "choices": ["l", "r"],
                "answer": "r",
            },
            {
                "video": "clip.avi",
                "time": 2.5,
                "question": "late?",
                "choices": ["l", "r"],
                "answer": "r",
            },
            {"video": "gone.avi", "time": 0.5, "question": "gone?", "answer": "x"},
            {"video": "clip.avi", "question": "no time", "answer": "x"},
            {
                "video": "clip.avi",
                "time": 0.92,
                "question": "Q2?",
                "choices": ["l", "r"],
                "answer": "l",
            },
        ],
    )
    recipe = _recipe(tmp_path, "video", "v/qa.jsonl")
    out = tmp_path / "ds"
    summary = build_dataset(recipe, out, progress=False)
    assert summary.samples == {"test": 2} and summary.errors == {"test": 3}
    reasons = {
        json.loads(x)["id"]: json.loads(x)["reason"]
        for x in (out / "errors.jsonl").read_text().splitlines()
    }
    assert "shorter than the question time 2.500 s" in reasons["test-000001"]
    assert "gone.avi" in reasons["test-000002"]
    assert "time" in reasons["test-000003"]
    ds = EventVQADataset(out, "test")
    s = ds[0]
    # the frame shown at 0.5 s is frame 10 (20 fps); the window is the 50 ms before it
    assert s["meta"]["frame_t_us"] == 500_000 and s["meta"]["window_us"] == (450_000, 500_000)
    ev = s["events"]
    assert len(ev) > 0 and ev["t"].min() >= 450_000 and ev["t"].max() <= 500_000
    assert s["image"].shape == (48, 64, 3)
    # events come from the moving white square (x from 5+2k to 20+2k in the 80-px source frame)
    sx = 64 / 80
    assert ev["x"].min() >= int(4 * sx) and ev["x"].max() <= (23 + 2 * 10) * sx + 2
    assert ds[1]["meta"]["frame_t_us"] == 900_000
    assert verify_dataset(out).ok
    # the example recipe's flow upsampling runs on the same data and keeps the window
    flow = build_dataset(
        recipe, tmp_path / "flow", overrides={"simulator.upsample": "flow"}, progress=False
    )
    assert flow.samples == {"test": 2}
    fev = EventVQADataset(tmp_path / "flow", "test")[0]["events"]
    assert len(fev) > 0 and fev["t"].min() >= 450_000 and fev["t"].max() <= 500_000
