"""Review of tools/ (help, smallest runs, errors, outputs) and of tonic reading our events."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_package_help_prints_usage_instead_of_building(tmp_path):
    # with false as pip and python, a run that went on to build would fail at once
    env = {**os.environ, "BUILD_PIP": "false", "PYTHON": "false", "TMPDIR": str(tmp_path)}
    script = str(TOOLS / "check_package.sh")
    res = subprocess.run(["bash", script, "--help"], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and "usage: tools/check_package.sh" in res.stdout
    assert "building the wheel" not in res.stdout
    res = subprocess.run(["bash", script, "--quick"], capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "takes no arguments, got '--quick'" in res.stderr


def test_bench_build_names_why_a_build_failed():
    cmd = [sys.executable, str(TOOLS / "bench_build.py"), "--recipe", "no-such-recipe.toml"]
    res = subprocess.run([*cmd, "--samples", "1", "--workers", "1"], capture_output=True, text=True)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "warm-up build failed" in res.stderr and "no-such-recipe.toml" in res.stderr


def test_bench_epvlm_keeps_an_existing_json_before_measuring(tmp_path, capsys):
    bench = _tool("bench_epvlm")
    out = tmp_path / "figures.json"
    out.write_text("{}")
    # a model that does not exist: without the check the run would fail loading it
    rc = bench.main(["--model", str(tmp_path / "missing"), "--json", str(out)])
    assert rc == 2 and out.read_text() == "{}"
    assert "pass --force" in capsys.readouterr().err
    # --load-check measures only the random model: with --model it was silently skipped
    with pytest.raises(SystemExit) as exc:
        bench.main(["--model", str(tmp_path / "missing"), "--load-check"])
    assert exc.value.code == 2 and "--load-check" in capsys.readouterr().err
    # the tiny shipped model has 2.6 M parameters: '0.00 B' said nothing
    assert bench._count(2_600_000) == "2.60 M" and bench._count(2_200_000_000) == "2.20 B"


def test_bench_startup_exits_non_zero_when_a_row_failed(monkeypatch, capsys):
    bench = _tool("bench_startup")
    monkeypatch.setattr(bench, "_prepare", lambda tmp: None)
    py = sys.executable
    rows = {"ok": [py, "-c", "pass"], "broken": [py, "-c", "raise SystemExit('boom')"]}
    monkeypatch.setattr(bench, "_rows", lambda tmp: rows)
    assert bench.main(["--repeats", "1"]) == 1
    out, err = capsys.readouterr()
    assert "| broken | failed: boom |" in out and "1 row failed: broken" in err
    monkeypatch.setattr(bench, "_rows", lambda tmp: {"ok": rows["ok"]})
    assert bench.main(["--repeats", "1"]) == 0


def test_bench_render_reports_a_crashed_command_and_rss_in_mib(monkeypatch, capsys):
    bench = _tool("bench_render")
    monkeypatch.setattr(bench, "RUNNER", "import sys; sys.exit('boom in the child')")
    with pytest.raises(SystemExit, match="boom in the child"):
        bench.run(["render", "x.h5"])
    # the figure is ru_maxrss (KiB) / 1024: MiB, and the table says so
    fake = {"rc": 0, "wall_s": 1.0, "peak_rss_mib": 100.0}
    monkeypatch.setattr(bench, "make_recording", lambda path, seconds, rate: 1000)
    monkeypatch.setattr(bench, "run", lambda argv: fake)
    assert bench.main(["--seconds", "1"]) == 0
    assert "| peak RSS MiB |" in capsys.readouterr().out


def test_make_test_fixtures_force_deletes_nothing_without_the_owners_libraries(
    tmp_path, monkeypatch, capsys
):
    tool = _tool("make_test_fixtures")
    fixture = tmp_path / "dvp-davis346-lz4.aedat4"
    fixture.write_bytes(b"committed fixture")
    monkeypatch.setattr(tool, "DATA", tmp_path)
    monkeypatch.setitem(sys.modules, "dv_processing", None)  # not installed
    assert tool.main(["--force"]) == 1
    assert fixture.read_bytes() == b"committed fixture"
    assert not (tmp_path / "fixtures.json").exists()
    err = capsys.readouterr().err
    assert "dv-processing" in err and "not installed" in err and "nothing was changed" in err


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("bench_simulator.py", ["--repeats", "0", "--no-rss", "--no-kernel"]),
        ("bench_simulator.py", ["--presets", "nope", "--sizes", "346x260", "--no-rss"]),
        ("bench_h5.py", ["--windows", "0", "--events", "1000", "--duration-s", "0.1"]),
        ("bench_h5.py", ["--events", "1000", "--duration-s", "0.005"]),
        ("bench_startup.py", ["--repeats", "0"]),
        ("fuzz_kernels.py", ["--seconds", "0"]),
    ],
)
def test_benchmarks_refuse_counts_they_cannot_measure_before_running(tool, args):
    res = subprocess.run(
        [sys.executable, str(TOOLS / tool), *args], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2 and "error:" in res.stderr and "Traceback" not in res.stderr


def test_tonic_transforms_read_our_hdf5_events_at_the_sensor_edges(tmp_path):
    transforms = pytest.importorskip("tonic.transforms")
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import EventWriter, open_events

    width, height = 40, 30
    rng = np.random.default_rng(0)
    ev = np.zeros(600, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 50_000, len(ev)))
    ev["x"] = rng.integers(0, width, len(ev))
    ev["y"] = rng.integers(0, height, len(ev))
    ev["p"] = rng.integers(0, 2, len(ev))
    ev["x"][:4], ev["y"][:4] = [width - 1, 0, width - 1, 0], [height - 1, 0, 0, height - 1]
    with EventWriter(tmp_path / "e.h5", (width, height)) as w:
        w.write(ev)
    with open_events(tmp_path / "e.h5") as r:
        events = r.read()
    sensor = (width, height, 2)
    frames = transforms.ToFrame(sensor_size=sensor, time_window=60_000, start_time=0)(events)
    assert frames.shape == (1, 2, height, width) and frames.sum() == len(ev)
    expected = np.zeros((2, height, width), np.int64)
    np.add.at(expected, (ev["p"].astype(int), ev["y"], ev["x"]), 1)
    assert np.array_equal(frames[0], expected)
    surface = transforms.ToTimesurface(sensor_size=sensor, dt=10_000, tau=5_000)(events)
    # complete 10 ms slices from the first event on (tonic drops the incomplete last one)
    assert surface.shape == ((events["t"][-1] - events["t"][0]) // 10_000, 2, height, width)
    # int8 polarity indexes the channel: both hold a surface
    assert surface[:, 0].max() > 0 and surface[:, 1].max() > 0 and surface.max() <= 1.0
    for transform in (
        transforms.Denoise(filter_time=5_000),
        transforms.CropTime(min=10_000, max=40_000),
        transforms.Downsample(sensor_size=sensor, target_size=(20, 15)),
    ):
        out = transform(events)
        assert out.dtype == EVENT_DTYPE and set(np.unique(out["p"])) <= {0, 1}
    down = transforms.Downsample(sensor_size=sensor, target_size=(20, 15))(events)
    assert down["x"].max() == 19 and down["y"].max() == 14  # the far edge stays on the sensor


def test_tonic_adapter_ordering_is_tonic_datasets_dtype_names():
    tonic = pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    # tonic's own datasets: ``ordering = dtype.names`` (NMNIST: x, y, t, p as ours)
    assert TonicEventVQA.ordering == TonicEventVQA.dtype.names == tonic.datasets.NMNIST.ordering
