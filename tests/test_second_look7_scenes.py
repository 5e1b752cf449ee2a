"""Second look at the procedural scenes: the options and answers of shapes-vqa's count questions
(a never-right option is a shortcut a trained model learns), and the camera pan of 34f1a87 in
every direction, at the largest pan a config allows. Also the answer reading that c3ca79d shares
between the builder and the scorer: options that normalise alike, letters as option text,
Unicode forms and decimals."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest

from epvlm.answers import parse_choice, score_answer
from eventsim.datasets.questions import answers_an_option, normalize_text, reference_index
from eventsim.datasets.scene_render import render_pan, to_u8
from eventsim.datasets.scenes import COLORS, SceneConfig, draw_sample

COUNT = SceneConfig(mode="vqa", question_types=("count",))


def _wording(question: str) -> str:
    return re.sub(
        r"How many \w+ objects are there", "How many <colour> objects are there", question
    )


def _count_answers(cfg: SceneConfig, seeds: range):
    answers: dict[str, Counter] = defaultdict(Counter)
    offered: dict[str, Counter] = defaultdict(Counter)
    for seed in seeds:
        s = draw_sample(cfg, seed, render_frames=False)
        assert s.choices[s.answer_index] == s.answer and len(set(s.choices)) == len(s.choices)
        answers[_wording(s.question)][s.answer] += 1
        offered[_wording(s.question)].update(s.choices)
    return answers, offered


def test_every_count_option_is_sometimes_right_and_no_count_dominates():
    """shapes-vqa offered every count from 0 to 4: '0' was a choice in 3 of 4 count questions
    and never right, and '1' was 42 % of the answers (59 % of 'How many objects are moving?').
    Options are now counts the wording can have, and each wording's answers are spread."""
    answers, offered = _count_answers(COUNT, range(600))
    assert set(answers) == {
        "How many objects are there?",
        "How many objects are moving?",
        "How many objects are not moving?",
        "How many <colour> objects are there?",
    }
    for wording, asked in offered.items():
        n = sum(answers[wording].values())
        assert asked.keys() == answers[wording].keys(), wording  # no option is never right
        for value in asked:
            assert answers[wording][value] >= 0.12 * n, (wording, value, answers[wording])
        # near uniform: the commonest answer at most 15 points above 1 / options
        assert max(answers[wording].values()) <= (1 / len(asked) + 0.15) * n, answers[wording]
    overall = sum(answers.values(), Counter())
    assert overall["0"] > 0
    assert max(overall.values()) <= 0.4 * sum(overall.values()), overall


def test_colour_counts_are_exact():
    for seed in range(60):
        s = draw_sample(COUNT, seed, render_frames=False)
        m = re.fullmatch(r"How many (\w+) objects are there\?", s.question)
        if m:
            assert m.group(1) in COLORS
            assert s.answer == str(sum(o["color"] == m.group(1) for o in s.meta["objects"]))
            assert s.choices in (["0", "1"], ["1", "0"])


@pytest.mark.parametrize(
    "changes",
    [
        {"moving_share": 0.0},  # nothing moves: 'How many objects are moving?' is no question
        {"moving_share": 1.0, "n_objects": (1, 3)},
        {"n_objects": (1, 1)},
    ],
)
def test_count_options_follow_the_config(changes):
    answers, offered = _count_answers(COUNT.replace(**changes), range(150))
    for wording, asked in offered.items():
        assert asked.keys() == answers[wording].keys(), (changes, wording)
        assert len(asked) >= 2, (changes, wording)


def test_seven_objects_ask_no_colour_count():
    """Seven objects have every colour: a colour count would always be 1."""
    cfg = COUNT.replace(n_objects=(7, 7), object_size_px=(10.0, 14.0))
    _, offered = _count_answers(cfg, range(40))
    assert set(offered) == {"How many objects are moving?", "How many objects are not moving?"}
    for asked in offered.values():
        assert set(asked) == {str(k) for k in range(1, 7)}


def test_a_count_sample_is_the_same_in_another_process():
    """What a build's worker draws does not depend on the process (hash seed, import order)."""
    code = (
        "import hashlib, sys\n"
        "from eventsim.datasets.scenes import SceneConfig, draw_sample\n"
        "for mode, seed in (('vqa', 11), ('target', 3)):\n"
        "    cfg = SceneConfig(mode=mode, question_types=('count',) if mode == 'vqa' else (),\n"
        "                      camera_share=0.0 if mode == 'vqa' else 1.0)\n"
        "    s = draw_sample(cfg, seed)\n"
        "    print(s.question, s.choices, hashlib.sha256(s.frames.tobytes()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    run = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    out = run.stdout.splitlines()
    here = []
    for mode, seed in (("vqa", 11), ("target", 3)):
        cfg = SceneConfig(
            mode=mode,
            question_types=("count",) if mode == "vqa" else (),
            camera_share=0.0 if mode == "vqa" else 1.0,
        )
        s = draw_sample(cfg, seed)
        here.append(f"{s.question} {s.choices} {hashlib.sha256(s.frames.tobytes()).hexdigest()}")
    assert out == here


# ----------------------------------------------------------------------------- camera pan

SIZE = 96


def _ramp_background() -> np.ndarray:
    """A smooth background with a slope in x and y, as camera-pan scenes have."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    lum = 100 + 0.3 * xx + 0.2 * yy
    return np.repeat(lum[..., None], 3, axis=2)


def _warp(img: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """``img`` shifted by (sx, sy), reflected at the border, as a panning camera sees it."""
    shift = np.array([[1, 0, sx], [0, 1, sy]], np.float32)
    moved = cv2.warpAffine(
        img, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    return to_u8(moved)


@pytest.mark.parametrize("angle", range(0, 360, 45))
@pytest.mark.parametrize("travel", [12.0, SIZE / 2])  # shapes' motion_px range, and its largest
def test_a_pan_in_any_direction_brings_in_the_bare_background(angle, travel):
    """Objects touching every border of the question-time view: whatever the direction and
    length of the pan, what comes into view is the background reflected (no mirror copy of an
    object), the rest is the scene shifted, and the seam between them is no edge."""
    background = _ramp_background()
    base = background.copy()
    for x, y in ((3, 48), (92, 48), (48, 3), (48, 92)):  # bright squares at the four borders
        base[y - 3 : y + 4, x - 3 : x + 4] = 250.0
    pan = (travel * np.cos(np.radians(angle)), travel * np.sin(np.radians(angle)))
    for phase in (0.0, 0.3, 0.7):
        frame = np.empty((SIZE, SIZE, 3), np.uint8)
        render_pan(frame, base, to_u8(base), pan, phase, background)
        sx, sy = (1 - phase) * pan[0], (1 - phase) * pan[1]
        xs, ys = np.arange(SIZE), np.arange(SIZE)
        beyond = ((ys < sy) | (ys > SIZE - 1 + sy))[:, None] | ((xs < sx) | (xs > SIZE - 1 + sx))
        assert np.array_equal(frame[beyond], _warp(background, sx, sy)[beyond])
        assert np.array_equal(frame[~beyond], _warp(base, sx, sy)[~beyond])
        # the squares' mirror twins would be 250-bright; the ramp stays below 160
        assert frame[beyond].max(initial=0) < 160
        # the reflected ramp meets the scene without a step: neighbours on the background
        # differ by the ramp's slope, at the seam as elsewhere
        still = _warp(background, sx, sy).astype(int)
        assert (
            np.abs(np.diff(still, axis=0)).max() <= 1 and np.abs(np.diff(still, axis=1)).max() <= 1
        )


def test_the_question_image_does_not_depend_on_the_pan_frames():
    """The stored image is the question-time view, drawn with or without the window's frames."""
    cfg = SceneConfig(mode="target", camera_share=1.0, motion_px=(112.0, 112.0))
    for seed in range(6):
        full, last = draw_sample(cfg, seed), draw_sample(cfg, seed, render_frames=False)
        assert np.array_equal(full.image, last.image) and np.array_equal(
            full.frames[-1], full.image
        )


# ----------------------------------------------------------------------------- answer reading


def test_options_that_normalise_alike_are_not_picked_silently():
    """Options '2' and 'two': the first that normalised like the answer was taken, so a
    reference 'Two' was option A, and a generation of the reference's exact text 'two' was
    parsed as option A while the reference was B (scored wrong)."""
    choices = ["2", "two", "3"]
    assert reference_index("Two", choices) is None
    assert not answers_an_option("How many?\nA. 2\nB. two\nC. 3", "Two")
    assert reference_index("two", choices) == 1  # its exact text
    assert parse_choice("two", choices) == 1
    assert score_answer("two", "two", choices).correct
    assert parse_choice("Two.", choices) is None
    assert parse_choice("There are two.", choices) is None
    assert parse_choice("B", choices) == 1 and parse_choice("3", choices) == 2
    assert reference_index("yes", ["yes", "yes"]) is None  # the same text twice


def test_an_answer_read_as_one_options_text_and_anothers_letter_is_no_option():
    """Letters as option text: 'a' normalises to option B's text 'A' and is option A's letter."""
    choices = ["B", "A"]
    assert reference_index("a", choices) is None
    assert reference_index("(c)", ["x", "c)", "y"]) is None
    # a choices list's answer is its exact text (the builder's answer_index), a letter is asked
    assert reference_index("A", choices) == 1 and reference_index("B", choices) == 0
    assert score_answer("B", "A", choices).correct and not score_answer("A", "A", choices).correct
    # letter and text agreeing, and a plain letter, as before
    assert reference_index("C", ["a", "b", "c"]) == 2
    assert reference_index("c", ["Left", "Straight", "Right"]) == 2


def test_unicode_forms_and_decimals_normalise_alike():
    """A decomposed accent lost its combining mark ('cafe\u0301' read 'cafe', not 'café'),
    full-width digits were no digits, and '2.0' was '2 0', no option '2'."""
    assert normalize_text("cafe\u0301") == normalize_text("café") == "café"
    assert reference_index("café", ["cafe\u0301", "tea"]) == 0
    assert reference_index("２", ["1", "2"]) == 1
    assert normalize_text("STRASSE") == normalize_text("Straße")
    assert reference_index("2.0", ["1", "2", "3"]) == 1
    assert reference_index("2", ["1.0", "2.0"]) == 1
    assert normalize_text("2.50") == normalize_text("2.5") == "2 5"
    assert normalize_text("version 2.0.1") == "version 2 0 1"  # no decimal
    assert score_answer("2.0", "two", []).correct
