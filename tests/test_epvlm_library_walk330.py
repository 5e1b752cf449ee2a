"""epvlm as a library: refusals of the prior, the encoder, the sparse model's masks and
evaluate_dataset that were silent, wrong or untyped (walkthrough 330)."""

from __future__ import annotations

import numpy as np
import pytest

from epvlm.errors import EventsOutsideImageError, KeepMaskError
from epvlm.prior import (
    check_keep,
    event_block_scores,
    event_map,
    keep_mask_quantile,
    keep_mask_random,
    keep_mask_topk,
    select_blocks,
)
from eventsim.errors import InvalidEventsError, ParameterError
from eventsim.events import EVENT_DTYPE, StreamProblemError, make_events

IMG = np.zeros((224, 224, 3), np.uint8)


def _unsorted() -> np.ndarray:
    a = make_events(np.full(100, 3), np.full(100, 3), np.arange(100), np.ones(100))
    b = make_events(np.full(150, 220), np.full(150, 220), np.arange(1000, 1150), np.ones(150))
    return np.concatenate([b, a])


def test_unsorted_events_with_a_window_are_refused_naming_the_step_down():
    ev = _unsorted()
    with pytest.raises(StreamProblemError, match=r"not sorted by time: t\[150\] = 0 us") as e:
        event_map(ev, (224, 224), window_us=(0, 200))
    assert e.value.problem.index == 150
    with pytest.raises(InvalidEventsError, match="not sorted"):
        select_blocks("event", IMG, keep=1 / 64, grid=(8, 8), events=ev, window_us=(0, 200))
    # also when the scores were made beforehand (no silent "no events" fallback)
    with pytest.raises(InvalidEventsError, match="not sorted"):
        select_blocks(
            "event",
            IMG,
            keep=1 / 64,
            grid=(8, 8),
            events=ev,
            window_us=(0, 200),
            scores=np.ones((8, 8)),
        )
    with pytest.raises(InvalidEventsError, match="not sorted"):
        event_block_scores(ev, (224, 224), (8, 8), window_us=(0, 200))


def test_sorted_events_give_the_window_and_no_window_needs_no_order():
    ev = _unsorted()
    order = np.argsort(ev["t"], kind="stable")
    assert event_map(ev[order], (224, 224), window_us=(0, 200)).sum() == 100
    sel = select_blocks(
        "event", IMG, keep=1 / 64, grid=(8, 8), events=ev[order], window_us=(0, 200)
    )
    assert sel.fallback is None and sel.mask[0, 0] and sel.kept_tokens == 1
    # the whole stream: order does not matter to a count
    assert event_map(ev, (224, 224)).sum() == 250


@pytest.mark.parametrize("p", [2, -1])
@pytest.mark.parametrize("mode", ["count", "signed"])
def test_polarity_outside_0_1_is_refused(p, mode):
    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [0, 1, 2]
    ev["p"] = [1, p, 0]
    with pytest.raises(InvalidEventsError, match=rf"p\[1\] = {p}; expected 0 or 1"):
        event_map(ev, (8, 8), mode=mode)
    with pytest.raises(InvalidEventsError, match=rf"p\[1\] = {p}"):
        select_blocks("event", IMG, keep=0.5, grid=(8, 8), events=ev, mode=mode)


def test_whole_number_budgets_and_seeds_are_typed_refusals():
    with pytest.raises(KeepMaskError, match=r"k=2\.5 is not an integer; expected 1\.\.64"):
        keep_mask_topk(np.zeros((8, 8)), k=2.5)
    with pytest.raises(KeepMaskError, match=r"k=2\.5 is not an integer"):
        keep_mask_random((8, 8), 0.5, k=2.5)
    for selector in ("random", "center", "downsample"):
        with pytest.raises(KeepMaskError, match=r"budget=2\.5 is not an integer"):
            select_blocks(selector, IMG, keep=0.5, grid=(8, 8), budget=2.5)
    with pytest.raises(KeepMaskError, match="budget=True"):
        select_blocks("random", IMG, keep=0.5, grid=(8, 8), budget=True)
    for seed in (-1, 2.5, "1"):
        with pytest.raises(ParameterError, match=rf"seed={seed!r} is not an integer >= 0"):
            select_blocks("random", IMG, keep=0.5, grid=(8, 8), seed=seed)
    # a whole-valued float is not called fractional: the type is what is refused
    with pytest.raises(KeepMaskError, match=r"k=3\.0 is not an integer"):
        keep_mask_topk(np.zeros((8, 8)), k=np.float64(3.0))
    # whole numbers of numpy's types still go
    assert keep_mask_topk(np.zeros((8, 8)), k=np.int64(3)).sum() == 3
    assert keep_mask_random((8, 8), 0.5, np.int64(7)).sum() == 32


def test_non_finite_scores_are_refused():
    nan = np.full((8, 8), np.nan)
    with pytest.raises(ParameterError, match=r"block scores hold nan at \(0, 0\)"):
        keep_mask_topk(nan, 0.5)
    with pytest.raises(ParameterError, match="block scores hold nan"):
        keep_mask_quantile(nan, 0.5)
    scores = np.zeros((8, 8))
    scores[2, 3] = np.inf
    for selector in ("event", "edges"):
        with pytest.raises(ParameterError, match=r"hold inf at \(2, 3\)"):
            select_blocks(
                selector, IMG, keep=0.5, grid=(8, 8), events=np.zeros(0, EVENT_DTYPE), scores=scores
            )


@pytest.mark.parametrize("keep", ["0.5", b"0.5"])
def test_keep_as_a_string_is_refused(keep):
    with pytest.raises(ParameterError, match="is not a number in"):
        check_keep(keep)
    with pytest.raises(ParameterError, match="is not a number in"):
        select_blocks("center", IMG, keep=keep, grid=(8, 8))


def test_channels_first_image_is_named():
    with pytest.raises(ParameterError, match=r"shape \(3, 224, 224\).*channels-first"):
        select_blocks("center", np.zeros((3, 224, 224), np.uint8), keep=0.5, grid=(8, 8))
    with pytest.raises(ParameterError, match="HxWx3 RGB or HxW grey uint8"):
        select_blocks("dense", np.zeros((224, 224, 3), np.float32), keep=0.5, grid=(8, 8))
    # grey images still go
    assert select_blocks("center", IMG[..., 0], keep=0.5, grid=(8, 8)).kept_tokens == 32


def test_events_off_the_image_hint_at_sensor_size_only_when_it_was_omitted():
    ev = make_events([300], [3], [0], [1])
    with pytest.raises(EventsOutsideImageError, match=r"pass sensor_size=\(W, H\)"):
        select_blocks("event", IMG, keep=0.5, grid=(8, 8), events=ev)
    with pytest.raises(EventsOutsideImageError) as e:
        select_blocks("event", IMG, keep=0.5, grid=(8, 8), events=ev, sensor_size=(200, 200))
    assert "sensor_size" not in str(e.value)
    sel = select_blocks("event", IMG, keep=0.5, grid=(8, 8), events=ev, sensor_size=(320, 240))
    assert sel.fallback is None


# ---- processing / modeling (torch) ----


@pytest.fixture(scope="module")
def proc():
    from epvlm.processing import build_offline_processor

    return build_offline_processor(["what colour is it?", "red", "green", "blue"])


def test_choices_as_one_string_are_refused(proc):
    from epvlm.processing import build_prompt, encode_batch, question_text

    with pytest.raises(ParameterError, match=r"choices 0 'red,green,blue' is one string"):
        encode_batch(proc, [IMG], ["what colour is it?"], ["red,green,blue"])
    with pytest.raises(ParameterError, match=r"\['red', 'green', 'blue'\]"):
        build_prompt("what colour is it?", "red, green, blue", 4)
    with pytest.raises(ParameterError, match="is one string"):
        question_text("what colour is it?", "red,green")
    # bytes: the example splits their text, not their repr ("b'red")
    with pytest.raises(ParameterError, match=r"e\.g\. \['red', 'green'\] "):
        build_prompt("what colour is it?", b"red,green", 4)
    batch = encode_batch(proc, [IMG], ["what colour is it?"], [["red", "green", "blue"]])
    assert batch["input_ids"].shape[0] == 1


def test_2d_keep_mask_of_the_transposed_grid_is_refused(proc):
    from epvlm.processing import encode_batch, grid_for_size

    img = np.zeros((200, 300, 3), np.uint8)
    assert grid_for_size(proc, 200, 300) == (7, 11)
    wrong = np.ones((11, 7), bool)
    wrong[0, 0] = False
    with pytest.raises(KeepMaskError, match=r"shape \(11, 7\).*token grid is \(7, 11\)"):
        encode_batch(proc, [img], ["what colour is it?"], [["red"]], keep_masks=[wrong])
    right = np.ones((7, 11), bool)
    right[0, 0] = False
    batch = encode_batch(proc, [img], ["what colour is it?"], [["red"]], keep_masks=[right])
    assert int(batch["image_keep_mask"].sum()) == 76
    assert encode_batch(proc, [img], ["q?"], [[]], keep_masks=[right.ravel()]) is not None


def test_model_split_keep_mask_checks_2d_shapes():
    import torch

    from epvlm.modeling import split_keep_mask

    grid_thw = torch.tensor([[1, 14, 22], [1, 4, 4]])
    wrong = torch.ones(11, 7, dtype=torch.bool)
    with pytest.raises(KeepMaskError, match=r"image_keep_mask\[0\] has shape \(11, 7\)"):
        split_keep_mask([wrong, torch.ones(2, 2, dtype=torch.bool)], grid_thw, 2)
    with pytest.raises(KeepMaskError, match=r"image_keep_mask has shape \(11, 7\)"):
        split_keep_mask(wrong, grid_thw[:1], 2)
    parts = split_keep_mask(
        [torch.ones(7, 11, dtype=torch.bool), np.ones((2, 2), bool)], grid_thw, 2
    )
    assert [p.numel() for p in parts] == [77, 4]
    flat = split_keep_mask(torch.ones(81, dtype=torch.bool), grid_thw, 2)
    assert [p.numel() for p in flat] == [77, 4]


def test_evaluate_dataset_refuses_a_model_object(tmp_path):
    from epvlm.evaluate import evaluate_dataset

    class EPQwen2VLForConditionalGeneration:
        pass

    with pytest.raises(
        ParameterError,
        match=r"model_dir=<EPQwen2VL.*object>; expected a checkpoint folder.*save_pretrained",
    ):
        evaluate_dataset(EPQwen2VLForConditionalGeneration(), tmp_path)


# ---- second look (helper 337) ----


def test_events_off_the_image_are_named_by_their_index_in_the_whole_array():
    # 100 events in the window's past, then 60 in it, the 51st of those off the 224x224 image
    ev = make_events(np.full(160, 3), np.full(160, 3), np.arange(160), np.ones(160))
    ev["x"][150] = 300
    window = (100, 200)
    for call in (
        lambda: event_map(ev, (224, 224), window_us=window),
        lambda: event_block_scores(ev, (224, 224), (8, 8), window_us=window),
        lambda: select_blocks(
            "event", IMG, keep=0.5, grid=(8, 8), events=ev, window_us=window, sensor_size=(224, 224)
        ),
    ):
        with pytest.raises(EventsOutsideImageError, match=r"first at index 150: \(x=300, y=3\)"):
            call()


def test_topk_of_flat_scores_is_a_typed_refusal():
    with pytest.raises(ParameterError, match=r"shape \(64,\); expected the \(rows, cols\)"):
        keep_mask_topk(np.zeros(64), k=3)
    with pytest.raises(ParameterError, match=r"shape \(2, 2, 2\)"):
        keep_mask_topk(np.zeros((2, 2, 2)), 0.5)


def test_select_blocks_refuses_an_unknown_mode_also_with_scores_given():
    ev = make_events([3], [3], [0], [1])
    with pytest.raises(ParameterError, match="event map mode 'sign' is unknown"):
        select_blocks(
            "event", IMG, keep=0.5, grid=(8, 8), events=ev, mode="sign", scores=np.ones((8, 8))
        )


def test_masks_differing_from_the_grid_by_unit_axes_are_taken(proc):
    import torch

    from epvlm.modeling import split_keep_mask
    from epvlm.processing import encode_batch

    right = np.ones((7, 11), bool)
    right[0, 0] = False
    # one image: its mask stacked as a batch of one, (1, tokens) or (1, rows, cols)
    grid_thw = torch.tensor([[1, 14, 22]])
    for shape in ((1, 77), (77, 1), (1, 7, 11)):
        (part,) = split_keep_mask(torch.from_numpy(right.reshape(shape)), grid_thw, 2)
        assert torch.equal(part, torch.from_numpy(right.ravel()))
    img = np.zeros((200, 300, 3), np.uint8)
    batch = encode_batch(proc, [img], ["q?"], [[]], keep_masks=[right.reshape(1, 77)])
    assert int(batch["image_keep_mask"].sum()) == 76
    # a transposed grid with a unit axis in front is still refused
    with pytest.raises(KeepMaskError, match=r"shape \(1, 11, 7\)"):
        split_keep_mask(torch.ones(1, 11, 7, dtype=torch.bool), grid_thw, 2)
    with pytest.raises(KeepMaskError, match=r"keep mask 0 has shape \(1, 11, 7\)"):
        encode_batch(proc, [img], ["q?"], [[]], keep_masks=[np.ones((1, 11, 7), bool)])
    # two images of one grid stacked (2, tokens) flatten in batch order, as before
    two = torch.tensor([[1, 14, 22], [1, 14, 22]])
    parts = split_keep_mask(torch.ones(2, 77, dtype=torch.bool), two, 2)
    assert [p.numel() for p in parts] == [77, 77]
