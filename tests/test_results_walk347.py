"""A walk through the epvlm eval command line (helper 347), epvlm.results:

1. The plot's title was the axes' one, centred over them: with the legend beside the axes it
   ran off the figure's left edge ("m eval: shapes-demo-tiny on ..."), and a long dataset
   folder name off the right one too. It is now the figure's title, wrapped to its width.
2. Under --rule quantile the label "τ=0.75, 0.5" of the points at (100 % FLOPs, 100 %) was
   drawn two rows down and left, beside the τ=0.25 point at (86 %, 90 %): a reader took it for
   that point's. A label now goes where it is nearer its own point than any other, or is
   joined to its point by a leader line.
3. A refused resume named the state's keys and raw values ("samples was 30, now 20", "keeps
   was [0.25, 0.5, 0.75]", "window_ms was None", "model_files 'model.safetensors' was [size,
   mtime_ns]", two hashes for a rebuilt dataset); it now names the parameter and the option
   (a Python caller reads one, the command line the other: "limit (--limit)") and what the
   values mean.
4. table.md and the printed table gave each question type's accuracy without its n, and the
   share of dense accuracy without its interval, which results.json and the demo report have.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from epvlm.results import (
    SCORE_MARK,
    aggregate,
    partial_state,
    partial_state_difference,
    plot_accuracy_vs_flops,
    results_table,
    state_digest,
    wilson_interval,
)

# (selector, keep, FLOPs share of dense, right of 20): the quantile run of the walk
QUANTILE_RUN = [
    ("dense", 1.0, 1.0, 20), ("event", 0.75, 1.0, 20), ("event", 0.5, 1.0, 20),
    ("event", 0.25, 0.8617, 20), ("edges", 0.75, 0.7511, 19), ("edges", 0.5, 0.5206, 19),
    ("edges", 0.25, 0.3086, 17), ("random", 0.75, 1.0, 20), ("random", 0.5, 1.0, 20),
    ("random", 0.25, 0.8617, 18), ("downsample", 0.75, 1.0, 20), ("downsample", 0.5, 1.0, 20),
    ("downsample", 0.25, 0.8617, 18),
]  # fmt: skip


def _rows(run, rule: str) -> list[dict]:
    """results.json rows, with what the plot reads, of ``run``'s 20 questions."""
    return [
        {
            "selector": sel, "keep": keep, "n": 20, "correct": right, "accuracy": right / 20,
            "accuracy_ci95": list(wilson_interval(right, 20)), "flops": share * 7.66e8,
            "flops_vs_dense": share, "rule": rule,
        }
        for sel, keep, share, right in run
    ]  # fmt: skip


def _figure(rows, title: str, monkeypatch, tmp_path: Path):
    """The figure as `plot_accuracy_vs_flops` saves it, and its renderer."""
    from matplotlib.figure import Figure

    seen: dict = {}
    save = Figure.savefig

    def keep_figure(fig, *args, **kwargs):
        save(fig, *args, **kwargs)
        seen["fig"] = fig
        seen["renderer"] = fig.canvas.get_renderer()  # before pyplot closes the figure

    monkeypatch.setattr(Figure, "savefig", keep_figure)
    plot_accuracy_vs_flops(rows, tmp_path / "plot.png", title)
    return seen["fig"], seen["renderer"]


def _titles(fig) -> list:
    """The figure's and the axes' titles that have text."""
    texts = [fig._suptitle, fig.axes[0].title]
    return [t for t in texts if t is not None and t.get_text()]


TOPK_RUN = [
    ("dense", 1.0, 1.0, 20), ("event", 0.5, 0.521, 19), ("event", 0.25, 0.309, 17),
    ("edges", 0.5, 0.521, 19), ("edges", 0.25, 0.309, 17), ("random", 0.5, 0.521, 18),
    ("random", 0.25, 0.309, 11), ("downsample", 0.5, 0.521, 13), ("downsample", 0.25, 0.309, 5),
]  # fmt: skip


@pytest.mark.parametrize(
    "title",
    [
        "epvlm eval: shapes-demo-tiny on shapes-demo/test (folder data), n=30 of 30 (limit none)",
        "epvlm eval: shapes-demo-tiny on shapes-demo/test (folder h347/a-very-long-dataset-"
        "folder-name-for-the-shapes-demo-evaluation), n=30 of 30 (limit none)",
        # a name with no space to break at, wider than the figure
        "epvlm eval: tiny on " + "x" * 200 + "/test, n=30 of 30 (limit none)",
    ],
)
def test_the_plot_title_is_drawn_whole_inside_the_figure(title, monkeypatch, tmp_path):
    fig, renderer = _figure(_rows(TOPK_RUN, "topk"), title, monkeypatch, tmp_path)
    (shown,) = _titles(fig)
    box = shown.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, (box, fig.bbox)
    assert box.y1 <= fig.bbox.y1
    # every word of it, only broken into lines; the rule's line comes after
    lines = shown.get_text().split("\n")
    assert lines[-1] == "keep rule topk: every selector keeps τ of the tokens"
    assert "".join(lines[:-1]).replace(" ", "") == title.replace(" ", "")
    # nothing drawn in the axes runs into it
    assert not box.overlaps(fig.axes[0].get_window_extent(renderer))


def _gap(box, xy) -> float:
    dx = max(box.x0 - xy[0], 0.0, xy[0] - box.x1)
    dy = max(box.y0 - xy[1], 0.0, xy[1] - box.y1)
    return float((dx * dx + dy * dy) ** 0.5)


def test_a_tau_label_is_nearest_its_own_point_or_joined_to_it(monkeypatch, tmp_path):
    rows = _rows(QUANTILE_RUN, "quantile")
    fig, renderer = _figure(rows, "epvlm eval: tiny on shapes-demo/test", monkeypatch, tmp_path)
    ax = fig.axes[0]
    points = [
        ax.transData.transform((100 * r["flops_vs_dense"], 100 * r["accuracy"])) for r in rows
    ]
    labels = [t for t in ax.texts if t.xycoords == "data"]
    texts = sorted(t.get_text() for t in labels)
    assert "τ=0.75, 0.5" in texts, texts
    for label in labels:
        if label.arrow_patch is not None:
            continue  # joined to its point
        own = ax.transData.transform(label.xy)
        box = label.get_window_extent(renderer)
        rivals = [p for p in points if abs(p - own).max() > 1]
        assert all(_gap(box, own) < _gap(box, p) for p in rivals), (
            f"{label.get_text()} at {label.xy} lies nearer another point"
        )


def _state(facts=None, **changed):
    settings = {
        "model": "/m/shapes-demo-tiny",
        "model_files": {"config.json": [1553, 1_700_000_000_000_000_000],
                        "model.safetensors": [11018576, 1_700_000_000_000_000_000]},
        "dataset": {"samples_sha256": "e4321", "shards/test-00000.h5": "aa"},
        "split": "test", "selectors": ["dense", "event", "random"], "keeps": [0.25, 0.5, 0.75],
        "samples": 30, "window_ms": None, "seed": 0, "batch_size": 16, "rule": "topk",
        "event_mode": "count", "prompt": "auto", "max_new_tokens": None, "dtype": "float32",
        "device": "cpu", "versions": {"epvlm": "0.2.8"},
    }  # fmt: skip
    settings.update(changed)
    if facts is None:
        facts = {"dataset": "data", "split_samples": 30, "dataset_window_ms": 50.0}
    return partial_state(settings, facts or None)


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        ({"samples": 20}, "limit (--limit) was all 30 questions, now 20"),
        ({"keeps": [0.5]}, "keeps (--keep) was 0.75,0.5,0.25, now 0.5"),
        ({"window_ms": 20.0}, "window_ms (--window-ms) was the dataset's 50 ms, now 20"),
        (
            {"max_new_tokens": 4},
            "max_new_tokens (--max-new-tokens) was the prompt format's default, now 4",
        ),
        ({"selectors": ["dense", "event"]}, "selectors (--selector) was event,random, now event"),
        ({"batch_size": 8}, "batch_size (--batch-size) was 16, now 8"),
        ({"prompt": "chat"}, "prompt (--prompt-format) was auto, now chat"),
        ({"model": "/m/other"}, "model_dir (--model) was '/m/shapes-demo-tiny', now '/m/other'"),
    ],
)
def test_a_refused_resume_names_the_option_and_its_values(changed, said):
    assert partial_state_difference(_state(), _state(**changed)) == said


def test_a_refused_resume_says_how_a_model_file_changed():
    later = 1_700_000_100_000_000_000
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(later / 1e9))
    old = _state()
    files = dict(old["settings"]["model_files"])
    files["model.safetensors"] = [11018576, later]
    assert partial_state_difference(old, _state(model_files=files)) == (
        f"model file 'model.safetensors' was modified at {when}, same size"
    )
    files["model.safetensors"] = [11020000, later]
    assert partial_state_difference(old, _state(model_files=files)) == (
        f"model file 'model.safetensors' was rewritten at {when}, size 11,018,576 → 11,020,000 "
        "bytes"
    )
    del files["config.json"]
    assert partial_state_difference(old, _state(model_files=files)) == (
        "model file 'model.safetensors' was rewritten at "
        f"{when}, size 11,018,576 → 11,020,000 bytes"
    )
    files["model.safetensors"] = old["settings"]["model_files"]["model.safetensors"]
    assert partial_state_difference(old, _state(model_files=files)) == (
        "model file 'config.json' is gone"
    )


def test_a_refused_resume_says_the_dataset_was_rebuilt_and_how_many_samples_it_has():
    rebuilt = {"samples_sha256": "afc9", "shards/test-00000.h5": "bb"}
    new = _state({"dataset": "data", "split_samples": 40, "dataset_window_ms": 50.0})
    new["settings"]["dataset"] = rebuilt
    assert partial_state_difference(_state(), new) == (
        "dataset 'data' was rebuilt or extended since the run stopped: samples.jsonl rewritten "
        "(30 → 40 samples in split 'test'); shards/test-00000.h5 rewritten"
    )


def test_a_state_without_facts_resumes_and_its_refusals_read_without_them():
    # the facts are quoted, not compared: a state written before them has the same digest
    plain = _state(facts={})
    assert "facts" not in plain
    assert state_digest(plain) == state_digest(_state())
    assert partial_state_difference(plain, _state()) is None
    assert partial_state_difference(plain, _state(samples=20)) == "limit (--limit) was 30, now 20"
    assert partial_state_difference(plain, _state(facts={}, window_ms=20.0)) == (
        "window_ms (--window-ms) was the dataset's, now 20"
    )


def _samples(n: int = 8) -> list[dict]:
    """Two question types; event right on 6 of 8, dense on all."""
    out = []
    for sel, keep, right in (("dense", 1.0, n), ("event", 0.5, n - 2)):
        for i in range(n):
            out.append(
                {"id": f"q{i}", "selector": sel, "keep": keep, "correct": i < right,
                 "flops": 10 * keep, "latency_s": 0.01, "kept_tokens": 64 * keep,
                 "total_tokens": 64, "question_type": "color" if i % 4 else "pattern"}
            )  # fmt: skip
    return out


def test_the_results_table_gives_each_group_its_n_and_the_share_its_interval():
    rows = aggregate(_samples())
    table = results_table(rows)
    head = table.splitlines()[0]
    assert "| color (n = 6) | pattern (n = 2) |" in head, head
    assert "% of dense acc. (95 % CI)" in head
    event = next(line for line in table.splitlines() if line.startswith("| event |"))
    # as the demo report prints it: 2 questions answered differently, a score interval
    row = next(r for r in rows if r["selector"] == "event")
    lo, hi = row["accuracy_vs_dense_ci95"]
    assert f"| 75.0 % ({100 * lo:.1f}–{100 * hi:.1f} %){SCORE_MARK} |" in event, event
    assert f"\n{SCORE_MARK} a score interval" in table
