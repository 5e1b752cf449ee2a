"""The worker pool, round 9c. A Ctrl-C'd pool build of a recipe that upsamples
(``simulator.upsample = "linear"`` or ``"flow"``) ended with multiprocessing's resource tracker
warning of "leaked semaphore objects": each worker's first progress bar (the simulator makes a
hidden one for upsampled frames) made tqdm's multiprocessing lock, a named semaphore that a
worker stopped on Ctrl-C never unlinked. Workers now give tqdm a thread lock. Such a pool was
also slow to start: the upsampled (float) frames run the simulator's torch path, and every
worker imported torch on its first sample; the fork server now imports it once for them.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from eventsim.datasets import engine
from eventsim.datasets.recipe import load_recipe

from user_media import small_recipe, write_jsonl, write_video

INTERRUPTED = 130

_recipe = functools.partial(small_recipe, name="r9c")


def _video_recipe(tmp_path: Path, questions: int, extra: str = "") -> Path:
    """A video recipe of ``questions`` samples, one shard each, over one short clip."""
    write_video(tmp_path / "v.avi", 25, 20, 2)
    write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"video": "v.avi", "time": 0.1 + 0.6 * k / questions, "question": "Q?", "answer": "a"}
            for k in range(questions)
        ],
    )
    return _recipe(tmp_path, "video", "qa.jsonl", extra, shard_size=1)


@pytest.mark.xdist_group("signals")
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["linear", "flow"])
def test_ctrl_c_on_an_upsampling_pool_build_leaves_no_semaphore_behind(tmp_path, mode):
    recipe = _video_recipe(tmp_path, 400)
    out = tmp_path / "ds"
    build = [sys.executable, "-m", "eventsim", "build", str(recipe), "-o", str(out)]
    proc = subprocess.Popen(
        [*build, "--workers", "2", "--exact-workers", "--no-progress", "--set", f"upsample={mode}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # a finished shard: a worker has simulated upsampled frames (and made its bar)
        deadline = time.monotonic() + 120
        shards = out / "shards"
        while not (shards.is_dir() and any(".tmp" not in p.name for p in shards.iterdir())):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the build never finished a shard"
            time.sleep(0.02)
        # as `timeout -s INT` sends it: to the build process alone
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == INTERRUPTED, err
    assert not (out / "dataset.json").exists(), "the build finished before the Ctrl-C"
    assert "leaked" not in err and "resource_tracker" not in err, err
    assert len(err.splitlines()) == 1 and "interrupted" in err, err


def test_a_recipe_whose_samples_need_torch_is_known_before_the_pool_starts(tmp_path):
    recipe = _video_recipe(tmp_path, 2)
    assert not engine._simulates_with_torch(load_recipe(recipe))
    for override in ({"simulator.upsample": "linear"}, {"simulator.upsample": "flow"}):
        assert engine._simulates_with_torch(load_recipe(recipe, override))
    # a low-pass filter on uint8 frames has torch probed for its rounding
    assert engine._simulates_with_torch(load_recipe(recipe, {"simulator.preset": "noisy"}))


def test_pool_workers_of_an_upsampling_recipe_start_with_torch_loaded_and_one_thread():
    pytest.importorskip("torch")
    pytest.importorskip("eventsim.simulator._kernels")  # else torch is always preloaded
    probe = "[m in __import__('sys').modules for m in ('torch', 'eventsim.simulator.upsample')]"
    try:
        # a finished pool leaves its fork server running: the next pool of another recipe
        # must not reuse it with the first one's modules
        for torch in (False, True):
            ctx = engine._pool_context(multiprocessing, torch=torch)
            with ProcessPoolExecutor(
                1, mp_context=ctx, initializer=engine._pool_worker_init
            ) as pool:
                loaded = pool.submit(eval, probe).result()
                threads = pool.submit(os.listdir, "/proc/self/task").result()
            assert loaded == [torch, torch]
    finally:
        engine._stop_fork_server()
    # the worker's own thread and the one that ends it with the build process: the fork server
    # imported torch without starting a thread pool
    assert len(threads) == 2, threads
