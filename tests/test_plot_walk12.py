"""Visualisation walkthrough 12:

- ``render`` and ``plot`` never told what the file reader noted (a time unit detected, a sensor
  size inferred from the coordinates, events sorted on reading) and drew, without a word, what
  ``convert`` refuses: float times in ms read as ``--time-unit us``, which rounding merged into
  a few µs. All three now tell the notes and refuse such times in one wording
  (`eventsim.cli.common.tell_reading`), with the same ``--allow-implausible-times``;
- the plot's title wrote 999.984 ms as '1e+03 ms' and 999.6 ev/s as '1e+03 ev/s', ``info``
  one event's duration as '1e-06 s'; the histogram's legend said 'median 1 events'; in the
  rate panel of a file with as many ON as OFF events the ON line lay hidden under OFF's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.events import EVENT_DTYPE
from eventsim.io import write_events


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _float_ms(path: Path, *, unsorted: bool = False) -> Path:
    """500 float events over 2 ms, given in ms, on a 60x46 sensor no file records."""
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 2, 500))
    x = rng.integers(0, 60, 500)
    y = rng.integers(0, 46, 500)
    x[0], y[0] = 59, 45
    cols = np.stack([t, x, y, rng.integers(0, 2, 500)], axis=1).astype(float)
    np.save(path, cols[::-1].copy() if unsorted else cols)
    return path


@pytest.mark.parametrize("command", ["render", "plot"])
def test_times_merged_by_rounding_are_refused_as_convert_refuses_them(tmp_path, capsys, command):
    src = _float_ms(tmp_path / "f_ms.npy")
    rc, _, convert_err = _run(capsys, "convert", src, tmp_path / "o.h5", "--time-unit", "us")
    assert rc == 1
    out = tmp_path / "x.png"
    rc, _, err = _run(capsys, command, src, "-o", out, "--time-unit", "us")
    assert rc == 1 and not out.exists()
    assert "times merged by rounding" in err and "pass --time-unit s" in err
    assert f"pass --allow-implausible-times to {command} them as read" in err
    # the same notes and the same refusal, word for word, but for the command's name
    assert err == convert_err.replace("eventsim convert:", f"eventsim {command}:").replace(
        "to convert them", f"to {command} them"
    )


def test_render_force_alone_does_not_pass_implausible_times(tmp_path, capsys):
    src = _float_ms(tmp_path / "f_ms.npy")
    rc, _, err = _run(
        capsys, "render", src, "-o", tmp_path / "x.png", "--time-unit", "us", "--force"
    )
    assert rc == 1 and "--allow-implausible-times" in err


@pytest.mark.parametrize("command", ["render", "plot"])
def test_allow_implausible_times_draws_them_with_a_warning(tmp_path, capsys, command):
    src = _float_ms(tmp_path / "f_ms.npy")
    out = tmp_path / "x.png"
    rc, _, err = _run(
        capsys, command, src, "-o", out, "--time-unit", "us", "--allow-implausible-times"
    )
    assert rc == 0 and out.is_file()
    done = {"render": "rendered", "plot": "plotted"}[command]
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"eventsim {command}: warning: {src}: times merged by rounding")
    assert warnings[0].endswith(f"; {done} as read because of --allow-implausible-times")


@pytest.mark.parametrize("command", ["render", "plot"])
def test_the_readers_notes_are_told(tmp_path, capsys, command):
    src = _float_ms(tmp_path / "unsorted.npy", unsorted=True)
    rc, _, err = _run(capsys, command, src, "-o", tmp_path / "x.png")
    assert rc == 0, err
    notes = [line for line in err.splitlines() if line.startswith(f"eventsim {command}: note:")]
    said = "\n".join(notes)
    assert "time unit detected: seconds" in said and "pass --time-unit ms, us or ns" in said
    assert "sensor size not recorded; inferred 60x46" in said
    assert "events were not sorted by time" in said


def test_help_shares_convert_s_words(capsys):
    texts = {}
    for command in ("convert", "render", "plot"):
        assert main([command, "--help"]) == 0
        texts[command] = " ".join(capsys.readouterr().out.split())
    for command in ("render", "plot"):
        assert (
            f"--allow-implausible-times {command}, with a warning, an input whose times are "
            "implausible for an event camera" in texts[command]
        )
        assert "deprecated" not in texts[command]
    assert "--allow-implausible-times convert, with a warning" in texts["convert"]
    assert "--force does this too, deprecated" in texts["convert"]


# ------------------------------------------------------------------------- number formats
def test_numbers_have_no_exponent_and_switch_unit_where_they_round_up():
    from eventsim._text import rate_text, significant
    from eventsim.render.summary import _duration_text, _seconds_text

    assert _duration_text(0.999984) == "1.000 s"
    assert _duration_text(0.9994) == "999 ms"
    assert _duration_text(0.000001) == "0.001 ms"
    assert rate_text(999.6) == "1 kev/s"
    assert rate_text(999.4) == "999 ev/s"
    assert rate_text(999_999.6) == "1 Mev/s"
    assert rate_text(2.5e10) == "25000 Mev/s"
    assert _seconds_text(0.9999) == "1 s"
    assert _seconds_text(50) == "50 s"
    assert _seconds_text(4000) == "4,000 s"
    assert significant(1e-6) == "0.000001"
    assert significant(0.0123) == "0.0123"


def _one_event_h5(tmp_path: Path, n: int = 1, t_step: int = 0, last: int = 0) -> Path:
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.arange(n) * t_step
    ev["t"][-1] = max(ev["t"][-1], last)
    ev["x"] = np.arange(n) % 8
    ev["p"] = np.arange(n) % 2
    path = tmp_path / "one.h5"
    write_events(path, ev, (8, 6))
    return path


def test_info_says_a_microsecond_without_an_exponent(tmp_path, capsys):
    rc, out, _ = _run(capsys, "info", _one_event_h5(tmp_path))
    assert rc == 0
    assert "duration:        0.000001 s" in out.splitlines()


def test_info_rate_switches_unit_where_it_rounds_up(tmp_path, capsys):
    # 1000 events over 1,000,401 µs: 999.6 ev/s
    ev_path = _one_event_h5(tmp_path, 1000, 1000, last=1_000_400)
    rc, out, _ = _run(capsys, "info", ev_path)
    assert rc == 0
    assert "rate:            1 kev/s" in out.splitlines()


def _summary(**changes):
    from eventsim.render.summary import EventSummary

    counts = np.zeros((2, 6, 8), np.int32)
    counts[0, 0, :4] = 1
    counts[1, 1, :4] = 1
    fields = dict(
        name="f",
        sensor_size=(8, 6),
        n_events=1000,
        t_start_us=0,
        t_end_us=999_984,
        bin_edges_us=np.linspace(0, 999_984, 3),
        bin_counts=np.array([[250, 250], [250, 250]]),
        pixel_counts=counts,
        scatter=np.zeros(0, EVENT_DTYPE),
        scatter_window_us=(0, 999_984),
    )
    fields.update(changes)
    return EventSummary(**fields)


def test_plot_title_has_no_exponent():
    from eventsim.render.summary import summary_figure

    fig = summary_figure(_summary())
    title = fig.get_suptitle()
    assert "1.000 s" in title and "mean 1 kev/s" in title and "e+" not in title


def test_median_of_one_event_is_singular():
    from eventsim.render.summary import summary_figure

    one_bin = {
        "t_end_us": 1,
        "bin_edges_us": np.array([0.0, 1.0]),
        "bin_counts": np.array([[4], [4]]),
    }
    fig = summary_figure(_summary(n_events=8, **one_bin))
    (ax,) = [a for a in fig.axes if a.get_title().startswith("Per-pixel rate")]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["median 1 event"]


def test_on_rate_line_is_seen_over_an_equal_off_line():
    from eventsim.render.summary import summary_figure

    fig = summary_figure(_summary())
    (ax,) = [a for a in fig.axes if a.get_title().startswith("Event rate by polarity")]
    lines = {p.get_label(): p for p in ax.patches}
    on, off = lines["ON"], lines["OFF"]
    assert on.get_linestyle() not in ("-", "solid")
    assert on.get_zorder() > off.get_zorder()
