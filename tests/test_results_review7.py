"""The main accuracy-vs-FLOPs plot had no interval bars (review 7): on `epvlm demo --limit 20`
it showed event 85 % against random 60 % at τ = 0.25 with nothing saying how uncertain that is,
while the by-scenario and by-type plots drew 95 % Wilson bars."""

from __future__ import annotations

import pytest
from test_results import OUTCOMES, _samples

from epvlm.results import aggregate


def test_the_main_plot_draws_each_rows_wilson_interval(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    from epvlm.results import plot_accuracy_vs_flops

    drawn: dict[str, list] = {}
    errorbar = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, *args, yerr=None, **kwargs):
        drawn[kwargs["label"]] = [list(y), yerr]
        return errorbar(self, x, y, *args, yerr=yerr, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    rows = aggregate(_samples(OUTCOMES))
    plot_accuracy_vs_flops(rows, tmp_path / "a.png")
    assert "event" in drawn and "dense" in drawn
    ys, (below, above) = drawn["event"]
    event = sorted((r for r in rows if r["selector"] == "event"), key=lambda r: r["flops"])
    for y, lo, hi, row in zip(ys, below, above, event):
        assert y - lo == pytest.approx(100 * row["accuracy_ci95"][0])
        assert y + hi == pytest.approx(100 * row["accuracy_ci95"][1])
    assert any(lo > 0 for lo in below)
