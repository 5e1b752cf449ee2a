"""Seventh review of answer reading: a reference answer that is an option's text, with the
options written into the question (``A. Left / B. Right``, RealWorldQA's layout), was scored by
`epvlm.answers` as multiple-choice but labelled an open question by the builder, so results
counted a choice-scored sample under "open". Both now read it with one `reference_index`."""

from __future__ import annotations

import subprocess
import sys

import cv2
import pytest

import epvlm.answers
from epvlm.answers import score_answer
from eventsim.datasets import EventVQADataset, build_dataset, questions
from eventsim.datasets.questions import answers_an_option, reference_index

from user_media import small_recipe, textured, write_jsonl

FACING = "Which way does it face?\nA. Left\nB. Straight\nC. Right"
COUNT = "How many cars are there?\nA. one\nB. two\nC. three"


@pytest.mark.parametrize(
    ("question", "answer", "index"),
    [
        (FACING, "Right", 2),
        (FACING, "right", 2),
        (FACING, " Right. ", 2),
        (FACING, "STRAIGHT!", 1),
        (COUNT, "2", 1),  # number words as digits
        (COUNT, "Three", 2),
        (FACING, "C", 2),  # letters as before (4f05344)
        (FACING, "C.)", 2),
        (FACING, ".c", 2),
    ],
)
def test_an_options_text_is_labelled_as_it_is_scored(question, answer, index):
    """'Right' to a question listing 'C. Right' was labelled open though scored as option C."""
    assert answers_an_option(question, answer)
    assert reference_index(answer, questions.options_in_question(question)) == index
    letter = "ABC"[index]
    scored = score_answer(letter, answer, [], question)
    assert scored.mode == "choice" and scored.correct and scored.parsed == letter


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        (FACING, "Up"),
        (FACING, "D"),  # a letter past the options
        (FACING, "Left Right"),
        (FACING, ""),
        ("How many cars are there?", "A"),  # no options in the question
        ("Which way?\nA. Left", "Left"),  # one option is no list
    ],
)
def test_an_answer_that_names_no_option_is_open_and_scored_free(question, answer):
    assert not answers_an_option(question, answer)
    assert score_answer("Left", answer, [], question).mode == "free"


def test_an_answer_of_punctuation_is_no_option_of_punctuation():
    """Both normalise to nothing; the scorer's generations never match such an option's text,
    so neither may the reference."""
    question = "Which sign?\nA. ...\nB. plus"
    assert reference_index("?!", ["...", "plus"]) is None
    assert not answers_an_option(question, "?!")
    assert answers_an_option(question, "...")  # the option's own text still is it


def test_the_scorer_uses_the_builders_definitions():
    """One definition, re-exported, so the label and the scoring cannot drift apart."""
    for name in ("reference_index", "normalize_text", "clean_generation", "options_in_question"):
        assert getattr(epvlm.answers, name) is getattr(questions, name), name
        assert name in epvlm.answers.__all__


def test_the_questions_module_imports_no_torch():
    code = (
        "import sys, eventsim.datasets.questions\n"
        "heavy = {'torch', 'transformers', 'matplotlib'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_built_record_is_typed_as_it_is_scored(tmp_path):
    """The builder's question_type agrees with the scorer's mode for every record."""
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    rows = [
        (FACING, "Right"),  # option text: was labelled open
        (FACING, "C"),
        (COUNT, "two"),
        ("How many cars are there?", "2"),
        (FACING, "Up"),
    ]
    write_jsonl(
        tmp_path / "qa.jsonl", [{"image": "a.png", "question": q, "answer": a} for q, a in rows]
    )
    recipe = small_recipe(tmp_path, "image", "qa.jsonl", extra="fps = 2000", name="answers7")
    build_dataset(recipe, tmp_path / "ds", progress=False)
    with EventVQADataset(tmp_path / "ds", split="test") as ds:
        types = [ds[i]["question_type"] for i in range(len(ds))]
    assert types == ["multiple-choice", "multiple-choice", "multiple-choice", "open", "open"]
    for (question, answer), qtype in zip(rows, types):
        mode = score_answer("A", answer, [], question).mode
        assert mode == ("choice" if qtype == "multiple-choice" else "free")
