"""Round 11 newcomer walkthrough: info of a headerless Metavision CSV, an interrupted build as
info and verify describe it, and the heat-map colour bar's middle label."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import InvalidEventsError
from eventsim.render.scales import heatmap_colorbar, heatmap_ticks


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([*argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------ the colour bar's middle label


def test_colour_bar_middle_label_is_a_whole_count_at_its_place():
    """The middle label was the count at the bar's middle, ``sqrt(1 + full) - 1``: '2.46'
    for a full scale of 11, which names no count of events."""
    for full in (3, 5, 8, 11, 11.4, 30, 99, 640, 25_061, 99_999):
        for log in (True, False):
            ticks = heatmap_ticks(full, log)
            assert len(ticks) == 3, (full, log, ticks)
            pos, label = ticks[1]
            count = int(label)
            assert 0 < count < full and 0.3 <= pos <= 0.6, (full, log, ticks)
            # drawn where render_heatmap puts that count's colour
            where = np.log1p(count) / np.log1p(full) if log else count / full
            assert np.isclose(pos, where), (full, log, ticks)
            # one significant digit, or a half step (15, 250)
            assert label.rstrip("0") in {"1", "15", "2", "25", *"3456789"}, label
    assert heatmap_ticks(11, True)[1] == (np.log(3) / np.log(12), "2")
    assert heatmap_ticks(30, False)[1] == (0.5, "15")


def test_colour_bar_of_a_full_scale_of_one_has_no_middle_label():
    # no whole count lies between 0 and 1: no '0.414' in the middle
    assert heatmap_ticks(1.0, True) == [(0.0, "0"), (1.0, "1+")]
    assert heatmap_ticks(1.0, False) == [(0.0, "0"), (1.0, "1+")]
    assert heatmap_colorbar(1.0).shape == heatmap_colorbar(8.0).shape
    # nor a 1 that would sit near the top of the bar (log(2) / log(3) = 0.63), crowding '2+'
    assert heatmap_ticks(2.0, True) == [(0.0, "0"), (1.0, "2+")]
    assert heatmap_ticks(2.0, False) == [(0.0, "0"), (0.5, "1"), (1.0, "2+")]


# ---------------------------------------------- an unfinished build, as info and verify say it


def _unfinished(tmp_path: Path) -> Path:
    # what a killed build leaves: the state file, shards, no manifest
    folder = tmp_path / "ds"
    (folder / "shards").mkdir(parents=True)
    (folder / ".build-state.json").write_text("{}\n")
    return folder


def test_verify_says_a_stopped_build_was_stopped_as_info_does(tmp_path, capsys):
    """verify said 'is still running (wait for it to finish) or was interrupted', where info
    said, from the build's lock, that no process holds it: the build was stopped."""
    folder = _unfinished(tmp_path)
    for given in (folder, folder / "dataset.json", folder / "shards"):
        said = {}
        for command in ("info", "verify"):
            rc, _, err = _run(capsys, command, str(given))
            assert rc == 1
            said[command] = _error_line(err).split(": error: ", 1)[1]
        assert said["verify"] == said["info"], said
        assert "was interrupted or failed" in said["verify"]
        assert "rerun the same command to resume" in said["verify"]
        assert "running" not in said["verify"]


@pytest.mark.skipif(os.name != "posix", reason="builds lock their folder on POSIX systems")
def test_verify_says_a_running_build_is_running_as_info_does(tmp_path, capsys):
    from eventsim.datasets.engine import _build_lock

    folder = _unfinished(tmp_path)
    with _build_lock(folder) as locked:
        assert locked
        said = {}
        for command in ("info", "verify"):
            rc, _, err = _run(capsys, command, str(folder))
            assert rc == 1
            said[command] = _error_line(err).split(": error: ", 1)[1]
    assert said["verify"] == said["info"], said
    assert f"is running (pid {os.getpid()}); wait for it to finish" in said["verify"]
    assert "interrupted" not in said["verify"]


# ------------------------------------------------- info of a CSV whose polarity is no polarity

_HINT = (
    "without a header line the columns are read as t,x,y,p: if they are x,y,p,t (Metavision's "
    "metavision_file_to_csv), add the line 'x,y,p,t' at the top"
)


def _metavision_rows(tmp_path: Path) -> Path:
    """x,y,p,t rows without a header, as metavision_file_to_csv writes them: read as t,x,y,p,
    each time (3553, 3600, ...) lands in the polarity column."""
    rows = ["91,62,1,3553", "12,40,0,3600", "5,7,1,95", "70,3,0,3700", "8,9,1,1"]
    path = tmp_path / "tool_b.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_info_of_a_headerless_metavision_csv_gives_convert_s_hint(tmp_path, capsys):
    """info said 'polarity p[3] = -128; expected 0 or 1' (no -128 in the file: the stand-in
    for 3553, and an index in time order) and '0.0% ON (1 ON, 4 OFF)', counting each
    stand-in as OFF; convert, render and plot refuse the file naming 3553 and the fix."""
    path = _metavision_rows(tmp_path)
    rc, _, convert_err = _run(capsys, "convert", str(path), str(tmp_path / "o.h5"))
    assert rc == 1
    refusal = _error_line(convert_err).split(": error: ", 1)[1]
    assert "polarity at index 0 is 3553" in refusal and _HINT in refusal
    for check, level, code in (([], "warning", 0), (["--check"], "error", 1)):
        rc, out, err = _run(capsys, "info", *check, str(path))
        assert rc == code
        line = _error_line(err)
        assert line.endswith(
            f"{level}: {path}: invalid events, the figures above are not trustworthy: {refusal}"
        ), line
        assert "-128" not in line
        # 3553, 3600 and 3700 are no int8 and 95 is no polarity: neither ON nor OFF
        assert "polarity:        100.0% ON (1 ON, 0 OFF, 4 unreadable)" in out
        assert "read as -128 (3 values so)" in out
    rc, out, _ = _run(capsys, "info", "--json", str(path))
    s = json.loads(out)
    assert (s["on_events"], s["off_events"], s["unreadable_polarity"]) == (1, 0, 4)
    assert s["on_fraction"] == 1.0 and s["problem"] == refusal


def test_info_of_polarity_none_of_which_is_readable(tmp_path, capsys):
    path = tmp_path / "times.csv"
    path.write_text("1,2,1,3553\n2,3,1,3600\n")
    rc, out, err = _run(capsys, "info", str(path))
    assert rc == 0
    assert "polarity:        n/a (2 unreadable)" in out
    assert "polarity at index 0 is 3553" in err and _HINT in err


def test_info_names_a_nan_polarity_as_written_as_convert_does(tmp_path, capsys):
    """With check_polarity=False a NaN polarity was read as -128 too, and info named that."""
    for name, text in (
        ("nan.csv", "0.5,1,2,1\n0.6,1,2,nan\n0.7,1,3,0\n"),
        ("nan.txt", "0.5 1 2 1\n0.6 1 2 nan\n0.7 1 3 0\n"),
    ):
        path = tmp_path / name
        path.write_text(text)
        rc, _, err = _run(capsys, "convert", str(path), str(tmp_path / "o.h5"), "--force")
        assert rc == 1
        refusal = _error_line(err).split(": error: ", 1)[1]
        assert f"polarity is 'nan' at line 2 of {str(path)!r}" in refusal
        rc, out, err = _run(capsys, "info", str(path), "--sensor-size", "8x6")
        assert rc == 0
        assert _error_line(err).endswith(f"trustworthy: {refusal}")
        assert "polarity:        50.0% ON (1 ON, 1 OFF, 1 unreadable)" in out


def test_readers_keep_the_refusal_they_stand_for(tmp_path):
    from eventsim.io import open_events

    plain = np.zeros((3, 4))
    plain[:, 0] = [1, 2, 3]
    plain[:, 3] = [1, 300, np.nan]
    path = tmp_path / "ev.npy"
    np.save(path, plain)
    with open_events(path, sensor_size=(8, 6), check_polarity=False) as reader:
        kept = reader.polarity_kept
        assert kept is not None and kept.unreadable == 2
        assert reader.read_index()["p"].tolist() == [1, -128, -128]
    with pytest.raises(InvalidEventsError) as refused:
        open_events(path, sensor_size=(8, 6))
    assert str(refused.value) == kept.refusal
    assert "if its columns are in another order" in kept.refusal
    good = tmp_path / "good.npy"
    plain[:, 3] = [1, 0, 1]
    np.save(good, plain)
    with open_events(good, sensor_size=(8, 6), check_polarity=False) as reader:
        assert reader.polarity_kept is None


def test_info_adds_the_readers_hint_to_a_readable_bad_polarity(tmp_path, capsys):
    """A value int8 holds (2) is named by the stream check, as before, now with the hint the
    reader gives: the columns' order, where nothing named it."""
    path = tmp_path / "small.csv"
    path.write_text("1,2,3,2\n2,3,1,0\n")
    rc, out, err = _run(capsys, "info", str(path))
    assert rc == 0
    assert _error_line(err).endswith(f"trustworthy: polarity p[0] = 2; expected 0 or 1; {_HINT}")
    assert "polarity:        0.0% ON (0 ON, 1 OFF, 1 unreadable)" in out
    named = tmp_path / "named.csv"
    named.write_text("t,x,y,p\n1,2,3,2\n2,3,1,0\n")
    rc, _, err = _run(capsys, "info", str(named))
    assert _error_line(err).endswith("trustworthy: polarity p[0] = 2; expected 0 or 1")
    plain = np.array([[1, 2, 3, 2], [2, 3, 1, 0]])
    np.save(tmp_path / "plain.npy", plain)
    rc, _, err = _run(capsys, "info", str(tmp_path / "plain.npy"))
    line = _error_line(err)
    assert "polarity p[0] = 2; expected 0 or 1 in plain.npy (an N x 4 array" in line
    assert line.endswith("esim_py writes xytp)")
