"""Building shapes datasets: contract of the output, determinism, resume after SIGKILL, CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventsim.cli.build import main as build_main
from eventsim.cli.verify import main as verify_main
from eventsim.datasets import (
    EventVQADataset,
    build_dataset,
    describe_dataset,
    load_recipe,
    verify_dataset,
)
from eventsim.datasets.scenes import draw_sample, simulate_scene
from eventsim.datasets.sources import sample_seeds
from eventsim.errors import OutputExistsError, RecipeError


@pytest.fixture
def tiny_recipe(shapes_recipe):
    """`shapes_recipe` with this module's seed and defaults, named by mode and size."""

    def write(tmp_path: Path, *, mode="vqa", size=64, train=4, test=5, **kw) -> Path:
        path = tmp_path / f"tiny-{mode}-{size}.toml"
        return shapes_recipe(
            path, name="tiny", seed=3, mode=mode, size=size, train=train, test=test, **kw
        )

    return write


def shard_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "shards").glob("*.h5"))}


def test_build_layout_and_samples_match_the_generator(tmp_path, tiny_recipe):
    recipe = tiny_recipe(tmp_path, mode="target")
    out = tmp_path / "ds"
    summary = build_dataset(recipe, out, progress=False)
    assert summary.samples == {"train": 4, "test": 5} and summary.n_errors == 0
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["counts"] == {"samples": 9, "errors": 0}
    assert [s["file"] for s in manifest["shards"]] == [
        "shards/train-00000.h5", "shards/train-00001.h5",
        "shards/test-00000.h5", "shards/test-00001.h5", "shards/test-00002.h5",
    ]  # fmt: skip
    assert manifest["recipe"]["dataset"]["seed"] == 3 and "numpy" in manifest["versions"]
    lines = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines][:5] == [
        "train-000000",
        "train-000001",
        "train-000002",
        "train-000003",
        "test-000000",
    ]
    assert (out / "errors.jsonl").read_text() == ""

    r = load_recipe(recipe)
    ds = EventVQADataset(out, split="test")
    assert len(ds) == 5
    for i in range(len(ds)):
        s = ds[i]
        scene_seed, sim_seed = sample_seeds(r.seed, "test", i)
        ref = draw_sample(r.scene_config(), scene_seed)
        assert np.array_equal(s["image"], ref.image)
        assert (s["question"], s["choices"], s["answer"]) == (ref.question, ref.choices, ref.answer)
        # the stored events are the simulator's events of the window, unchanged
        ref_ev = simulate_scene(ref, r.dvs_params(), seed=sim_seed)
        assert np.array_equal(s["events"], ref_ev)
        assert s["image"].shape == (64, 64, 3) and s["meta"]["sensor_size"] == (64, 64)
        t0, t1 = s["meta"]["window_us"]
        assert t1 == s["meta"]["frame_t_us"] and t1 - t0 == 20_000
        assert s["events"]["t"].min() >= t0 and s["events"]["t"].max() <= t1
        assert s["choices"][s["answer_index"]] == s["answer"]
        assert s["meta"]["target_motion"] in ("moving", "static")
    with pytest.raises(IndexError):
        ds[5]
    assert verify_dataset(out).ok
    text = describe_dataset(out)
    assert "train" in text and "test" in text and "tiny" in text
    for qt in manifest["splits"]["test"]["question_types"]:
        assert qt in text


def test_workers_do_not_change_the_bytes(tmp_path, monkeypatch, tiny_recipe):
    from eventsim.datasets import _cpu

    recipe = tiny_recipe(tmp_path, train=0, test=6, shard=2)
    w1 = build_dataset(recipe, tmp_path / "w1", workers=1, progress=False)
    assert (w1.shards_in_process, w1.pool_workers, w1.workers_note) == (3, 0, "")
    w2 = build_dataset(recipe, tmp_path / "w2", workers=2, progress=False, exact_workers=True)
    assert (w2.shards_in_process, w2.pool_workers) == (0, 2)
    # the cores free for the build, as measured before each shard: 0.7 -> build it here, 2.2 ->
    # hand the rest to a pool
    free = iter([0.7, 2.2])
    monkeypatch.setattr(_cpu.FreeCores, "read", lambda self, min_window_s=0.0: next(free))
    mixed = build_dataset(recipe, tmp_path / "mixed", workers=2, progress=False)
    assert (mixed.shards_in_process, mixed.pool_workers) == (1, 2)
    assert "1 shard built in this process" in mixed.text()
    monkeypatch.setattr(_cpu.FreeCores, "read", lambda self, min_window_s=0.0: 0.7)
    busy = build_dataset(recipe, tmp_path / "busy", workers=4, progress=False)
    assert (busy.shards_in_process, busy.pool_workers) == (3, 0)
    assert "0.7 cores free" in busy.text()
    a = shard_bytes(tmp_path / "w1")
    assert len(a) == 3
    for other in ("w2", "mixed", "busy"):
        assert shard_bytes(tmp_path / other) == a
        for name in ("dataset.json", "samples.jsonl"):
            assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / other / name).read_bytes()
    # another seed gives other data
    build_dataset(recipe, tmp_path / "s2", overrides={"seed": 4}, progress=False)
    assert shard_bytes(tmp_path / "s2") != a


@pytest.mark.skipif(sys.platform == "win32", reason="builds are locked on POSIX only")
def test_a_second_build_into_the_same_folder_is_refused_while_one_runs(tmp_path, tiny_recipe):
    from eventsim.datasets import engine
    from eventsim.errors import DatasetError

    recipe = tiny_recipe(tmp_path, train=0, test=4, shard=2)
    out = tmp_path / "ds"
    with engine._build_lock(out):
        # (the lock is the folder's, so it holds against another handle in this process too)
        with pytest.raises(
            DatasetError, match=r"another build is writing to .*ds' \(pid \d+\); wait"
        ):
            build_dataset(recipe, out, progress=False)
        assert list(out.iterdir()) == []
    # a build with a pool leaves the folder unlocked, as does a finished one
    build_dataset(recipe, out, workers=2, exact_workers=True, progress=False)
    assert build_dataset(recipe, out, progress=False).samples == {"train": 0, "test": 4}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_build_does_not_keep_the_folder_locked(tmp_path):
    from eventsim.datasets import engine

    out = tmp_path / "ds"
    ready, started = os.pipe()
    with engine._build_lock(out):
        pid = os.fork()
        if pid == 0:  # the child outlives the build that took the lock
            os.write(started, b"1")  # (the fork hooks have run by now)
            time.sleep(3)
            os._exit(0)
    os.read(ready, 1)
    try:
        with engine._build_lock(out):
            pass
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready)
        os.close(started)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
def test_pool_workers_hold_no_blas_or_openmp_threads():
    """Workers inherit no BLAS/OpenMP thread pool from the fork server: an OpenBLAS server
    thread spins on sched_yield after it starts, CPU the build's samples then lack."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from threadpoolctl import threadpool_info

    from eventsim.datasets import engine

    ctx = engine._pool_context(multiprocessing)
    try:
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=engine._pool_worker_init) as pool:
            threads = pool.submit(os.listdir, "/proc/self/task").result()
            pools = pool.submit(threadpool_info).result()
    finally:
        engine._stop_fork_server()
    # the worker's own thread and the one that ends it with the build process
    assert len(threads) == 2, threads
    assert pools and all(p["num_threads"] == 1 for p in pools), pools


def test_pool_workers_start_with_the_kernels_loaded_and_without_torch():
    # the fork server loads the numba kernels once; the recipes' pixel models need no torch
    pytest.importorskip("eventsim.simulator._kernels")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from eventsim.datasets import engine

    probe = "[m in __import__('sys').modules for m in ('eventsim.simulator._kernels', 'torch')]"
    ctx = engine._pool_context(multiprocessing)
    try:
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=engine._pool_worker_init) as pool:
            loaded = pool.submit(eval, probe).result()
    finally:
        engine._stop_fork_server()
    assert loaded == [True, False]


def test_an_in_process_build_restores_the_callers_thread_settings(
    tmp_path, monkeypatch, tiny_recipe
):
    # the build runs one compute thread, then hands back torch's and OpenCV's own counts and
    # leaves the environment as it was
    import cv2
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    old_torch, old_cv = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(2)
    cv2.setNumThreads(3)
    seen = []
    from eventsim.datasets import engine

    run_shard = engine.run_shard

    def spy(task, **kw):
        seen.append((torch.get_num_threads(), cv2.getNumThreads()))
        return run_shard(task, **kw)

    monkeypatch.setattr(engine, "run_shard", spy)
    try:
        build_dataset(tiny_recipe(tmp_path, train=2, test=1), tmp_path / "ds", progress=False)
        assert seen and set(seen) == {(1, 1)}
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 3)
        assert "OMP_NUM_THREADS" not in os.environ
    finally:
        torch.set_num_threads(old_torch)
        cv2.setNumThreads(old_cv)


_BUILD_WITHOUT_TORCH = """
import sys
from eventsim.datasets import build_dataset

summary = build_dataset(sys.argv[1], sys.argv[2], progress=False)
print(summary.n_samples, "torch" in sys.modules)
"""


def test_an_in_process_build_of_a_noise_free_recipe_never_imports_torch(tmp_path, tiny_recipe):
    pytest.importorskip("eventsim.simulator._kernels")
    recipe = tiny_recipe(tmp_path, train=2, test=1)
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_WITHOUT_TORCH, str(recipe), str(tmp_path / "ds")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["3", "False"]


def test_limit_and_output_protection(tmp_path, tiny_recipe):
    recipe = tiny_recipe(tmp_path, train=3, test=7, shard=4)
    out = tmp_path / "ds"
    s = build_dataset(recipe, out, limit=2, progress=False)
    assert s.samples == {"train": 2, "test": 2}
    # a finished dataset is extended by a build with a larger limit (or none), not rebuilt
    s = build_dataset(recipe, out, progress=False)
    assert s.samples == {"train": 3, "test": 7} and (s.shards_built, s.shards_reused) == (3, 0)
    full = shard_bytes(out)
    s = build_dataset(recipe, out, progress=False)
    assert s.shards_built == 0 and s.shards_reused == 3 and shard_bytes(out) == full
    with pytest.raises(OutputExistsError, match="asked for --limit 4"):
        build_dataset(recipe, out, limit=4, progress=False)
    assert shard_bytes(out) == full and verify_dataset(out).ok
    with pytest.raises(OutputExistsError, match="force=True"):
        build_dataset(recipe, out, overrides={"seed": 9}, progress=False)
    s = build_dataset(recipe, out, overrides={"seed": 9}, force=True, progress=False)
    assert s.shards_built == 3 and shard_bytes(out) != full
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        build_dataset(recipe, other, progress=False)


def test_verify_detects_damage(tmp_path, capsys, tiny_recipe):
    out = tmp_path / "ds"
    build_dataset(tiny_recipe(tmp_path, train=0, test=2, shard=1), out, progress=False)
    assert verify_main([str(out), "--no-progress"]) == 0
    assert "ok: 2 samples in 2 shards" in capsys.readouterr().out
    shard = out / "shards" / "test-00001.h5"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    report = verify_dataset(out)
    assert not report.ok and "test-00001.h5: checksum mismatch" in report.text()
    assert verify_main([str(out), "--no-progress"]) == 1
    assert verify_main([str(tmp_path / "nothing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_verify_checks_events_against_window_and_sensor(tmp_path, tiny_recipe):
    out = tmp_path / "ds"
    build_dataset(tiny_recipe(tmp_path, train=0, test=1, shard=1), out, progress=False)
    shard = out / "shards" / "test-00000.h5"
    with h5py.File(shard, "r+") as f:
        x = f["samples/00000/events/x"]
        x[0] = 64  # outside a 64-pixel-wide sensor
    manifest = json.loads((out / "dataset.json").read_text())
    from eventsim.datasets.shards import file_digest

    manifest["shards"][0]["sha256"], manifest["shards"][0]["bytes"] = file_digest(shard)
    (out / "dataset.json").write_text(json.dumps(manifest))
    report = verify_dataset(out)
    assert any("outside the 64x64 sensor" in p for p in report.problems)


def test_cli_build_and_errors(tmp_path, capsys, tiny_recipe):
    recipe = tiny_recipe(tmp_path, train=0, test=2, shard=2)
    out = tmp_path / "cli"
    assert build_main([str(recipe), "-o", str(out), "--set", "splits.test=3", "--no-progress"]) == 0
    assert "built 3 samples" in capsys.readouterr().out
    assert len(EventVQADataset(out, "test")) == 3
    import cv2

    sheet = cv2.imread(str(out / "preview.png"))
    # two columns of (frame | frame with events), 64-px frames enlarged 4x
    assert sheet is not None and sheet.shape[1] == 2 * 2 * 64 * 4
    from eventsim.cli.info import main as info_main

    assert info_main([str(out)]) == 0
    shown = capsys.readouterr().out
    assert "dataset tiny" in shown and "test" in shown and "events/sample" in shown
    assert build_main([str(recipe), "-o", str(tmp_path / "x"), "--set", "source.mode=maze"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("eventsim build: error:") and "vqa, target" in err
    assert not (tmp_path / "x" / "dataset.json").exists()
    assert build_main([str(recipe), "-o", str(tmp_path / "y"), "--set", "novalue"]) == 1
    assert build_main([str(recipe), "-o", str(tmp_path / "z"), "--workers", "0"]) == 1
    assert build_main([str(recipe)]) == 2
    with pytest.raises(RecipeError):
        build_dataset(recipe, tmp_path / "w", overrides={"splits.test": -1})


@pytest.mark.xdist_group("signals")
def test_sigkill_mid_build_then_resume_equals_uninterrupted(tmp_path, tiny_recipe):
    # big enough samples (many frames) that the build is still running when we kill it
    recipe = tiny_recipe(tmp_path, size=160, train=0, test=16, shard=2, motion="40, 50", step=0.4)
    out = tmp_path / "killed"
    # one process, so the snapshot below is final at once (pool workers notice the parent's
    # death a moment later); the --workers 2 variant is in test_interrupts.py
    cmd = [sys.executable, "-m", "eventsim", "build", str(recipe), "-o", str(out), "--no-progress"]
    cmd += ["--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = out / "shards"
    deadline = time.monotonic() + 120
    try:
        while not list(shards.glob("test-*.h5")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert not (out / "dataset.json").exists(), "the build finished before it was killed"
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards.glob("test-*.h5")}
    assert 1 <= len(finished) < 8

    summary = build_dataset(recipe, out, progress=False)
    assert summary.shards_reused == len(finished) and summary.shards_built == 8 - len(finished)
    for name, stamp in finished.items():
        p = shards / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp  # not rewritten
    assert not list(shards.glob(".*tmp*"))

    clean = tmp_path / "clean"
    build_dataset(recipe, clean, progress=False)
    assert shard_bytes(out) == shard_bytes(clean)
    killed_m = json.loads((out / "dataset.json").read_text())
    clean_m = json.loads((clean / "dataset.json").read_text())
    assert [s["sha256"] for s in killed_m["shards"]] == [s["sha256"] for s in clean_m["shards"]]
    assert verify_dataset(out).ok


@pytest.mark.skipif(os.environ.get("EVENTSIM_SKIP_DASK") == "1", reason="dask disabled")
def test_dask_local_cluster_gives_the_same_shards(tmp_path, tiny_recipe):
    pytest.importorskip("distributed")
    recipe = tiny_recipe(tmp_path, train=0, test=4, shard=2)
    build_dataset(recipe, tmp_path / "local", progress=False)
    s = build_dataset(recipe, tmp_path / "dask", executor="dask", workers=1, progress=False)
    assert s.samples == {"train": 0, "test": 4}
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "local")


def test_dask_scheduler_address_via_cli(tmp_path, tiny_recipe):
    distributed = pytest.importorskip("distributed")
    recipe = tiny_recipe(tmp_path, train=0, test=2, shard=1)
    build_dataset(recipe, tmp_path / "local", progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        argv = [str(recipe), "-o", str(tmp_path / "remote"), "--executor", "dask"]
        argv += ["--scheduler", cluster.scheduler_address, "--no-progress"]
        assert build_main(argv) == 0
    assert shard_bytes(tmp_path / "remote") == shard_bytes(tmp_path / "local")
    assert build_main([str(recipe), "-o", str(tmp_path / "bad"), "--scheduler", "tcp://x:1"]) == 1
