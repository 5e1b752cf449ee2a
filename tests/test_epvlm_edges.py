"""The image-only ``edges`` selector: its score map, keep rules, and `epvlm eval|run` with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from epvlm.prior import (
    edge_block_scores,
    edge_map,
    keep_budget,
    keep_mask_center,
    keep_mask_topk,
    select_blocks,
)
from eventsim.errors import ParameterError
from eventsim.events import empty_events, make_events

GRID = (8, 8)  # 224 px = 8 blocks of 28 px: the processed grid of a 224x224 image


def square_image(lo: int = 100, hi: int = 200) -> np.ndarray:
    """A bright square on flat grey whose sides run through the middle of blocks 1 and 6."""
    img = np.full((224, 224, 3), lo, np.uint8)
    img[42:182, 42:182] = hi
    return img


def direct_edge_scores(image: np.ndarray, block: int = 28) -> np.ndarray:
    """The score map by another route: OpenCV's luma and 3x3 Sobel, then the mean per block."""
    import cv2

    luma = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    mag = cv2.magnitude(
        cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    ).astype(np.float64)
    h, w = mag.shape
    return mag.reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def test_score_map_equals_a_direct_computation():
    img = square_image()
    scores = edge_block_scores(img, GRID)
    np.testing.assert_allclose(scores, direct_edge_scores(img), rtol=1e-5, atol=1e-3)
    noise = np.random.default_rng(5).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        edge_block_scores(noise, GRID), direct_edge_scores(noise), rtol=1e-5, atol=1e-3
    )
    border = np.zeros(GRID, bool)
    border[1:7, 1:7] = True
    border[2:6, 2:6] = False
    # the square's sides cross only the ring of blocks 1 and 6: they score, all else is flat
    assert scores[border].min() > 10 and np.abs(scores[~border]).max() < 1e-3
    np.testing.assert_array_equal(keep_mask_topk(scores, k=int(border.sum())), border)
    # a grey image gives the same map as its RGB twin
    grey = img[..., 0].copy()
    np.testing.assert_allclose(edge_block_scores(grey, GRID), scores, rtol=1e-5, atol=1e-4)


def test_score_map_is_on_the_processed_grid():
    img = np.full((150, 200, 3), 90, np.uint8)
    img[:, 100:] = 180  # a vertical edge at the middle column
    scores = edge_block_scores(img, (5, 7))
    assert scores.shape == (5, 7)
    assert edge_map(img, (140, 196)).shape == (140, 196)
    # the edge falls in block column 3 of 7 on every row
    assert (scores.argmax(axis=1) == 3).all()
    sel = select_blocks("edges", img, keep=0.2, grid=(5, 7))
    np.testing.assert_array_equal(sel.scores, scores)
    assert sel.mask[:, 3].all() and sel.kept_tokens == keep_budget(35, 0.2)


def test_resize_gives_the_pixels_the_processor_feeds_the_vit():
    pytest.importorskip("transformers")
    from epvlm.processing import build_offline_processor, grid_for_size

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    proc = build_offline_processor(["a"], max_pixels=280 * 392)
    rows, cols = grid_for_size(proc, 300, 400)
    assert (rows, cols) != (300 // 28, 400 // 28)  # the processor resizes this image
    ip = proc.image_processor
    out = ip(images=[img], return_tensors="np")
    _, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    # pixel_values rows are merge groups of 2x2 patches; columns (channel, frame, 14, 14)
    patches = np.asarray(out["pixel_values"]).reshape(gh // 2, gw // 2, 2, 2, 3, 2, 14, 14)
    chw = patches[..., 0, :, :].transpose(4, 0, 2, 5, 1, 3, 6).reshape(3, gh * 14, gw * 14)
    mean = np.asarray(ip.image_mean)[:, None, None]
    std = np.asarray(ip.image_std)[:, None, None]
    seen = np.rint((chw * std + mean) * 255).astype(np.uint8).transpose(1, 2, 0)
    assert seen.shape == (rows * 28, cols * 28, 3)
    np.testing.assert_array_equal(edge_map(img, seen.shape[:2]), edge_map(seen))


@pytest.mark.parametrize("keep", [0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_topk_keeps_exactly_the_budget(keep):
    sel = select_blocks("edges", square_image(), keep=keep, grid=GRID)
    assert sel.selector == "edges" and sel.fallback is None
    assert sel.kept_tokens == keep_budget(64, keep) and sel.total_tokens == 64
    np.testing.assert_array_equal(sel.mask, keep_mask_topk(sel.scores, keep))


@pytest.mark.parametrize("rule", ["topk", "quantile"])
@pytest.mark.parametrize("keep", [0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_ties_are_broken_like_the_event_selector(rule, keep):
    img = square_image()
    scores = edge_block_scores(img, GRID)
    # events ranking the blocks as the edges do, ties included: two per side block, one per
    # corner block of the ring, none elsewhere
    levels = np.unique(scores)
    counts = np.searchsorted(levels, scores)
    assert len(levels) == 3 and counts.max() == 2
    ys, xs = np.nonzero(counts)
    reps = counts[ys, xs]
    ev = make_events(
        np.repeat(xs * 28 + 14, reps),
        np.repeat(ys * 28 + 14, reps),
        np.arange(reps.sum()),
        np.ones(reps.sum(), int),
    )
    edges = select_blocks("edges", img, keep=keep, grid=GRID, rule=rule)
    event = select_blocks("event", img, keep=keep, grid=GRID, rule=rule, events=ev)
    assert event.fallback is None
    np.testing.assert_array_equal(edges.mask, event.mask)
    assert edges.kept_tokens == event.kept_tokens


def test_no_events_needed_and_no_fallback():
    img = square_image()
    without = select_blocks("edges", img, keep=0.25, grid=GRID)
    empty = select_blocks("edges", img, keep=0.25, grid=GRID, events=empty_events())
    assert without.fallback is None and empty.fallback is None
    np.testing.assert_array_equal(without.mask, empty.mask)
    # a flat image: every score ties at 0, so top-k keeps the blocks nearest the centre
    flat = select_blocks("edges", np.full((224, 224, 3), 7, np.uint8), keep=0.25, grid=GRID)
    assert not flat.scores.any() and flat.fallback is None
    np.testing.assert_array_equal(flat.mask, keep_mask_center(GRID, 0.25))


def test_bad_images_raise_named_errors():
    with pytest.raises(ParameterError, match="uint8"):
        edge_block_scores(np.zeros((224, 224, 3), np.float32), GRID)
    with pytest.raises(ParameterError, match="HxWx3"):
        edge_block_scores(np.zeros((224, 224, 4), np.uint8), GRID)


def test_plot_style_sets_edges_apart():
    from epvlm.results import _series_style

    edges, event = _series_style("edges"), _series_style("event")
    assert edges["marker"] != event["marker"] and "color" in edges
    assert edges["label"] != event["label"] and "edges" in edges["label"]


# ------------------------------------------------------------------- end to end (tiny model)

N_SAMPLES = 4


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return eval_setup(tmp_path_factory.mktemp("epvlm-edges"), N_SAMPLES)


def test_eval_edges_matches_event_token_counts(built, capsys):
    from epvlm.cli import main

    root, ds_dir, model_dir, _ = built
    out = root / "eval"
    argv = [
        "eval",
        "--model",
        str(model_dir),
        "--dataset",
        str(ds_dir),
        "--keep",
        "0.5,0.25",
        "--selector",
        "event,edges",
        "--batch-size",
        "4",
        "--no-progress",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    assert "edges" in capsys.readouterr().out
    rows = {(r["selector"], r["keep"]): r for r in json.loads((out / "results.json").read_text())}
    assert set(rows) == {("dense", 1.0)} | {(s, k) for s in ("event", "edges") for k in (0.5, 0.25)}
    for keep in (0.5, 0.25):
        event, edges = rows[("event", keep)], rows[("edges", keep)]
        assert edges["n"] == event["n"] == N_SAMPLES
        assert edges["kept_tokens"] == event["kept_tokens"] == keep_budget(16, keep)
        # the prefill (vision tower and prompt) costs the same; decoding may differ by the
        # answers' lengths
        assert edges["prefill_flops"] == event["prefill_flops"]
        assert event["paired"]["edges"]["n"] == N_SAMPLES
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    by_key = {(r["selector"], r["keep"], r["id"]): r for r in records}
    for (selector, keep, sid), rec in by_key.items():
        if selector != "edges":
            continue
        twin = by_key[("event", keep, sid)]
        assert rec["fallback"] is None
        assert rec["kept_tokens"] == twin["kept_tokens"]
        assert rec["prefill_flops"] == twin["prefill_flops"]
    assert "| edges |" in (out / "table.md").read_text()


def test_run_edges_without_events(built, capsys):
    import cv2

    from epvlm.cli import main
    from epvlm.processing import grid_for_size, load_processor
    from eventsim.render import patch_grid_overlay

    root, _, model_dir, samples = built
    sample = samples[0]
    image_path = root / "edges-frame.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(sample["image"], cv2.COLOR_RGB2BGR))
    overlay = root / "edges-overlay.png"
    argv = [
        "run",
        "--model",
        str(model_dir),
        "--image",
        str(image_path),
        "--question",
        sample["question"],
        "--choices",
        ",".join(sample["choices"]),
        "--selector",
        "edges",
        "--keep",
        "0.25",
        "--json",
        "--overlay",
        str(overlay),
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["selector"] == "edges" and result["fallback"] is None
    assert result["kept_tokens"] == 4 and result["total_tokens"] == 16
    assert result["flops"] < result["dense_flops"]

    # the overlay is the edge score map with the kept blocks and its legend
    proc = load_processor(model_dir)
    image = sample["image"]
    grid = grid_for_size(proc, *image.shape[:2])
    sel = select_blocks("edges", image, keep=0.25, grid=grid)
    assert np.flatnonzero(sel.mask).tolist() == result["kept_indices"]
    expected = patch_grid_overlay(
        image,
        edge_block_scores(image, grid),
        sel.mask,
        legend="mean image gradient (Sobel, luma) per token block",
    )
    written = cv2.cvtColor(cv2.imread(str(overlay)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(written, expected)
