"""Second look at round 11's info polarity summary (386c06a) and colour-bar middle label
(3b49319): values that are no polarity but fit int8 (2, 95: the time column of a headerless
Metavision CSV) were counted OFF while those int8 cannot hold were counted apart."""

from __future__ import annotations

import json

import numpy as np

from eventsim.cli import main
from eventsim.render.scales import heatmap_ticks


def _info_json(capsys, *argv: str) -> dict:
    rc = main(["info", "--json", *argv])
    out, _ = capsys.readouterr()
    assert rc == 0
    return json.loads(out)


def test_a_polarity_int8_holds_that_is_no_polarity_counts_neither_on_nor_off(tmp_path, capsys):
    """x,y,p,t rows read as t,x,y,p: the times 95 and 2 were counted OFF ('0 ON, 2 OFF, 2
    unreadable'), 3553 and 3600 apart; none of them is a polarity."""
    path = tmp_path / "tool_b.csv"
    path.write_text("91,62,1,3553\n12,40,0,3600\n5,7,1,95\n70,3,0,2\n8,9,1,1\n9,9,1,0\n")
    s = _info_json(capsys, str(path))
    assert (s["on_events"], s["off_events"], s["unreadable_polarity"]) == (1, 1, 4)
    assert s["on_fraction"] == 0.5
    main(["info", str(path)])
    out, err = capsys.readouterr()
    assert "polarity:        50.0% ON (1 ON, 1 OFF, 4 unreadable)" in out
    assert "polarity at index 0 is 3553" in err


def test_no_polarity_is_counted_apart_in_every_layout(tmp_path, capsys):
    """A 7 in a structured .npy and a 2 in a named CSV: apart, as a stand-in -128 is."""
    arr = np.zeros(3, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "<i8")])
    arr["t"], arr["p"] = [1, 2, 3], [1, 7, 0]
    np.save(tmp_path / "s.npy", arr)
    named = tmp_path / "named.csv"
    named.write_text("t,x,y,p\n1,2,3,2\n2,3,1,0\n")
    for path, counts in ((tmp_path / "s.npy", (1, 1, 1)), (named, (0, 1, 1))):
        s = _info_json(capsys, str(path), "--sensor-size", "8x6")
        assert (s["on_events"], s["off_events"], s["unreadable_polarity"]) == counts, path


def test_a_polarity_mix_still_counts_minus_one_and_zero_off(tmp_path, capsys):
    path = tmp_path / "mix.csv"
    path.write_text("100,1,2,-1\n200,1,2,0\n300,1,2,1\n")
    s = _info_json(capsys, str(path), "--sensor-size", "4x4")
    assert (s["on_events"], s["off_events"], s["unreadable_polarity"]) == (1, 2, 0)
    assert "mixes the -1/+1 and 0/1 conventions" in s["problem"]


def test_eventsim_hdf5_info_has_the_unreadable_key(tmp_path, capsys):
    csv = tmp_path / "ok.csv"
    csv.write_text("t,x,y,p\n1,2,3,1\n2,3,1,0\n")
    assert main(["convert", str(csv), str(tmp_path / "ok.h5"), "--sensor-size", "8x6"]) == 0
    capsys.readouterr()
    s = _info_json(capsys, str(tmp_path / "ok.h5"))
    assert (s["on_events"], s["off_events"], s["unreadable_polarity"]) == (1, 1, 0)


def test_middle_tick_bounds_are_as_documented():
    """heatmap_ticks' docstring said a full scale of 2 or less had no middle tick; the linear
    scale of 2 has one (1, at the middle); none under 5/3, or under about 2.2 on the log one."""
    assert [label for _, label in heatmap_ticks(2, False)] == ["0", "1", "2+"]
    assert len(heatmap_ticks(1.66, False)) == 2 and len(heatmap_ticks(5 / 3, False)) == 3
    assert len(heatmap_ticks(2.17, True)) == 2 and len(heatmap_ticks(2.18, True)) == 3
