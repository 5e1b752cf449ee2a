"""A second look at a day of epvlm fixes: the demo's words for an unconfirmed difference, epvlm
run's alpha channel read as its colour is, grey TIFFs with transparency, the results folder's
refusal without kept answers, and keep fractions that differ past six digits."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from epvlm.demo import findings, headline, summarize

from user_media import tiff_bytes

# ----------------------------------------------------------------------------- 1: demo words


def _samples(selector: str, keep: float, scenario: str, n: int, right: Callable[[int], bool]):
    """``n`` questions of ``scenario`` (odd ones detail) answered by one configuration."""
    return [
        {
            "id": f"{scenario}{i}",
            "selector": selector,
            "keep": keep,
            "correct": bool(right(i)),
            "question_type": "pattern" if i % 2 else "color",
            "target_motion": scenario,
            "flops": 100 if selector == "dense" else 50,
            "latency_s": 0.01,
            "kept_tokens": 64 if selector == "dense" else 32,
            "total_tokens": 64,
        }
        for i in range(n)
    ]


def _line(lines: list[str], text: str) -> str:
    (line,) = [s for s in lines if text in s]
    return line


def test_a_borderline_difference_on_many_questions_is_not_called_too_few():
    """60 against 40 of 600 questions answered differently: the bootstrap interval excludes 0,
    the exact McNemar test does not (p = 0.057). 100 questions are not too few to judge (any
    count from 6 could reach p < 0.05); the effect is not beyond noise, and is said so."""
    summary = summarize(
        _samples("dense", 1.0, "moving", 600, lambda i: True)
        + _samples("event", 0.5, "moving", 600, lambda i: i >= 40)
        + _samples("random", 0.5, "moving", 600, lambda i: not 40 <= i < 100)
        # static: event right on 40 dense misses, wrong on 60 dense answers right
        + _samples("dense", 1.0, "static", 600, lambda i: i >= 40)
        + _samples("event", 0.5, "static", 600, lambda i: not 40 <= i < 100)
        + _samples("random", 0.5, "static", 600, lambda i: not 40 <= i < 100)
    )
    (event,) = [r for r in summary["rows"] if r["selector"] == "event"]
    moving = event["groups"]["target_motion"]["moving"]
    assert moving["paired"]["random"]["diff_ci95"][0] > 0
    assert event["groups"]["target_motion"]["static"]["diff_vs_dense_ci95"][1] < 0
    lines = findings(summary)
    beats = _line(lines, "`event` beats `random` at τ = 0.5 on moving-target questions")
    assert beats.endswith(
        "— not beyond noise: exact McNemar p = 0.057 on the 100 of 600 questions answered "
        "differently."
    )
    static = _line(lines, "did not move")
    assert static.startswith(
        "On static targets the event prior's change from dense is not beyond noise: on the 600 "
    )
    assert "not beyond noise: exact McNemar p = 0.057 on the 100 of 600 questions" in static
    assert "too few" not in "\n".join(lines + headline(summary))


def test_five_questions_answered_differently_are_still_too_few():
    # 5 of 300, all one way: p = 0.0625, the least 5 can give
    summary = summarize(
        _samples("dense", 1.0, "moving", 300, lambda i: True)
        + _samples("event", 0.5, "moving", 300, lambda i: True)
        + _samples("random", 0.5, "moving", 300, lambda i: i >= 5)
    )
    beats = _line(findings(summary), "`event` beats `random` at τ = 0.5 on moving-target")
    assert beats.endswith(
        "— too few questions answered differently to judge: 5 of 300, exact McNemar p = 0.062."
    )


def test_the_target_verdict_on_many_questions_is_not_called_too_few_and_counts_shared_ones():
    """580 of dense's 600 right answers: the bootstrap interval of the share (95.2-98.0 %)
    clears 95 %, the Wilson bound (94.9 %) does not; with 600 questions it could have, so they
    are not too few. The bound counts the 600 questions dense answered, not the cell's 650."""
    summary = summarize(
        _samples("dense", 1.0, "moving", 600, lambda i: True)
        + _samples("event", 0.5, "moving", 650, lambda i: i >= 20)
    )
    moving = _line(findings(summary), "on moving-target questions (95 % CI")
    assert "n = 650);" in moving  # the cell's accuracy is of its 650
    assert moving.endswith(
        "it meets the 95 % target on the point estimate and its bootstrap interval, but not "
        "beyond noise (n = 600 shared with dense): a 95 % lower bound made for small n is 94.9 %, "
        "not above the target."
    )

    # 72 questions: all of them right would still give a Wilson bound of 94.9 %
    summary = summarize(
        _samples("dense", 1.0, "moving", 72, lambda i: True)
        + _samples("event", 0.5, "moving", 80, lambda i: True)
    )
    moving = _line(findings(summary), "on moving-target questions (95 % CI")
    assert "but too few questions (n = 72 shared with dense) to judge: a 95 % lower bound" in (
        moving
    )


# ----------------------------------------------------------------------------- 2: alpha bytes


def _tiff_opencv_cannot_turn(monkeypatch) -> None:
    """cv2.imdecode as OpenCV 5.0's fails on a non-square TIFF tagged with a quarter turn (the
    OpenCV here may decode it)."""
    import cv2

    from eventsim.simulator.sources import exif_orientation

    real = cv2.imdecode

    def imdecode(buf, flags):
        img = real(buf, flags)
        if img is not None and img.shape[0] != img.shape[1]:
            if exif_orientation(bytes(buf)) in (5, 6, 7, 8):
                return None
        return img

    monkeypatch.setattr(cv2, "imdecode", imdecode)


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_the_alpha_of_a_quarter_turned_tiff_is_read_from_the_colours_bytes(
    tmp_path, monkeypatch, orientation
):
    """`decode_image` decodes a TIFF with its orientation entry set to 1; the alpha was
    decoded from the file's own bytes, which an OpenCV that cannot decode a non-square TIFF
    tagged 5..8 refused, and the image was refused for a transparency OpenCV 'cannot
    decode'. It is read from the same bytes as the colour, turned by the same rule."""
    from epvlm.cli import _read_image
    from eventsim.simulator.sources import apply_exif_orientation

    _tiff_opencv_cannot_turn(monkeypatch)
    rgba = np.random.default_rng(orientation).integers(0, 256, (6, 10, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[:2, :3, 3] = 255  # opaque in the stored top-left corner only
    path = tmp_path / "turned.tif"
    path.write_bytes(tiff_bytes(rgba, orientation=orientation))
    upright = apply_exif_orientation(rgba, orientation)
    expected = np.where(upright[..., 3:] == 255, upright[..., :3], 255).astype(np.uint8)
    np.testing.assert_array_equal(_read_image(str(path)), expected)


# ----------------------------------------------------------------------------- 3: grey + alpha


def _grey_alpha_tiff(la: np.ndarray, orientation: int) -> bytes:
    """``la`` (8-bit grey and unassociated alpha) as a TIFF written by Pillow, tagged with
    ``orientation``."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(la, "LA").save(out, "TIFF", tiffinfo={274: orientation})
    return out.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_grey_tiff_keeps_its_transparency_as_a_png_does(tmp_path, orientation):
    """OpenCV decodes a grey TIFF with alpha as its grey alone, so a transparent pixel gave
    the model its grey (200) where the same image as PNG gives white; the alpha is read with
    Pillow from the bytes the grey came from and turned upright once, with the grey."""
    pytest.importorskip("PIL")
    import cv2

    from epvlm.cli import _read_image
    from eventsim.simulator.sources import apply_exif_orientation

    la = np.zeros((4, 7, 2), np.uint8)
    la[..., 0] = np.arange(28, dtype=np.uint8).reshape(4, 7) * 9
    la[0, :3, 1] = 255  # opaque in the stored top-left corner
    la[1, :2, 1] = 128  # half transparent below it
    path = tmp_path / "grey.tif"
    path.write_bytes(_grey_alpha_tiff(la, orientation))
    upright = apply_exif_orientation(la, orientation)
    png = tmp_path / "grey.png"
    bgra = np.concatenate([np.repeat(upright[..., :1], 3, axis=2), upright[..., 1:]], axis=2)
    assert cv2.imwrite(str(png), bgra)
    expected = _read_image(str(png))
    assert expected[upright[..., 1] == 0].min() == 255
    np.testing.assert_array_equal(_read_image(str(path)), expected)


# ----------------------------------------------------------------------------- 4: results folder


@pytest.mark.parametrize("answers", [None, b"", b'{"start": 0, "sel'])
def test_a_damaged_state_without_kept_answers_says_none_were_kept(tmp_path, answers):
    """The refusal said 'the kept answers do not show ...' also where no answer line was
    kept (no file, an empty one, or one torn line, which a resume drops)."""
    from epvlm.results import PARTIAL_ANSWERS, PARTIAL_STATE, check_results_folder
    from eventsim.errors import OutputExistsError

    (tmp_path / PARTIAL_STATE).write_text("{")
    if answers is not None:
        (tmp_path / PARTIAL_ANSWERS).write_bytes(answers)
    with pytest.raises(OutputExistsError) as err:
        check_results_folder(tmp_path, None, False, {"seed": 0})
    message = str(err.value)
    assert f"no answer was kept in {PARTIAL_ANSWERS} to show which settings it ran with" in (
        message
    )
    assert "the kept answers" not in message

    (tmp_path / PARTIAL_ANSWERS).write_bytes(b'{"start": 0}\n')
    with pytest.raises(OutputExistsError, match="the kept answers do not show that they were"):
        check_results_folder(tmp_path, None, False, {"seed": 0})


# ----------------------------------------------------------------------------- 5: keep labels


def test_keeps_that_differ_past_six_digits_print_apart_in_one_table():
    """`--keep 0.3333333,0.33333333` gave two rows both labelled 0.333333; a table takes as
    many digits as tell its keeps apart, and a keep alone prints with 3."""
    from epvlm.results import aggregate, fmt_keep, results_table

    samples = [
        {"id": str(i), "selector": sel, "keep": keep, "correct": i % 2 == 0, "flops": 10.0,
         "latency_s": 0.1, "kept_tokens": 4, "total_tokens": 16,
         "fallback": "center" if sel == "event" and i == 0 else None}
        for sel, keep in (("dense", 1.0), ("event", 0.3333333), ("event", 0.33333333),
                          ("event", 0.5), ("event", 0.5000000001))
        for i in range(4)
    ]  # fmt: skip
    table = results_table(aggregate(samples, bootstrap=False))
    keeps = [line.split(" | ")[1] for line in table.splitlines()[2:7]]
    assert sorted(keeps) == sorted(["1", "0.5", "0.5000000001", "0.3333333", "0.33333333"])
    assert "Note: event at keep 0.3333333: 1 of 4 answers" in table
    assert "Note: event at keep 0.33333333: 1 of 4 answers" in table
    assert fmt_keep(1 / 3) == "0.333"
    assert fmt_keep(1 / 3, [0.25, 0.5]) == "0.333"
    assert fmt_keep(0.3333333, [0.3333333, 0.33333333]) == "0.3333333"


def test_a_lock_whose_pid_record_cannot_be_written_is_let_go(tmp_path, monkeypatch):
    # a full disk while writing the holder's pid raised a bare OSError and kept the lock open
    # (and the lock file in place) until the process ended
    import errno
    import os

    from epvlm import results
    from epvlm.errors import ResultsFolderLockError

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "new" / "out"
    pwrite = os.pwrite
    monkeypatch.setattr(results.os, "pwrite", full)
    with pytest.raises(ResultsFolderLockError, match="No space left"):
        results.lock_results_folder(out)
    assert not (tmp_path / "new").exists()  # the folders it made are gone again
    monkeypatch.setattr(results.os, "pwrite", pwrite)
    with results.lock_results_folder(out) as lock:
        assert lock.guarded
