"""Round 11 newcomer walkthrough: info of a headerless Metavision CSV, an interrupted build as
info and verify describe it, and the heat-map colour bar's middle label."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main
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
