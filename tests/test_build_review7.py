"""Findings of the seventh review of `eventsim build` on users' own VQA files: options alike but
for surrounding spaces, a record's own answer_index, an answer given as a letter, relative media
paths that miss their file, and a split file that is not UTF-8."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset
from eventsim.datasets.questions import reference_index
from eventsim.errors import DatasetError

from user_media import error_reasons, small_recipe, textured, write_jsonl, write_video

_recipe = functools.partial(small_recipe, name="r7")


def _image_qa(tmp_path: Path, records: list[dict]) -> Path:
    cv2.imwrite(str(tmp_path / "img.png"), textured(1))
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": "img.png", "question": f"Q{k}?", **r} for k, r in enumerate(records)],
    )
    return _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"')


def _built(out: Path) -> dict[str, dict]:
    lines = (out / "samples.jsonl").read_text().splitlines()
    return {json.loads(x)["id"]: json.loads(x) for x in lines}


def test_options_alike_but_for_surrounding_spaces_are_skipped(tmp_path):
    """Options '2' and ' 2' (or 'Left' and 'Left ') were kept as two; a model is shown them
    alike, and the scorer, which reads a reference without surrounding spaces, found the answer
    naming both and scored a sample labelled multiple-choice free-form."""
    recipe = _image_qa(
        tmp_path,
        [
            {"choices": ["2", " 2"], "answer": " 2"},
            {"choices": ["Left", "Left ", "Right"], "answer": "Right"},
            {"choices": ["red", "red"], "answer": "red"},
            # options that only normalise alike are told apart by their exact text, as the
            # scorer does: kept
            {"choices": ["2", "two"], "answer": "two"},
            {"choices": ["Left", "left "], "answer": "Left"},
        ],
    )
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    reasons = error_reasons(out)
    assert set(reasons) == {"test-000000", "test-000001", "test-000002"}
    assert "'2' more than once (surrounding spaces aside)" in reasons["test-000000"]
    assert "'Left' more than once (surrounding spaces aside)" in reasons["test-000001"]
    assert "'red' more than once;" in reasons["test-000002"]
    for sample in _built(out).values():
        # every multiple-choice sample kept is one the scorer scores as one, on its index
        assert sample["question_type"] == "multiple-choice"
        assert reference_index(sample["answer"], sample["choices"]) == sample["answer_index"]


def test_a_records_own_answer_index_must_be_its_answers(tmp_path):
    """A record's answer_index was ignored: one that disagreed with its answer (a 1-based index,
    or an answer text edited since) was built with the answer's index without a word."""
    recipe = _image_qa(
        tmp_path,
        [
            {"choices": ["a", "b"], "answer": "a", "answer_index": 0},
            {"choices": ["a", "b"], "answer": "a", "answer_index": 1},
            {"choices": ["a", "b"], "answer": "b", "answer_index": 5},
            {"choices": ["a", "b"], "answer": "b", "answer_index": "1"},
            {"choices": ["a", "b"], "answer": "b", "answer_index": True},
            # as a pandas column with a gap writes them
            {"choices": ["a", "b"], "answer": "b", "answer_index": 1.0},
            {"choices": ["a", "b"], "answer": "b", "answer_index": float("nan")},
            {"choices": ["a", "b"], "answer": "b", "answer_index": 0.5},
        ],
    )
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    reasons = error_reasons(out)
    assert set(reasons) == {
        "test-000001",
        "test-000002",
        "test-000003",
        "test-000004",
        "test-000007",
    }
    assert reasons["test-000001"] == (
        "answer_index 1 does not match answer 'a', which is choice 0 (0-based) of ['a', 'b']"
    )
    assert "answer_index 5 does not match answer 'b'" in reasons["test-000002"]
    assert reasons["test-000003"] == "answer_index must be an integer (0-based), got '1'"
    assert "got True" in reasons["test-000004"]
    assert "got 0.5" in reasons["test-000007"]
    assert _built(out)["test-000000"]["answer_index"] == 0


def test_an_answer_given_as_a_letter_is_told_to_be_the_options_text(tmp_path):
    """Answer 'B' among options 'cat', 'dog' was said to be none of them, no more."""
    recipe = _image_qa(
        tmp_path,
        [
            {"choices": ["cat", "dog"], "answer": "B"},
            {"choices": ["cat", "dog"], "answer": "(B)"},
            {"choices": ["cat", "dog"], "answer": "Cat"},
            # options that are letters themselves: the case is what differs
            {"choices": ["a", "b"], "answer": "B"},
        ],
    )
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    reasons = error_reasons(out)
    assert reasons["test-000000"].endswith("(give the option's text, 'dog', not its letter)")
    assert reasons["test-000001"].endswith("(give the option's text, 'dog', not its letter)")
    assert reasons["test-000002"].endswith("(choices are case-sensitive: 'cat' differs in case)")
    assert reasons["test-000003"].endswith("(choices are case-sensitive: 'b' differs in case)")


def test_a_relative_media_path_that_misses_says_where_relative_paths_start(tmp_path, monkeypatch):
    """A relative video path in a split file in data/ read from data/; the reason named the
    path it tried only, not the rule, nor that the file is in the folder the build ran from."""
    (tmp_path / "data").mkdir()
    write_video(tmp_path / "v.avi", 25, 20, 2)
    cv2.imwrite(str(tmp_path / "img.png"), textured(1))
    write_jsonl(
        tmp_path / "data" / "qa.jsonl",
        [
            {"video": "v.avi", "time": 0.5, "question": "Q?", "answer": "a"},
            {"video": "none.avi", "time": 0.5, "question": "Q?", "answer": "a"},
        ],
    )
    write_jsonl(
        tmp_path / "data" / "img.jsonl", [{"image": "img.png", "question": "Q?", "answer": "a"}]
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "ds"
    build_dataset(_recipe(tmp_path, "video", "data/qa.jsonl"), out, progress=False)
    reasons = error_reasons(out)
    data = str(tmp_path / "data")
    assert reasons["test-000000"] == (
        f"video {os.path.join(data, 'v.avi')!r} does not exist; relative video paths start at "
        f"the split file's folder ({data!r}); 'v.avi' is in the current folder: give it as "
        f"{str(tmp_path / 'v.avi')!r}"
    )
    assert reasons["test-000001"].endswith(f"start at the split file's folder ({data!r})")
    # from another folder, the recipe's folder is named
    monkeypatch.chdir(tmp_path / "data")
    build_dataset(_recipe(tmp_path, "image", "data/img.jsonl"), out, progress=False, force=True)
    assert error_reasons(out)["test-000000"].endswith(
        "'img.png' is in the recipe file's folder: set source.root = \".\""
    )


def test_a_split_file_that_is_not_utf8_names_the_line(tmp_path):
    recipe = _image_qa(tmp_path, [{"answer": "a"}])
    lines = (tmp_path / "qa.jsonl").read_bytes()
    (tmp_path / "qa.jsonl").write_bytes(
        lines + b'{"image": "img.png", "question": "Caf\xe9?", "answer": "a"}\n'
    )
    with pytest.raises(DatasetError, match=r"is not UTF-8 text: line 2: .*; save it as UTF-8"):
        build_dataset(recipe, tmp_path / "ds", progress=False)
