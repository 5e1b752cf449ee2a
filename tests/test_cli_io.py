import json

import numpy as np
import pytest

from eventsim import __version__
from eventsim.cli import convert, info
from eventsim.cli import main as eventsim_main
from eventsim.events import EVENT_DTYPE
from eventsim.io import load_events, open_events, write_events

SIZE = (64, 48)


@pytest.fixture
def h5file(tmp_path, small_events):
    path = tmp_path / "in.h5"
    write_events(path, small_events, SIZE, params={"pos_threshold": 0.25}, source={"clip": "x"})
    return path


def test_version(capsys):
    assert eventsim_main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_info_reports_summary(h5file, small_events, capsys):
    assert info.main([str(h5file)]) == 0
    out = capsys.readouterr().out
    n_on = int(small_events["p"].sum())
    assert f"{len(small_events):,}" in out
    assert "64x48" in out
    assert f"{n_on:,} ON" in out
    assert "pos_threshold = 0.25" in out
    assert 'clip = "x"' in out
    dur = (small_events["t"][-1] + 1 - small_events["t"][0]) / 1e6
    assert f"{dur:.6g} s" in out


def test_info_json_through_dispatcher(h5file, small_events, capsys):
    assert eventsim_main(["info", str(h5file), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["events"] == len(small_events)
    assert s["on_events"] + s["off_events"] == len(small_events)
    assert s["sensor_size"] == list(SIZE)
    assert s["params"] == {"pos_threshold": 0.25}
    duration = (small_events["t"][-1] + 1 - small_events["t"][0]) / 1e6
    assert s["rate_ev_per_s"] == pytest.approx(len(small_events) / duration)


def test_info_errors_are_one_line(tmp_path, capsys):
    assert info.main([str(tmp_path / "missing.h5")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eventsim info: error:") and "missing.h5" in err[0]
    empty = tmp_path / "empty.h5"
    empty.touch()
    assert info.main([str(empty)]) == 1
    assert "empty" in capsys.readouterr().err
    assert info.main([]) == 2


_INFO_RECIPE = """
[dataset]
name = "info-check"
seed = 5
[source]
kind = "shapes"
mode = "vqa"
n_objects = [2, 2]
object_size_px = [8, 12]
motion_px = [4, 8]
max_step_px = 1.0
[camera]
width = 48
height = 40
[simulator]
preset = "clean"
[events]
window_ms = 10
[splits]
train = 1
test = 2
[build]
shard_size = 2
"""


def test_info_on_a_folder_describes_the_dataset(tmp_path, capsys):
    from eventsim.datasets import build_dataset

    recipe = tmp_path / "recipe.toml"
    recipe.write_text(_INFO_RECIPE)
    root = tmp_path / "ds"
    build_dataset(recipe, root, progress=False)
    manifest = json.loads((root / "dataset.json").read_text())
    assert info.main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "dataset info-check" in out and "sensor 48x40" in out
    assert "3 samples, 0 skipped" in out
    events = {name: s["events"] for name, s in manifest["splits"].items()}
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["train"][1:4] == ["1", "0", f"{events['train']:.0f}"]
    assert rows["test"][1:4] == ["2", "0", f"{events['test'] / 2:.0f}"]
    # a folder that is not a built dataset is a one-line error
    assert info.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a built dataset" in err[0]


def test_convert_roundtrip_h5_npy_h5(h5file, tmp_path, small_events, capsys):
    npy = tmp_path / "mid.npy"
    assert convert.main([str(h5file), str(npy)]) == 0
    assert "wrote 5,000 events" in capsys.readouterr().out
    back = tmp_path / "back.h5"
    # a .npy of EVENT_DTYPE records carries no sensor size
    assert convert.main([str(npy), str(back), "--sensor-size", "64x48"]) == 0
    with open_events(back) as r:
        assert r.sensor_size == SIZE
        assert np.array_equal(r.read(), small_events)
        assert r.source["converted_from"] == str(npy)


def test_convert_to_format_by_flag(h5file, tmp_path, small_events):
    out = tmp_path / "v2e_style.h5"
    assert convert.main([str(h5file), str(out), "--to", "v2e"]) == 0
    with open_events(out, sensor_size=SIZE) as r:
        assert r.layout == "v2e"
        assert np.array_equal(r.read(), small_events)


def test_convert_refuses_existing_output_without_force(h5file, tmp_path, capsys):
    out = tmp_path / "out.npz"
    out.write_bytes(b"precious")
    assert convert.main([str(h5file), str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert convert.main([str(h5file), str(out), "--force"]) == 0
    assert len(load_events(out)) == 5000


def test_convert_signed_polarity_input_says_so(tmp_path, capsys):
    txt = tmp_path / "signed.txt"
    txt.write_text("64 48\n0.000010 1 2 1\n0.000020 3 4 -1\n0.000030 5 6 -1\n")
    out = tmp_path / "out.h5"
    assert convert.main([str(txt), str(out)]) == 0
    assert "-1/+1" in capsys.readouterr().err
    ev = load_events(out)
    assert ev["p"].tolist() == [1, 0, 0] and ev["t"].tolist() == [10, 20, 30]


def test_convert_errors(h5file, tmp_path, capsys):
    assert convert.main([str(h5file), str(tmp_path / "out.xyz")]) == 1
    assert "extension" in capsys.readouterr().err
    assert convert.main([str(h5file), str(h5file), "--force"]) == 1
    assert "same file" in capsys.readouterr().err
    assert convert.main([str(h5file), str(tmp_path / "o.h5"), "--sensor-size", "9"]) == 2
    # coordinates outside the given sensor: refused, nothing written
    arr = np.zeros(3, EVENT_DTYPE)
    arr["x"] = [1, 2, 99]
    arr["t"] = [1, 2, 3]
    npy = tmp_path / "wide.npy"
    np.save(npy, arr)
    out = tmp_path / "wide.h5"
    assert convert.main([str(npy), str(out), "--sensor-size", "64x48"]) == 1
    assert "x = 99" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5", "wide.npy"]


def test_convert_keeps_frames_in_h5_and_says_when_dropped(tmp_path, small_events, capsys):
    from eventsim.io import EventWriter

    src = tmp_path / "frames.h5"
    with EventWriter(src, SIZE) as w:
        w.write(small_events)
        w.add_frame(np.full((48, 64), 7, np.uint8), int(small_events["t"][100]))
    out = tmp_path / "copy.h5"
    assert convert.main([str(src), str(out)]) == 0
    with open_events(out) as r:
        assert r.num_frames == 1 and r.read_frame(0)[0, 0] == 7
        assert r.frame_event_idx.tolist() == [
            int(np.count_nonzero(small_events["t"] <= small_events["t"][100]))
        ]
    capsys.readouterr()
    assert convert.main([str(src), str(tmp_path / "plain.npz")]) == 0
    assert "1 frame not copied" in capsys.readouterr().err
