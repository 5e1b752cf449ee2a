"""Review 7 of tools/: bad arguments are refused in one line before any work, and the benchmark
figures come with the machine state (CPUs, load average, versions) docs/benchmarks.md quotes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
TINY = ROOT / "epvlm" / "assets" / "shapes-demo-tiny"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool7_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _usage_error(main, argv: list[str], capsys) -> str:
    """``main(argv)`` exits 2 with one 'error:' line on stderr; that line."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return next(line for line in err.splitlines() if "error:" in line)


@pytest.mark.parametrize(
    "argv",
    [["--events", "nan"], ["--duration-s", "inf"], ["--duration-s", "nan"]],
)
def test_bench_h5_refuses_non_finite_sizes(argv, capsys):
    # int(nan) and int(inf) were tracebacks after the argument checks let them through
    line = _usage_error(_tool("bench_h5").main, argv, capsys)
    assert "finite" in line


def test_bench_h5_prints_the_machine_state_with_its_figures(tmp_path, capsys):
    argv = ["--events", "2000", "--duration-s", "0.1", "--windows", "1", "--repeat", "1"]
    assert _tool("bench_h5").main([*argv, "--dir", str(tmp_path)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "CPUs, load average" in head and "UTC" in head
    assert "Python" in head and "eventsim" in head and "h5py" in head


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--reps", "0"], "--reps"),
        (["--new-tokens", "0"], "--new-tokens"),
        (["--image-side", "0"], "--image-side"),
        (["--threads", "-1"], "--threads"),
        (["--taus", "0.5,abc"], "0.5,abc"),
    ],
)
def test_bench_epvlm_refuses_counts_before_loading_a_model(argv, needle, capsys):
    # --reps 0 measured for minutes, then failed at the median of nothing
    missing = str(ROOT / "no-such-model")
    line = _usage_error(_tool("bench_epvlm").main, ["--model", missing, *argv], capsys)
    assert needle in line


def test_bench_epvlm_names_a_bad_keep_or_device_in_one_line(capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    bench = _tool("bench_epvlm")
    base = ["--model", str(TINY), "--reps", "1", "--new-tokens", "1"]
    assert bench.main([*base, "--taus", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_epvlm: keep fraction 1.5") and "Traceback" not in err
    if not torch.cuda.is_available():
        assert bench.main([*base, "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("bench_epvlm: --device cuda ") and "not available" in err


def test_bench_gpu_checks_sizes_and_threads_before_measuring(capsys):
    bench = _tool("bench_gpu")
    base = ["--quick", "--device", "cpu"]
    # a bad size failed with a traceback only when the speed table reached it, after the
    # identity tables' minutes
    for size in ("foo", "0x480", "640x", "1e3x5"):
        assert bench.main([*base, "--sizes", "640x480", size]) == 2
        err = capsys.readouterr().err
        assert f"--sizes {size}: expected WIDTHxHEIGHT" in err and "Traceback" not in err
    assert bench.main([*base, "--cpu-threads", "-1"]) == 2
    assert "--cpu-threads must be >= 1, got -1" in capsys.readouterr().err
    assert bench._parse_size("640X480") == (640, 480)


def test_bench_gpu_records_cpus_and_load_with_the_machine(monkeypatch, capsys):
    pytest.importorskip("torch")
    bench = _tool("bench_gpu")
    monkeypatch.setattr(bench.importlib.util, "find_spec", lambda name: None)  # no numba run
    report: dict = {}
    bench.header("cpu", report)
    assert isinstance(report["machine"]["cpu_count"], int)
    assert len(report["machine"]["load_average"]) == 3
    assert "load_average:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--seconds", "0.25"], "multiples of 0.1 s"),
        (["--seconds", "0"], "more than 0"),
        (["--seconds", "0.04"], "more than 0"),
        (["--rate-mev", "-1"], "more than 0"),
        (["--rate-mev", "nan"], "finite"),
        (["--window-ms", "0"], "more than 0"),
    ],
)
def test_bench_render_refuses_lengths_and_rates_it_cannot_make(argv, needle, capsys):
    # 0.25 s was written as 0.2 s (100 ms blocks) while frames/s counted 25 frames; a negative
    # rate was numpy's 'negative dimensions' traceback
    assert needle in _usage_error(_tool("bench_render").main, argv, capsys)


def test_bench_render_prints_the_machine_state(monkeypatch, capsys):
    bench = _tool("bench_render")
    monkeypatch.setattr(bench, "make_recording", lambda path, seconds, rate: 1000)
    monkeypatch.setattr(bench, "run", lambda argv: {"rc": 0, "wall_s": 1.0, "peak_rss_mib": 1.0})
    assert bench.main(["--seconds", "0.1"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "CPUs, load average" in head and "eventsim" in head and "numpy" in head


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--threads", "0"], "--threads"),
        (["--rss-minutes", "0"], "--rss-minutes"),
        (["--rss-minutes", "nan"], "--rss-minutes"),
        # it was dropped without a word by a full run's closing esim_py comparison
        (["--v2e", "python", "src"], "add --peers"),
    ],
)
def test_bench_simulator_refuses_settings_before_rendering_clips(argv, needle, capsys):
    assert needle in _usage_error(_tool("bench_simulator").main, argv, capsys)


def test_bench_simulator_machine_state_names_cpus_load_and_versions():
    bench = _tool("bench_simulator")
    state = bench.machine_state(bench.SIM_DISTS)
    assert "CPUs, load average" in state and "UTC" in state
    assert all(dist in state for dist in ("Python", "eventsim", "numpy", "numba", "torch"))


@pytest.mark.parametrize(
    "argv",
    [
        ["--samples", "0"],
        ["--rounds", "0"],
        ["--workers", "1", "0"],
        ["--shard-size", "0"],
        ["--competing-load", "-1"],
    ],
)
def test_bench_build_refuses_counts_before_the_warm_up_build(argv, capsys):
    # --samples 0 built twice, then divided by its 0 samples/s in the table
    assert "must be at least" in _usage_error(_tool("bench_build").main, argv, capsys)


def test_bench_build_prints_versions_with_the_load(monkeypatch, capsys):
    bench = _tool("bench_build")
    row = {
        "workers": 1, "samples": 2, "elapsed_s": 1.0, "samples_per_s": 2.0,
        "peak_rss_driver_mib": 1.0, "peak_rss_worker_mib": 0.0, "bytes_per_sample": 1.0,
        "cpu_ms_per_sample": 1.0, "shards_in_process": 1, "pool_workers": 0,
    }  # fmt: skip

    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, json.dumps(row) + "\n", "")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.setattr(bench, "_become_subreaper", lambda: False)
    assert bench.main(["--samples", "2", "--workers", "1"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "CPUs, load average" in head and "Python" in head and "eventsim" in head


@pytest.mark.parametrize(
    "argv", [["--batch-size", "0"], ["--read", "0"], ["--samples", "0"], ["--workers", "-1"]]
)
def test_bench_loader_refuses_counts_on_stderr_before_building(argv, capsys):
    # they were printed on stdout with status 1, --batch-size 0 and --read 0 not at all
    # (DataLoader's traceback after the base build)
    _usage_error(_tool("bench_loader").main, argv, capsys)


def test_bench_startup_prints_the_versions_its_import_rows_depend_on(monkeypatch, capsys):
    bench = _tool("bench_startup")
    monkeypatch.setattr(bench, "_prepare", lambda tmp: None)
    monkeypatch.setattr(bench, "_rows", lambda tmp: {"ok": [sys.executable, "-c", "pass"]})
    assert bench.main(["--repeats", "1"]) == 0
    out = capsys.readouterr().out
    versions = next(line for line in out.splitlines() if "# " in line and "Python" in line)
    assert all(dist in versions for dist in ("eventsim", "torch", "transformers", "numba"))


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--eval-every", "0"], "--eval-every 0"),  # ZeroDivisionError after the first step
        (["--checkpoint-every", "0"], "--checkpoint-every 0"),
        (["--steps", "0"], "--steps 0"),  # 'trained 0 steps; checkpoint: OUT', none written
        (["--threads", "0"], "--threads 0"),
        (["--batch-size", "0"], "--batch-size 0"),
        (["--hidden-size", "0"], "--hidden-size 0"),
        (["--stop-after", "0"], "--stop-after 0"),
        (["--workers", "-1"], "--workers -1"),
        (["--drop-share", "1.5"], "--drop-share 1.5"),
        (["--sparse-from", "nan"], "--sparse-from nan"),
        (["--lr", "0"], "--lr 0"),
        (["--max-minutes", "-1"], "--max-minutes -1"),
    ],
)
def test_train_demo_model_refuses_numbers_that_cannot_train(argv, needle, tmp_path, capsys):
    tool = _tool("train_demo_model")
    line = _usage_error(tool.parse_args, ["-o", str(tmp_path / "m"), *argv], capsys)
    assert needle in line
    assert not (tmp_path / "m").exists()


def test_train_demo_model_still_takes_its_documented_edges(tmp_path):
    tool = _tool("train_demo_model")
    # --max-minutes 0 stops after the first step (tests/test_demo_training.py resumes from it);
    # --threads 0 is no default here: the trainer always sets a count
    args = tool.parse_args(
        ["-o", str(tmp_path / "m"), "--max-minutes", "0", "--workers", "0", "--warmup", "0",
         "--drop-share", "1", "--sparse-from", "0", "--weight-decay", "0"]
    )  # fmt: skip
    assert args.max_minutes == 0 and args.workers == 0 and args.drop_share == 1


@pytest.fixture
def fuzz(monkeypatch):
    pytest.importorskip("eventsim.simulator._kernels")
    import eventsim.simulator.core as core

    monkeypatch.setattr(core, "_USE_NUMBA", True)
    return _tool("fuzz_kernels")


def test_fuzz_kernels_refuses_nan_seconds(fuzz, capsys):
    # NaN passed the '<= 0' check, compared no case and exited 0
    assert "--seconds must be more than 0" in _usage_error(fuzz.main, ["--seconds", "nan"], capsys)


def test_fuzz_kernels_compares_at_least_one_case_however_short_the_run(fuzz, monkeypatch, capsys):
    checked = []

    def differs(case, verbose=False, device="cpu"):
        checked.append(case)
        return False, 0

    monkeypatch.setattr(fuzz, "check_case", differs)
    # a time shorter than the set-up compared no case and passed
    assert fuzz.main(["--seconds", "1e-9", "--first-case", "5"]) == 1
    assert checked[:1] == [5]
    assert "re-run one with --case 5" in capsys.readouterr().out


def test_the_benchmarks_name_a_refused_device_as_typed(tmp_path, capsys):
    pytest.importorskip("torch")
    assert _tool("bench_gpu").main(["--device", "foo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device foo is not a torch device"), err
