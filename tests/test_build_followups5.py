"""Follow-ups to the fifth review of `eventsim build`: what a build refuses, how its shards'
format is checked, its folder lock across a fork, and how a finished dataset is finished again."""

import json
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import EventVQADataset, build_dataset
from eventsim.errors import DatasetError

from user_media import textured, write_jsonl


def _image_recipe(tmp_path: Path, records: list[dict]) -> Path:
    (tmp_path / "img").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "img" / "a.png"), textured(0))
    write_jsonl(tmp_path / "t.jsonl", records)
    path = tmp_path / "image.toml"
    path.write_text(
        '[dataset]\nname = "f5"\n[source]\nkind = "image"\n[camera]\nwidth = 64\nheight = 48\n'
        '[events]\nwindow_ms = 20\n[splits]\ntest = "t.jsonl"\n[build]\nshard_size = 8\n'
    )
    return path


def _reasons(out: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    return {r["id"]: r["reason"] for r in rows}


# ----------------------------------------------------------------------------- choices


def _choice_records() -> list[dict]:
    many = [f"o{i}" for i in range(30)]
    return [
        {"image": "img/a.png", "question": "Which?", "choices": many[:26], "answer": "o25"},
        {"image": "img/a.png", "question": "Which?", "choices": many[:27], "answer": "o3"},
        {"image": "img/a.png", "question": "Which?", "choices": many, "answer": "o29"},
    ]


def test_a_record_with_more_than_26_choices_is_skipped_with_the_count(tmp_path):
    """epvlm letters options A to Z and refused such a dataset at eval, after the build had
    taken it."""
    out = tmp_path / "ds"
    summary = build_dataset(_image_recipe(tmp_path, _choice_records()), out, progress=False)
    assert summary.samples == {"test": 1} and summary.errors == {"test": 2}
    reasons = _reasons(out)
    assert reasons["test-000001"] == (
        "choices lists 27 options; at most 26 (A to Z) can be asked and scored"
    )
    assert reasons["test-000002"].startswith("choices lists 30 options;")
    assert len(EventVQADataset(out, "test")[0]["choices"]) == 26


def test_strict_stops_at_a_record_with_more_than_26_choices(tmp_path):
    recipe = _image_recipe(tmp_path, _choice_records())
    with pytest.raises(DatasetError) as info:
        build_dataset(recipe, tmp_path / "ds", strict=True, progress=False)
    message = str(info.value)
    assert message.startswith("sample test-000001 (")
    assert "t.jsonl line 2): choices lists 27 options; at most 26 (A to Z)" in message
