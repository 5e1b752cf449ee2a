"""Second look at the quantile rule's matched baselines and the area-exact event scores.

`epvlm run --rule quantile` gives random, center and downsample as many tokens as the event
prior keeps for the question when it has the events, as `epvlm eval` does (it kept
keep x tokens, so one question's run and eval disagreed); without events it keeps
keep x tokens and says so. Eval's matched baselines hold in batches where some questions fall
back (no events), draw the same random blocks at any batch size, and feed the model the tokens
results.json, table.md and the FLOPs count. `event_block_scores` is exact for large counts,
1-px sensors and sensors larger or smaller than the image by non-integer ratios."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from epvlm.prior import downsample_grid, event_block_scores, keep_budget, select_blocks
from eventsim.events import make_events

FACTOR = 28  # patch 14 x merge 2: one LLM token block
N_SAMPLES = 6
GRID = (4, 4)  # the tiny model's grid of a 112x112 frame
BASELINES = ("random", "center", "downsample")


# event_block_scores --------------------------------------------------------------------------


def _exact_scores(counts: dict[tuple[int, int], int], sensor, grid) -> list[list[Fraction]]:
    """Each sensor pixel's count shared among the blocks by the exact area it covers of each,
    the sensor stretched over the rows*28 x cols*28 processed image."""
    width, height = sensor
    rows, cols = grid

    def share(i: int, n_in: int, j: int, n_cells: int) -> Fraction:
        scale = Fraction(n_cells * FACTOR, n_in)
        overlap = min((i + 1) * scale, Fraction((j + 1) * FACTOR)) - max(
            i * scale, Fraction(j * FACTOR)
        )
        return max(Fraction(0), overlap) / scale

    return [
        [
            sum(
                (n * share(y, height, r, rows) * share(x, width, c, cols))
                for (x, y), n in counts.items()
            )
            or Fraction(0)
            for c in range(cols)
        ]
        for r in range(rows)
    ]


def _events(counts: dict[tuple[int, int], int]) -> np.ndarray:
    xs = np.concatenate([np.full(n, x) for (x, _), n in counts.items()])
    ys = np.concatenate([np.full(n, y) for (_, y), n in counts.items()])
    n = xs.size
    return make_events(xs, ys, np.arange(n), np.ones(n, np.int8))


@pytest.mark.parametrize(
    ("sensor", "grid"),
    [
        ((1, 1), (3, 5)),  # a 1-px sensor over the whole image
        ((1, 7), (2, 1)),
        ((37, 23), (2, 3)),  # smaller than the image, non-integer ratios
        ((113, 71), (2, 3)),  # larger, non-integer ratios
        ((347, 29), (1, 12)),
    ],
)
def test_scores_are_the_exact_shares_rounded_once(sensor, grid):
    width, height = sensor
    rng = np.random.default_rng(width * 1000 + height)
    counts: dict[tuple[int, int], int] = {}
    for _ in range(6):
        counts[(int(rng.integers(width)), int(rng.integers(height)))] = int(rng.integers(1, 9))
    # one pixel far busier than the rest: its share must not swallow the others' in rounding
    counts[(width // 2, height // 2)] = 200_003
    scores = event_block_scores(_events(counts), sensor, grid)
    exact = _exact_scores(counts, sensor, grid)
    assert scores.tolist() == [[float(v) for v in row] for row in exact]
    assert sum(sum(row) for row in exact) == sum(counts.values())


@pytest.mark.parametrize(("sensor", "grid"), [((37, 23), (3, 5)), ((113, 71), (2, 3))])
def test_mirror_image_activity_ties_exactly_on_a_rescaled_grid(sensor, grid):
    width, height = sensor
    rng = np.random.default_rng(7)
    counts: dict[tuple[int, int], int] = {}
    for _ in range(20):
        x, y, n = int(rng.integers(width)), int(rng.integers(height)), int(rng.integers(1, 99))
        for mx, my in ((x, y), (width - 1 - x, y), (x, height - 1 - y)):
            counts[(mx, my)] = n
        counts[(width - 1 - x, height - 1 - y)] = n
    scores = event_block_scores(_events(counts), sensor, grid)
    # bitwise: the keep rules' tie-breaking, not rounding, decides between mirror blocks
    assert np.array_equal(scores, scores[:, ::-1]) and np.array_equal(scores, scores[::-1])


def test_downsample_feeds_any_budget_on_grids_of_any_aspect():
    image = np.full((3 * FACTOR, 11 * FACTOR, 3), 70, np.uint8)
    for budget in range(1, 34):
        sel = select_blocks("downsample", image, keep=0.5, grid=(3, 11), budget=budget)
        rows, cols = sel.mask.shape
        assert sel.kept_tokens == budget and sel.total_tokens == 33
        assert sel.image.shape[:2] == (rows * FACTOR, cols * FACTOR)
        assert rows * cols >= max(budget, 4) and rows <= 3 and cols <= 11
    for rows in range(1, 13):
        for cols in range(1, 13):
            for budget in range(1, rows * cols + 1):
                r, c = downsample_grid((rows, cols), budget)
                assert r * c >= max(budget, min(4, rows * cols)) and r <= rows and c <= cols


# stored_window_ms -----------------------------------------------------------------------------


@pytest.mark.parametrize("window", [Fraction(30), np.float32(30), np.int64(30), 30])
def test_a_too_long_window_of_any_real_type_is_refused_in_words(window):
    from epvlm.evaluate import stored_window_ms
    from eventsim.errors import ParameterError

    records = [{"id": "a", "frame_t_us": 50_000, "window_us": [30_000, 50_000]}]
    # a Fraction, which event_window takes, raised TypeError from the refusal's :g format
    with pytest.raises(ParameterError, match=r"event window 30 ms is longer than the 20 ms"):
        stored_window_ms(window, records, 20_000, "ds")
    assert stored_window_ms(window / 3, records, 20_000, "ds") == 10.0


# evaluate_dataset under the quantile rule ---------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return eval_setup(tmp_path_factory.mktemp("second-look7-eval"), N_SAMPLES)


class _Recorder:
    """Wraps `answer_selections`: keeps each call's selections and per-answer details."""

    def __init__(self, monkeypatch) -> None:
        import epvlm.evaluate

        self.calls: list[tuple[list, list]] = []
        self._answer = epvlm.evaluate.answer_selections
        monkeypatch.setattr(epvlm.evaluate, "answer_selections", self)

    def __call__(self, model, proc, sels, *args, **kwargs):
        texts, details, seconds = self._answer(model, proc, sels, *args, **kwargs)
        self.calls.append((list(sels), details))
        return texts, details, seconds

    def selections(self) -> dict[tuple[str, float], list]:
        """Every configuration's selections in sample order."""
        return {k: [sel for sel, _ in v] for k, v in self.answered().items()}

    def answered(self) -> dict[tuple[str, float], list]:
        """Every configuration's (selection, details) in sample order."""
        out: dict[tuple[str, float], list] = {}
        for sels, details in self.calls:
            out.setdefault((sels[0].selector, sels[0].keep), []).extend(zip(sels, details))
        return out


def _empty_events_of_odd_samples(monkeypatch) -> None:
    from eventsim.datasets import EventVQADataset

    getitem = EventVQADataset.__getitem__

    def without_events(self, index):
        sample = getitem(self, index)
        if index % 2:
            sample = {**sample, "events": sample["events"][:0]}
        return sample

    monkeypatch.setattr(EventVQADataset, "__getitem__", without_events)


def test_quantile_batches_with_mixed_fallbacks_and_what_the_outputs_say(
    built, tmp_path, monkeypatch
):
    from epvlm.evaluate import evaluate_dataset, load_model, selection_flops

    _, ds_dir, model_dir, samples = built
    _empty_events_of_odd_samples(monkeypatch)
    record = _Recorder(monkeypatch)
    out = tmp_path / "out"
    result = evaluate_dataset(
        model_dir, ds_dir, selectors=("event", *BASELINES), keeps=(0.5,), batch_size=4,
        progress=False, out_dir=out, rule="quantile",
    )  # fmt: skip
    sels = record.selections()
    event = sels[("event", 0.5)]
    assert [s.fallback for s in event] == [None if i % 2 == 0 else "center" for i in range(6)]
    # the split exercises the rule: some even sample keeps more than keep_budget under it
    assert any(s.kept_tokens != keep_budget(16, 0.5) for s in event[::2])
    for selector in BASELINES:
        got = [s.kept_tokens for s in sels[(selector, 0.5)]]
        assert got == [s.kept_tokens for s in event], selector
        assert got[1::2] == [keep_budget(16, 0.5)] * 3, selector
    # the model is given the tokens the answers record, and their FLOPs count those
    model, _ = load_model(model_dir)
    by_key = {(s["selector"], s["keep"], s["id"]): s for s in result["samples"]}
    for (selector, keep), answered in record.answered().items():
        assert len(answered) == N_SAMPLES
        for sample, (sel, detail) in zip(samples, answered):
            rec = by_key[(selector, keep, sample["id"])]
            assert detail["image_tokens"] == sel.kept_tokens == rec["kept_tokens"]
            flops = selection_flops(model.config, sel, detail["text_tokens"], detail["new_tokens"])
            assert rec["flops"] == int(flops.total)
    saved = json.loads((out / "results.json").read_text())
    lines = (out / "samples.jsonl").read_text().splitlines()
    answers = [json.loads(line) for line in lines]
    table = (out / "table.md").read_text()
    for row in saved:
        mine = [a for a in answers if (a["selector"], a["keep"]) == (row["selector"], row["keep"])]
        assert row["kept_tokens"] == pytest.approx(np.mean([a["kept_tokens"] for a in mine]))
        assert row["flops"] == pytest.approx(np.mean([a["flops"] for a in mine]))
        assert row["fallbacks"] == sum(bool(a["fallback"]) for a in mine)
        line = next(x for x in table.splitlines() if x.startswith(f"| {row['selector']} |"))
        assert f"| {row['kept_tokens']:.1f} / 16 |" in line
    # the baselines' fallbacks are event's, not theirs: only event's row notes them
    assert [r["selector"] for r in saved if r["fallbacks"]] == ["event"]


def test_quantile_random_blocks_do_not_depend_on_the_batch_size(built, monkeypatch):
    from epvlm.evaluate import evaluate_dataset

    _, ds_dir, model_dir, _ = built
    masks = []
    for batch_size in (4, 5):
        record = _Recorder(monkeypatch)
        evaluate_dataset(
            model_dir, ds_dir, selectors=("random",), keeps=(0.5, 0.25), batch_size=batch_size,
            progress=False, rule="quantile", seed=11,
        )  # fmt: skip
        monkeypatch.undo()
        masks.append({k: [s.mask for s in v] for k, v in record.selections().items()})
    assert masks[0].keys() == masks[1].keys()
    for key, first in masks[0].items():
        assert len(first) == N_SAMPLES
        for a, b in zip(first, masks[1][key]):
            assert np.array_equal(a, b), key


# epvlm run under the quantile rule ------------------------------------------------------------


@pytest.fixture(scope="module")
def run_files(built):
    """A sample whose event prior keeps another count than keep_budget under quantile at
    keep 0.25, with its frame and events written as files."""
    import cv2

    from epvlm.evaluate import make_selection
    from epvlm.processing import load_processor
    from eventsim.io import write_events

    root, _, model_dir, samples = built
    proc = load_processor(model_dir)
    sample, event = next(
        (s, sel)
        for s in samples
        for sel in [make_selection(proc, s, "event", 0.25, rule="quantile")]
        if sel.fallback is None and sel.kept_tokens != keep_budget(16, 0.25)
    )
    image_path = root / "run-frame.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(sample["image"], cv2.COLOR_RGB2BGR))
    events_path = root / "run-events.h5"
    write_events(events_path, sample["events"], sensor_size=sample["meta"]["sensor_size"])
    return sample, image_path, events_path, event.kept_tokens


def _run(built, run_files, capsys, *extra: str, events: bool = True):
    from epvlm.cli import main

    _, _, model_dir, _ = built
    sample, image_path, events_path, _ = run_files
    argv = [
        "run", "--model", str(model_dir), "--image", str(image_path),
        "--question", sample["question"], "--choices", json.dumps(list(sample["choices"])),
        "--keep", "0.25", "--json", *extra,
    ]  # fmt: skip
    if events:
        argv += ["--events", str(events_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


@pytest.mark.parametrize("selector", BASELINES)
def test_run_quantile_baselines_keep_what_the_event_prior_keeps(built, run_files, capsys, selector):
    _, _, _, event_kept = run_files
    event, _ = _run(built, run_files, capsys, "--rule", "quantile")
    assert event["kept_tokens"] == event_kept and event["baseline_tokens"] == "event"
    got, err = _run(built, run_files, capsys, "--rule", "quantile", "--selector", selector)
    # it kept keep_budget (4 of 16) while eval, for the same question, kept event's count
    assert got["kept_tokens"] == event_kept != keep_budget(16, 0.25)
    assert got["baseline_tokens"] == "event" and err == ""


def test_run_quantile_text_output_says_whose_count(built, run_files, capsys):
    from epvlm.cli import main

    _, _, model_dir, _ = built
    sample, image_path, events_path, event_kept = run_files
    argv = [
        "run", "--model", str(model_dir), "--image", str(image_path), "--events",
        str(events_path), "--question", sample["question"], "--keep", "0.25", "--rule",
        "quantile", "--selector", "center",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"tokens: {event_kept} of 16 image tokens kept (center, keep 0.25)" in out
    assert "as many as the event prior kept (--rule quantile; it keeps every block" in out


def test_run_baselines_keep_keep_x_tokens_without_events_or_under_topk(built, run_files, capsys):
    budget = keep_budget(16, 0.25)
    got, err = _run(built, run_files, capsys, "--rule", "quantile", "--selector", "random",
                    events=False)  # fmt: skip
    assert got["kept_tokens"] == budget and got["baseline_tokens"] == "keep"
    assert "without --events, random keeps --keep of the tokens" in err
    for selector in BASELINES:
        got, err = _run(built, run_files, capsys, "--selector", selector)
        assert got["kept_tokens"] == budget and got["baseline_tokens"] == "keep" and err == ""
    # the run's random draw is the one it always was
    got, _ = _run(built, run_files, capsys, "--selector", "random", "--seed", "3")
    image = np.zeros((112, 112, 3), np.uint8)
    expected = select_blocks("random", image, keep=0.25, grid=GRID, seed=3)
    assert got["kept_indices"] == np.flatnonzero(expected.mask).tolist()
