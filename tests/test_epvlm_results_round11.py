"""Round 11: a newcomer's walk through `epvlm eval` and the demo report.

- ``epvlm eval --rule quantile`` on windows where most blocks saw no event printed 64.0 / 64
  tokens and 100 % of dense FLOPs on every row at keep 0.5 and 0.25, and only table.md's title
  note said why; the printed table now says which rows kept every token, on how many answers,
  and why (table.md holds the same table and notes).
- report.md's "All questions" table had no "named no option" column: a row with a quarter of
  its answers unreadable looked like pure accuracy lost to the selection.
- accuracy_vs_flops.png drew the τ labels of coinciding rows one over the other ("τ=0.525").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from epvlm.demo.report import report_tables
from epvlm.results import aggregate, results_table

N = 20
SELECTORS = ("event", "edges", "random", "downsample", "center")


def _samples(kept=lambda sel, keep, i: 64, correct=lambda sel, keep, i: i % 2 == 0, **extra):
    """``N`` questions under dense and every selector at keep 0.5 and 0.25, 64 image tokens
    each; ``kept`` gives the tokens an answer kept, ``correct`` whether it was right."""
    configs = [("dense", 1.0)] + [(s, k) for s in SELECTORS for k in (0.5, 0.25)]
    return [
        {
            "id": f"q{i:02d}",
            "selector": sel,
            "keep": keep,
            "correct": correct(sel, keep, i),
            "question_type": "color" if i % 2 else "shape",
            "target_motion": "moving" if i % 3 else "static",
            "flops": 1000 * kept(sel, keep, i) // 64,
            "latency_s": 0.01,
            "kept_tokens": kept(sel, keep, i),
            "total_tokens": 64,
            **{k: f(sel, keep, i) for k, f in extra.items()},
        }
        for sel, keep in configs
        for i in range(N)
    ]


def _rows(samples, rule="quantile"):
    rows = aggregate(samples, bootstrap=False)
    for r in rows:
        r["rule"] = rule  # as `epvlm.evaluate.evaluate_dataset` records it
    return rows


def _notes(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith("Note:")]


# ----------------------------------------------------------------------------- 1: quantile


def test_printed_table_says_which_rows_kept_every_token_and_why():
    # edges kept them all at keep 0.5, and on 3 of the 20 questions at keep 0.25
    def kept(sel, keep, i):
        return 16 if sel == "edges" and keep == 0.25 and i >= 3 else 64

    rows = _rows(_samples(kept))
    assert {r["kept_all"] for r in rows if r["selector"] != "edges"} == {N}
    notes = _notes(results_table(rows))
    assert notes == [
        "Note: every image token kept: event at keep 0.5 on 20 of 20 answers and at keep 0.25 "
        "on 20 of 20 (--rule quantile keeps every block at or above the (1 - keep) quantile "
        "of its event counts, ties included: all of them where more than a 1 - keep share of "
        "the blocks saw no event, as that quantile is then 0).",
        "Note: every image token kept: random, downsample and center, each at keep 0.5 on 20 "
        "of 20 answers and at keep 0.25 on 20 of 20 (under --rule quantile they keep as many "
        "tokens as event kept on the same sample).",
        "Note: every image token kept: edges at keep 0.5 on 20 of 20 answers and at keep 0.25 "
        "on 3 of 20 (--rule quantile keeps every block at or above the (1 - keep) quantile of "
        "its luma-gradient scores, ties included: all of them where more than a 1 - keep share "
        "of the blocks are flat, with no luma gradient, as that quantile is then 0).",
    ]


def test_rows_that_kept_their_share_or_ran_top_k_have_no_such_note():
    def share(sel, keep, i):
        return 64 if sel == "dense" else int(64 * keep)

    assert _notes(results_table(_rows(_samples(share)))) == []
    # top-k never keeps more than keep_budget; dense keeps everything by definition
    assert _notes(results_table(_rows(_samples(), rule="topk"))) == []
    # rows of results.json written before kept_all was counted
    old = _rows(_samples())
    for r in old:
        del r["kept_all"]
    assert _notes(results_table(old)) == []


def test_one_baseline_that_kept_them_all_is_named_alone():
    def kept(sel, keep, i):
        return 64 if sel == "dense" or (sel == "random" and keep == 0.5 and i == 0) else 16

    assert _notes(results_table(_rows(_samples(kept)))) == [
        "Note: every image token kept: random at keep 0.5 on 1 of 20 answers (under --rule "
        "quantile it keeps as many tokens as event kept on the same sample)."
    ]


def test_table_md_holds_the_printed_table_and_its_notes(tmp_path):
    pytest.importorskip("matplotlib")
    from epvlm.results import write_eval_outputs

    samples = _samples()
    rows = _rows(samples)
    write_eval_outputs(tmp_path, rows, samples, "title", "Title note.")
    table_md = (tmp_path / "table.md").read_text(encoding="utf-8")
    printed = results_table(rows)
    assert table_md.endswith(printed)
    assert len(_notes(printed)) == 3


# ----------------------------------------------------------------------------- 2: report.md


def _unreadable_samples():
    """Multiple-choice answers; downsample at keep 0.25 named no option on 5 of 20."""

    def parsed(sel, keep, i):
        return None if (sel, keep) == ("downsample", 0.25) and i < 5 else "A"

    def correct(sel, keep, i):
        return parsed(sel, keep, i) is not None and i % 2 == 0

    return _samples(
        correct=correct, answer_mode=lambda *_: "choice", parsed=parsed, contains=correct
    )


def test_report_all_questions_table_shows_answers_that_named_no_option():
    from epvlm.demo.analysis import summarize

    summary = summarize(_unreadable_samples())
    tables = report_tables(summary)
    overall = tables.split("### Per scenario")[0]
    assert "| named no option |" in overall.splitlines()[2]
    line = next(x for x in overall.splitlines() if x.startswith("| downsample | 0.25 |"))
    assert line.endswith("| 5 of 20 (25.0 %) |")
    assert "| event | 0.5 |" in overall and "| 0 of 20 (0.0 %) |" in overall
    assert "Note: named no option:" in overall


def test_report_cell_is_the_printed_tables():
    """The demo's rows count the unreadable answers as `epvlm.evaluate` counts them for
    results.json, so report.md and table.md say the same."""
    from epvlm.evaluate import _add_scoring_fields

    samples = _unreadable_samples()
    rows = aggregate(samples, bootstrap=False)
    counted = {(r["selector"], r["keep"]): (r["unparsed"], r["answer_modes"]) for r in rows}
    _add_scoring_fields(rows, samples, "plain")
    assert {(r["selector"], r["keep"]): (r["unparsed"], r["answer_modes"]) for r in rows} == (
        counted
    )
    assert "5 of 20 (25.0 %)" in results_table(rows)


def test_report_table_without_unreadable_answers_is_unchanged():
    from epvlm.demo.analysis import summarize

    overall = report_tables(summarize(_samples())).split("### Per scenario")[0]
    assert "named no option" not in overall
    assert "Note:" not in overall


# ----------------------------------------------------------------------------- 3: τ labels


def _labels(rows, monkeypatch, tmp_path: Path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from epvlm.results import plot_accuracy_vs_flops

    seen = []
    save = Figure.savefig

    def keep_figure(fig, *args, **kwargs):
        save(fig, *args, **kwargs)
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        seen.extend((t.get_text(), t.get_window_extent(renderer)) for t in ax.texts)

    monkeypatch.setattr(Figure, "savefig", keep_figure)
    plot_accuracy_vs_flops(rows, tmp_path / "plot.png")
    return seen


def _overlapping(labels):
    return [
        (a, b)
        for i, (a, box_a) in enumerate(labels)
        for b, box_b in labels[i + 1 :]
        if box_a.overlaps(box_b)
    ]


def test_coinciding_rows_get_one_label_naming_their_keeps(monkeypatch, tmp_path):
    # every row kept every token (100 % of dense FLOPs): event at both keeps right on the
    # same questions, so their points coincide; the baselines coincide with each other
    def correct(sel, keep, i):
        return i % 2 == 0 if sel in ("dense", "event") else i % 4 == 0

    labels = _labels(_rows(_samples(correct=correct)), monkeypatch, tmp_path)
    assert _overlapping(labels) == []
    # under --rule quantile the two points stand in one column, which has one label (round 12)
    assert sorted(text for text, _ in labels) == ["τ=0.5, 0.25"]


def test_labels_of_nearby_points_do_not_overprint(monkeypatch, tmp_path):
    # random and downsample at keep 0.5 on the same point; the others a point or two apart
    def correct(sel, keep, i):
        right = {"event": 11, "edges": 10, "random": 9, "downsample": 9, "center": 8}
        return i < (right.get(sel, 18) if keep == 0.5 or sel == "dense" else 5)

    def kept(sel, keep, i):
        return 64 if sel == "dense" else int(64 * keep)

    labels = _labels(_rows(_samples(kept, correct)), monkeypatch, tmp_path)
    assert _overlapping(labels) == []
    assert {text for text, _ in labels} == {"τ=0.5", "τ=0.25"}
