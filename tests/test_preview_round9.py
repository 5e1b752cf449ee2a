"""The build preview's captions: RealWorldQA writes its options into the question, one a line,
and `preview_dataset` drew the question as it was, so that "A. ..." printed over the answer line
and the other options ran off the bottom of the tile; a question wider than the tile ran off
its right edge. The question is now wrapped to the tile, line by line, at most six lines (the
last ending in '...' where more was left out), above the answer line."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset
from eventsim.datasets.inspection import preview_dataset
from eventsim.datasets.loader import EventVQADataset

from user_media import textured, write_jsonl

RWQA = (
    "What colour is the car?\nA. red\nB. blue\nC. green\n"
    "Please answer directly with only the letter of the correct option."
)
LONG = "Is there " + "a question that goes on and on " * 8 + "here?"
MANY = "\n".join(f"Line {k} of a question of many lines." for k in range(10))
CJK = "图中的汽车是什么颜色" * 12  # no spaces to break at
QUESTIONS = [RWQA, LONG, MANY, CJK, "Short?"]
ANSWERS = ["A", "yes", "no", "红色", "a long answer " * 20]
TEXT_WIDTH = 4 * 2 * 64 - 2 * 6  # 64x48 frames, side by side, enlarged 4 times; 6 px margins


@pytest.fixture(scope="module")
def captions(tmp_path_factory) -> tuple[list[list[tuple[str, tuple[int, int]]]], list, Path]:
    """The texts drawn for each tile with their places, the bands they were drawn on, the
    preview."""
    root = tmp_path_factory.mktemp("preview9")
    for k in range(len(QUESTIONS)):
        cv2.imwrite(str(root / f"{k}.png"), textured(k + 1))
    write_jsonl(
        root / "qa.jsonl",
        [
            {"image": f"{k}.png", "question": q, "answer": a}
            for k, (q, a) in enumerate(zip(QUESTIONS, ANSWERS, strict=True))
        ],
    )
    (root / "r.toml").write_text(
        '[dataset]\nname = "p9"\n[source]\nkind = "image"\nmotion = "pan"\n[camera]\n'
        'width = 64\nheight = 48\n[events]\nwindow_ms = 20\n[splits]\ntest = "qa.jsonl"\n'
    )
    build_dataset(root / "r.toml", root / "ds", progress=False)
    drawn: list[list[tuple[str, tuple[int, int]]]] = []
    bands: list = []
    put_text = cv2.putText

    def record(img, text, org, *args, **kwargs):
        if not bands or bands[-1] is not img:
            bands.append(img)
            drawn.append([])
        drawn[-1].append((text, tuple(org)))
        return put_text(img, text, org, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("error")  # no glyph or font warnings reach the user
        mp.setattr(cv2, "putText", record)
        path = preview_dataset(root / "ds", root / "p.png", n=len(QUESTIONS))
    return drawn, bands, path


def _width(text: str) -> int:
    return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]


def test_every_caption_line_fits_its_tile_one_below_the_other(captions):
    drawn, bands, path = captions
    assert len(drawn) == len(QUESTIONS)
    for lines, band in zip(drawn, bands, strict=True):
        assert band.shape[1] == TEXT_WIDTH + 12
        assert [org for _, org in lines] == [(6, 17 + 20 * k) for k in range(len(lines))]
        assert band.shape[0] == 4 + 20 * len(lines)  # the last line's descenders included
        for text, _ in lines:
            assert "\n" not in text and _width(text) <= TEXT_WIDTH, text
    sheet = cv2.imread(str(path))
    # tiles of two columns, as tall as the tallest in their sheet
    tallest = max(b.shape[0] for b in bands)
    assert sheet.shape[0] == 3 * (4 * 48 + tallest)


def test_a_realworldqa_question_is_drawn_line_by_line_above_its_answer(captions):
    drawn, _, _ = captions
    n = len(EventVQADataset(Path(captions[2]).parent / "ds", "test")[0]["events"])
    assert [text for text, _ in drawn[0]] == [
        *RWQA.split("\n"),
        f"-> A  (multiple-choice, {n} events)",
    ]


def test_a_long_question_is_wrapped_whole(captions):
    texts = [text for text, _ in captions[0][1]]
    assert len(texts) > 2 and texts[-1].startswith("-> yes  (open, ")
    assert " ".join(texts[:-1]) == " ".join(LONG.split())


def test_a_question_of_too_many_lines_is_cut_with_an_ellipsis(captions):
    texts = [text for text, _ in captions[0][2]]
    assert texts[:5] == MANY.split("\n")[:5]
    assert len(texts) == 7 and texts[5].endswith("...") and texts[5][:-3] in MANY
    assert texts[6].startswith("-> no  (")


def test_text_without_spaces_is_broken_inside_to_fit(captions):
    texts = [text for text, _ in captions[0][3]]
    assert len(texts) > 2 and texts[-1].startswith("-> 红色  (")
    question = "".join(texts[:-1])
    assert question == CJK or (question.endswith("...") and CJK.startswith(question[:-3]))


def test_a_long_answer_is_cut_and_its_kind_and_count_kept(captions):
    texts = [text for text, _ in captions[0][4]]
    assert texts[0] == "Short?" and len(texts) == 2
    assert texts[1].startswith("-> a long answer a long")
    assert "...  (open, " in texts[1] and texts[1].endswith(" events)")


def test_a_short_question_is_drawn_as_before(build_shapes, tmp_path, monkeypatch):
    """A one-line question that fits keeps the two lines on a 44-px band it always had, so
    previews of such datasets are unchanged byte for byte."""
    root = build_shapes(1)
    s = EventVQADataset(root, "test")[0]
    drawn = []
    put_text = cv2.putText

    def record(img, text, org, *args, **kwargs):
        drawn.append((img.shape, text, tuple(org)))
        return put_text(img, text, org, *args, **kwargs)

    monkeypatch.setattr(cv2, "putText", record)
    preview_dataset(root, tmp_path / "p.png", n=1)
    answer = f"-> {s['answer']}  ({s['question_type']}, {len(s['events'])} events)"
    shape = (44, drawn[0][0][1], 3)
    assert drawn == [(shape, s["question"], (6, 17)), (shape, answer, (6, 37))]
