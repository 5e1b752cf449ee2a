import numpy as np
import pytest

from eventsim.cli.plot import main
from eventsim.events import make_events
from eventsim.io import open_events, write_events
from eventsim.render.summary import collect_summary

W, H = 64, 48


@pytest.fixture
def events_file(tmp_path, small_events):
    path = tmp_path / "ev.h5"
    write_events(path, small_events, (W, H))
    return path


def test_summary_statistics_add_up(events_file, small_events):
    with open_events(events_file) as r:
        s = collect_summary(r, n_bins=25, scatter_events=500, chunk_events=1024)
    assert s.n_events == len(small_events)
    assert s.bin_counts.sum() == len(small_events)
    assert s.bin_counts[1].sum() == int((small_events["p"] == 1).sum())
    assert s.pixel_counts.shape == (2, H, W) and s.pixel_counts.sum() == len(small_events)
    expected = np.zeros((H, W), np.int64)
    np.add.at(expected, (small_events["y"], small_events["x"]), 1)
    assert (s.pixel_counts.sum(axis=0) == expected).all()
    assert 0 < len(s.scatter) <= 500
    a, b = s.scatter_window_us
    assert (s.scatter["t"] >= a).all() and (s.scatter["t"] < b).all()


def test_plot_cli_writes_a_png(tmp_path, events_file, capsys):
    out = tmp_path / "summary.png"
    assert main([str(events_file), "-o", str(out), "--bins", "20", "--no-progress"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out
    # refuses to overwrite, then overwrites with --force
    assert main([str(events_file), "-o", str(out), "--no-progress"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main([str(events_file), "-o", str(out), "--no-progress", "--force"]) == 0


def test_plot_single_event_file_and_bad_output(tmp_path, capsys):
    path = tmp_path / "one.h5"
    write_events(path, make_events([1], [2], [5], [0]), (W, H))
    assert main([str(path), "-o", str(tmp_path / "one.png"), "--no-progress"]) == 0
    assert main([str(path), "-o", str(tmp_path / "one.jpg"), "--no-progress"]) == 1
    assert ".png, .pdf or .svg" in capsys.readouterr().err
    assert not (tmp_path / "one.jpg").exists()


def _figure_texts(fig) -> str:
    texts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return " | ".join(texts)


@pytest.mark.parametrize(
    ("ts", "reason"), [([5], "all events at one time"), ([7, 7, 7], "all events at one time")]
)
def test_summary_figure_gives_no_rate_for_events_at_one_time(tmp_path, ts, reason):
    pytest.importorskip("matplotlib")
    from eventsim.render.summary import summary_figure

    path = tmp_path / "one.h5"
    n = len(ts)
    write_events(path, make_events([1] * n, [2] * n, ts, [0] * n), (W, H))
    with open_events(path) as r:
        s = collect_summary(r)
    text = _figure_texts(summary_figure(s))
    assert f"rate n/a ({reason})" in text
    assert "ev/s" not in text, text


def test_summary_figure_gives_rates_over_a_real_span(events_file):
    pytest.importorskip("matplotlib")
    from eventsim.render.summary import summary_figure

    with open_events(events_file) as r:
        s = collect_summary(r)
    text = _figure_texts(summary_figure(s))
    assert "mean " in text and "ev/s" in text and "n/a" not in text


def test_heat_map_colour_bar_ticks_do_not_bunch_on_the_log_scale():
    """Evenly spaced whole counts (0, 15, ..., 135) crowded the top of the log(1 + count) bar."""
    from eventsim.render.summary import _log_count_ticks

    assert _log_count_ticks(135) == [0, 1, 2, 5, 10, 20, 50, 100]
    assert _log_count_ticks(1) == [0, 1]
    assert _log_count_ticks(5e6) == [0, 1, 10, 100, 1000, 10_000, 100_000, 1_000_000]
