"""Records of users' own data that cannot make a sound sample are refused with a reason, and a
build that ends with no samples says so."""

import json
from pathlib import Path

import cv2

from eventsim.cli.build import main as build_main
from eventsim.datasets import EventVQADataset, build_dataset, describe_dataset, verify_dataset

from user_media import textured, write_jsonl, write_video


def _recipe(tmp_path: Path, kind: str, splits: dict[str, str], window_ms: float = 50) -> Path:
    lines = "\n".join(f'{name} = "{file}"' for name, file in splits.items())
    path = tmp_path / f"{kind}.toml"
    path.write_text(
        f"""
[dataset]
name = "{kind}-checks"
[source]
kind = "{kind}"
[camera]
width = 64
height = 48
[events]
window_ms = {window_ms}
[splits]
{lines}
[build]
shard_size = 8
"""
    )
    return path


def _image(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "img" / "a.png"), textured(0))


def _reasons(out: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    return {r["id"]: r["reason"] for r in rows}


def _write_video(path: Path, fps: float, n_frames: int = 12) -> None:
    write_video(path, fps, n_frames, step_px=3)


def _qa(time: float) -> dict:
    return {"video": "v.avi", "time": time, "question": "Q?", "choices": ["l", "r"], "answer": "r"}


def test_video_question_earlier_than_the_window_is_skipped(tmp_path):
    _write_video(tmp_path / "v.avi", fps=20.0)  # a frame every 50 ms
    write_jsonl(tmp_path / "qa.jsonl", [_qa(0.02), _qa(0.1), _qa(0.12)])
    out = tmp_path / "ds"
    summary = build_dataset(
        _recipe(tmp_path, "video", {"test": "qa.jsonl"}, window_ms=100), out, progress=False
    )
    assert summary.samples == {"test": 2} and summary.errors == {"test": 1}
    reason = _reasons(out)["test-000000"]
    assert "question time 0.02 s is earlier than the 100 ms event window" in reason
    assert "needs time >= 0.1 s" in reason
    ds = EventVQADataset(out, "test")
    # time == window: the first frame is the reference and the events cover the whole window
    for s in ds:
        assert s["meta"]["window_us"] == (0, 100_000) and s["meta"]["frame_t_us"] == 100_000
        ev = s["events"]
        assert len(ev) > 0 and ev["t"].min() >= 0 and ev["t"].max() <= 100_000
        assert ev["t"].min() < 50_000  # the first frame pair's events are in the window


def test_video_question_whose_frame_is_earlier_than_the_window_is_skipped(tmp_path):
    _write_video(tmp_path / "v.avi", fps=25.0)  # a frame every 40 ms
    # at 0.1 s the frame shown is the one of 0.08 s: the window would start at -0.02 s
    write_jsonl(tmp_path / "qa.jsonl", [_qa(0.1), _qa(0.12)])
    out = tmp_path / "ds"
    summary = build_dataset(
        _recipe(tmp_path, "video", {"test": "qa.jsonl"}, window_ms=100), out, progress=False
    )
    assert summary.samples == {"test": 1} and summary.errors == {"test": 1}
    reason = _reasons(out)["test-000000"]
    assert "question time 0.1 s" in reason and "frame shown then is at 0.08 s" in reason
    assert "needs time >= 0.12 s" in reason
    assert EventVQADataset(out, "test")[0]["meta"]["window_us"] == (20_000, 120_000)


def test_video_reference_frame_is_at_or_before_the_window_start(tmp_path):
    _write_video(tmp_path / "v.avi", fps=25.0)
    # the frame shown at 0.23 s is the one of 0.2 s; its window starts at 0.1 s, between the
    # frames of 0.08 s and 0.12 s: the 0.08 s frame is the reference, so 0.1..0.12 s has events
    write_jsonl(tmp_path / "qa.jsonl", [_qa(0.23)])
    out = tmp_path / "ds"
    build_dataset(
        _recipe(tmp_path, "video", {"test": "qa.jsonl"}, window_ms=100), out, progress=False
    )
    s = EventVQADataset(out, "test")[0]
    assert s["meta"]["window_us"] == (100_000, 200_000) and s["meta"]["n_frames"] == 4
    assert s["events"]["t"].min() < 120_000


def _rec(**kw) -> dict:
    return {"image": "img/a.png", "question": "Which colour?", **kw}


def test_duplicate_ids_and_choices_are_refused(tmp_path):
    _image(tmp_path)
    write_jsonl(
        tmp_path / "t.jsonl",
        [
            _rec(id="a", choices=["red", "green"], answer="red"),
            _rec(id="a", choices=["red", "green"], answer="green"),
            _rec(id="b", choices=["red", "red", "green"], answer="red"),
            _rec(id="c", choices=["red", "green"], answer="Red"),
            _rec(id="d", choices=[], answer="red"),
            _rec(id="a", answer="red"),
        ],
    )
    out = tmp_path / "ds"
    summary = build_dataset(_recipe(tmp_path, "image", {"test": "t.jsonl"}), out, progress=False)
    assert summary.samples == {"test": 1} and summary.errors == {"test": 5}
    reasons = _reasons(out)
    assert reasons["test-000001"] == "id 'a' already used by line 1"
    assert reasons["test-000005"] == "id 'a' already used by line 1"
    assert "'red' more than once" in reasons["test-000002"]
    assert "ambiguous" in reasons["test-000002"]
    assert "'red' differs in case" in reasons["test-000003"]
    assert "empty" in reasons["test-000004"]
    assert EventVQADataset(out, "test")[0]["meta"]["source"]["source_id"] == "a"


def test_question_type_says_multiple_choice_for_records_with_choices(tmp_path):
    _image(tmp_path)
    write_jsonl(
        tmp_path / "t.jsonl",
        [
            _rec(choices=["red", "green"], answer="red"),
            _rec(answer="red"),
            _rec(choices=["red", "green"], answer="red", question_type="color"),
        ],
    )
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "image", {"test": "t.jsonl"}), out, progress=False)
    types = [s["question_type"] for s in EventVQADataset(out, "test")]
    assert types == ["multiple-choice", "open", "color"]


def _build(recipe: Path, out: Path, *extra: str) -> int:
    return build_main(
        [str(recipe), "-o", str(out), "--no-progress", "--no-preview", "--workers", "1", *extra]
    )


def test_build_with_no_samples_warns_and_fails(tmp_path, capsys):
    _image(tmp_path)
    write_jsonl(tmp_path / "bad.jsonl", [_rec(choices=["red"], answer="Red"), _rec(answer=3)])
    write_jsonl(tmp_path / "good.jsonl", [_rec(answer="red")])
    out = tmp_path / "all-bad"
    assert _build(_recipe(tmp_path, "image", {"test": "bad.jsonl"}), out) == 1
    err = capsys.readouterr().err
    assert "warning: split test: all 2 records were rejected" in err
    assert str(out / "errors.jsonl") in err
    assert "no samples were built" in err and "still written" in err
    assert (out / "dataset.json").is_file() and len(_reasons(out)) == 2
    note = "split test has no samples: all 2 records were skipped"
    assert note in describe_dataset(out)
    report = verify_dataset(out)
    assert report.ok and note in report.text()

    # one split with samples: the other's warning, and success
    recipe = _recipe(tmp_path, "image", {"train": "good.jsonl", "test": "bad.jsonl"})
    assert _build(recipe, tmp_path / "half") == 0
    err = capsys.readouterr().err
    assert "split test: all 2 records were rejected" in err and "train" not in err


def test_build_of_an_empty_split_file_warns(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("\n")
    assert _build(_recipe(tmp_path, "image", {"test": "empty.jsonl"}), tmp_path / "e") == 1
    err = capsys.readouterr().err
    assert "warning: split test: " in err and "empty.jsonl" in err and "no records" in err


def test_build_of_a_split_asked_to_be_empty_is_silent(tmp_path, capsys):
    out = tmp_path / "s"
    code = _build(
        Path(__file__).resolve().parents[1] / "datasets" / "shapes-vqa.toml", out, "--set", "splits.train=0", "--set", "splits.val=0", "--set", "splits.test=1",
        "--set", "camera.width=64", "--set", "camera.height=48",
        "--set", "source.object_size_px=[8, 12]", "--set", "source.motion_px=[4, 8]",
    )  # fmt: skip
    assert code == 0 and "warning" not in capsys.readouterr().err
