"""EP-VLM as a library (round 11 walkthrough): refusals of a window longer than a sample
stores, a reversed window, a grid that is not two ints or does not fit the image, choice
lists of None and a token count of 0."""

from __future__ import annotations

import numpy as np
import pytest

from epvlm.prior import event_block_scores, keep_budget, select_blocks
from eventsim.errors import ArgumentValueError, ParameterError
from eventsim.events import EVENT_DTYPE


def _events(n: int = 50, t_end: int = 50_000) -> np.ndarray:
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"] = np.arange(n) % 224
    ev["y"] = (np.arange(n) * 7) % 224
    ev["t"] = np.linspace(1, t_end, n).astype(np.int64)
    ev["p"] = np.arange(n) % 2
    return ev


@pytest.fixture(scope="module")
def proc():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from epvlm.processing import build_offline_processor

    return build_offline_processor(["what colour is the object red blue"])


def _sample() -> dict:
    # as EventVQADataset gives it: 50 ms of events stored before the frame at 50 ms
    return {
        "id": "test-000003",
        "image": np.zeros((224, 224, 3), np.uint8),
        "events": _events(),
        "meta": {"window_us": (0, 50_000), "frame_t_us": 50_000, "sensor_size": (224, 224)},
    }


@pytest.mark.parametrize("call", ["make_selection", "selection_scores"])
def test_window_longer_than_the_sample_stores_is_refused(proc, call):
    import epvlm.evaluate

    func = getattr(epvlm.evaluate, call)
    args = (proc, _sample(), "event") + ((0.5,) if call == "make_selection" else ())
    with pytest.raises(ParameterError, match=r"event window 500 ms is longer than the 50 ms of "):
        func(*args, window_ms=500)
    with pytest.raises(
        ParameterError,
        match=r"sample 'test-000003' stores before its frame.*"
        r"window_ms >= 500.*ask for 50 ms or less",
    ):
        func(*args, window_ms=500)
    # the stored length and shorter ones still work
    assert func(*args, window_ms=50) is not None
    assert func(*args, window_ms=20) is not None


def test_reversed_window_is_refused_also_with_scores_made_beforehand():
    image = np.zeros((224, 224, 3), np.uint8)
    match = r"t_end_us=0 is before t_start_us=50000"
    with pytest.raises(ArgumentValueError, match=match):
        event_block_scores(_events(), (224, 224), (8, 8), window_us=(50_000, 0))
    with pytest.raises(ArgumentValueError, match=match):
        select_blocks(
            "event", image, keep=0.5, grid=(8, 8), events=_events(), window_us=(50_000, 0)
        )
    # block scores made beforehand skipped the window and selected by them
    with pytest.raises(ArgumentValueError, match=match):
        select_blocks(
            "event",
            image,
            keep=0.5,
            grid=(8, 8),
            events=_events(),
            window_us=(50_000, 0),
            scores=np.ones((8, 8)),
        )


@pytest.mark.parametrize("grid", [(4, 4, 1), (4,), (4.5, 4), "44", (0, 4)])
def test_grid_not_two_positive_ints_is_refused(grid):
    image = np.zeros((224, 224, 3), np.uint8)
    with pytest.raises(ParameterError, match=r"token grid"):
        select_blocks("center", image, keep=0.5, grid=grid)


@pytest.mark.parametrize("selector", ["dense", "center", "random", "event"])
def test_grid_of_another_aspect_than_the_image_is_refused(selector):
    image = np.zeros((224, 224, 3), np.uint8)
    with pytest.raises(ParameterError, match=r"token grid \(4, 8\).*image of 224x224 px"):
        select_blocks(selector, image, keep=0.5, grid=(4, 8), events=_events())


def test_grids_the_processor_can_make_are_taken(proc):
    from epvlm.processing import grid_for_size

    for h, w in [(224, 224), (112, 448), (480, 640), (30, 500), (57, 29), (1000, 13)]:
        image = np.zeros((h, w, 3), np.uint8)
        grid = grid_for_size(proc, h, w)
        assert select_blocks("center", image, keep=0.5, grid=grid).mask.shape == grid
    # a smaller pixel budget's grid of the same aspect is taken (the scale is not known here)
    assert select_blocks("center", np.zeros((224, 224, 3), np.uint8), keep=0.5, grid=(4, 4))


def test_choice_list_of_none_is_refused(proc):
    from epvlm.evaluate import answer_selections
    from epvlm.prior import Selection

    sel = Selection("dense", 1.0, np.zeros((56, 56, 3), np.uint8), np.ones((2, 2), bool), 4)
    with pytest.raises(ParameterError, match=r"choices\[0\] is None; expected a list"):
        answer_selections(None, proc, [sel], ["what colour is the object"], [None])
    with pytest.raises(ParameterError, match=r"choices\[0\] is 'red'; expected a list"):
        answer_selections(None, proc, [sel], ["what colour is the object"], ["red"])
    with pytest.raises(ParameterError, match=r"choices None is not a sequence"):
        answer_selections(None, proc, [sel], ["what colour is the object"], None)


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_keep_budget_of_no_tokens_is_refused(n):
    with pytest.raises(ParameterError, match=rf"token count {n!r} is not an integer >= 1"):
        keep_budget(n, 0.5)
    assert keep_budget(np.int64(5), 0.5) == 3
