"""Round 12: the accuracy-vs-FLOPs plots are laid out once per save.

Saved with its layout engine, a figure is drawn twice: first unrendered, only so that the
engine lays it out, then for the file. The plots now run the engine themselves and save the
figure without it (`epvlm.results._save`), and the τ labels are placed after the layout alone
instead of a whole unrendered draw. The files must hold the same image as before, pixel for
pixel, whatever the user's rcParams ask of new figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import epvlm.results as results
from epvlm.results import plot_accuracy_vs_flops, plot_accuracy_vs_flops_by, wilson_interval

N = 20


def _row(sel: str, keep: float, flops: float, correct: int, rule: str | None) -> dict:
    k = correct
    row = {
        "selector": sel,
        "keep": keep,
        "n": N,
        "correct": k,
        "accuracy": k / N,
        "accuracy_ci95": list(wilson_interval(k, N)),
        "flops": flops * 1e9,
        "flops_vs_dense": flops,
        "groups": {
            "target_motion": {
                "moving": {"n": N, "accuracy": k / N, "accuracy_ci95": [0.0, 1.0]},
                "static": {"n": N, "accuracy": 1 - k / N, "accuracy_ci95": [0.0, 1.0]},
            }
        },
    }
    if rule:
        row["rule"] = rule
    return row


def _rows(rule: str | None) -> list[dict]:
    rows = [_row("dense", 1.0, 1.0, 18, rule)]
    for keep, flops in ((0.75, 0.8), (0.5, 0.55), (0.25, 0.3)):
        for j, sel in enumerate(("event", "edges", "random", "downsample", "center")):
            # the baselines keep event's count under quantile: one column per keep
            at = flops if sel != "edges" else flops * 0.8
            rows.append(_row(sel, keep, at, (7 * j + int(40 * keep)) % (N + 1), rule))
    return rows


def _savefig_with_engine(plt, fig, path):
    """What the plots did before: savefig with the engine still set."""
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)


@pytest.mark.parametrize("rule", ["quantile", "topk", None])
@pytest.mark.parametrize("title", ["", "epvlm eval: tiny on ds/test"])
def test_plot_is_the_image_savefig_lays_out(rule, title, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    fast = plot_accuracy_vs_flops(_rows(rule), tmp_path / "fast.png", title)
    monkeypatch.setattr(results, "_save", _savefig_with_engine)
    slow = plot_accuracy_vs_flops(_rows(rule), tmp_path / "slow.png", title)
    a, b = _pixels(fast), _pixels(slow)
    assert a.shape == b.shape == (504, 816, 4)
    assert np.array_equal(a, b)


def test_plot_by_group_is_the_image_savefig_lays_out(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    fast = plot_accuracy_vs_flops_by(_rows("quantile"), "target_motion", tmp_path / "fast.png")
    monkeypatch.setattr(results, "_save", _savefig_with_engine)
    slow = plot_accuracy_vs_flops_by(_rows("quantile"), "target_motion", tmp_path / "slow.png")
    assert np.array_equal(_pixels(fast), _pixels(slow))


@pytest.mark.parametrize("rule", ["quantile", "topk"])
def test_labels_go_where_a_whole_draw_put_them(rule, tmp_path, monkeypatch):
    # the labels were placed after a whole unrendered draw; the layout alone puts them at
    # the same spots
    pytest.importorskip("matplotlib")
    untangle = results._untangle

    def after_a_draw(ax, *args):
        original, active = ax.get_position(original=True), ax.get_position()
        ax.figure.draw_without_rendering()
        ax.set_position(original, which="original")
        ax.set_position(active, which="active")
        ax.set_in_layout(True)
        untangle(ax, *args)

    fast = plot_accuracy_vs_flops(_rows(rule), tmp_path / "fast.png", "t")
    monkeypatch.setattr(results, "_untangle", after_a_draw)
    slow = plot_accuracy_vs_flops(_rows(rule), tmp_path / "slow.png", "t")
    assert np.array_equal(_pixels(fast), _pixels(slow))


@pytest.mark.parametrize("rc", ["figure.autolayout", "figure.constrained_layout.use"])
def test_an_rc_layout_does_not_take_over_the_save(rc, tmp_path):
    # with no engine, a figure takes the rc's (tight layout under figure.autolayout), which
    # would lay the saved plot out anew
    plt = pytest.importorskip("matplotlib.pyplot")
    plain = plot_accuracy_vs_flops(_rows("quantile"), tmp_path / "plain.png", "t")
    with plt.rc_context({rc: True}):
        ruled = plot_accuracy_vs_flops(_rows("quantile"), tmp_path / "rc.png", "t")
    assert np.array_equal(_pixels(plain), _pixels(ruled))
