"""Second look at the build's round 9 changes.

- The fork server preloads torch for a recipe whose samples make the simulator import it
  (`engine._simulates_with_torch`). The rule missed the leak: on uint8 frames a leak with
  jitter (``leak_rate_hz`` over ``ideal`` or ``clean``) re-draws in torch's math the speed of
  each pixel that completes a leak period, which some pixel does in nearly every sample, so
  every worker imported torch on its first sample. The rule is checked here against what the
  simulator itself asks for (every call of `eventsim.simulator.core._torch`), preset by preset
  and parameter by parameter.
- A dataset copied to a machine without its images, with a shard left to build (an interrupted
  build), was refused as if the image had been removed to be changed ('would mix samples of the
  old and new files'), with only --force to offer, which rebuilds it with every sample skipped
  for want of its image. The refusal now says a shard is left to build, how many files are
  missing, and to put them back to finish the build.
- A build's pool stopped a fork server that another pool of the process had started (the
  caller's own: forkserver is the default start method from Python 3.14) when its preloaded
  modules were not the build's, and that pool broke. Only a server a build started is stopped.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import cv2
import pytest

from eventsim.cli import main as cli_main
from eventsim.datasets import build_dataset, engine
from eventsim.datasets.recipe import load_recipe
from eventsim.datasets.sources import SampleMaker, plan_split
from eventsim.errors import OutputExistsError
from eventsim.simulator import core

from user_media import small_recipe, textured, write_jsonl

_recipe = functools.partial(small_recipe, name="sl9")

# every parameter that switches the simulator between its numba and torch code, alone
_PARAMS: list[dict[str, Any]] = [
    {},
    {"cutoff_hz": 30.0},
    {"leak_rate_hz": 0.1},
    {"leak_rate_hz": 5.0},
    {"leak_rate_hz": 5.0, "leak_jitter_fraction": 0.0},
    {"shot_noise_rate_hz": 5.0},
    {"hot_pixel_fraction": 0.05},
    {"refractory_period_us": 500},
    {"threshold_sigma": 0.05},
    {"log_curve": "linlog"},
]
_CASES: list[tuple[str, str, dict[str, Any]]] = [
    *((preset, "none", params) for preset in ("ideal", "clean") for params in _PARAMS),
    *((preset, "none", {}) for preset in ("noisy", "v2e-default")),
    ("noisy", "none", {"cutoff_hz": 0.0}),
    ("noisy", "none", {"cutoff_hz": 0.0, "leak_jitter_fraction": 0.0}),
    ("ideal", "linear", {}),
    ("ideal", "flow", {}),
]


@pytest.fixture
def torch_calls(monkeypatch):
    """Each call the simulator makes for torch, in a process that simulates as a pool worker
    does: with the numba kernels loaded (so uint8 frames need no torch of themselves)."""
    pytest.importorskip("torch")
    pytest.importorskip("eventsim.simulator._kernels")
    # numba imported above, so kernels that do not load are a fault, not this machine's lack
    assert core.preload_kernels(), "numba is importable, yet the simulator's kernels did not load"
    calls: list[int] = []
    real = core._torch

    def counted():
        calls.append(1)
        return real()

    monkeypatch.setattr(core, "_torch", counted)
    return calls


@pytest.mark.parametrize(
    ("preset", "upsample", "params"),
    _CASES,
    ids=[f"{p}-{u}-{'-'.join(f'{k}={v}' for k, v in q.items()) or 'as-is'}" for p, u, q in _CASES],
)
def test_the_recipes_said_to_need_torch_are_those_whose_samples_import_it(
    tmp_path, torch_calls, preset, upsample, params
):
    overrides = {"simulator.preset": preset, "simulator.upsample": upsample}
    overrides.update({f"simulator.params.{k}": v for k, v in params.items()})
    recipe = load_recipe(_recipe(tmp_path, "shapes", "1"), overrides)
    SampleMaker(recipe).make(plan_split(recipe, "test")[0])
    assert engine._simulates_with_torch(recipe) == bool(torch_calls)


# ------------------------------------------------ a copied dataset with a shard left to build


def _three_images(tmp_path: Path) -> Path:
    """An image recipe of three samples, one shard each: 0.png, 1.png, 2.png."""
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"{k}.png"), textured(k + 1))
    write_jsonl(
        tmp_path / "qa.jsonl",
        [{"image": f"{k}.png", "question": "Q?", "answer": "yes"} for k in range(3)],
    )
    return _recipe(tmp_path, "image", "qa.jsonl", 'motion = "pan"', shard_size=1)


def test_missing_images_with_a_shard_left_to_build_say_what_is_left_and_what_to_do(tmp_path):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    for k in range(3):
        (tmp_path / f"{k}.png").unlink()
    # as an interrupted build leaves it: the last shard unfinished
    (out / "shards" / "test-00002.h5").unlink()
    (out / "dataset.json").unlink()
    with pytest.raises(OutputExistsError) as caught:
        build_dataset(recipe, out, progress=False)
    msg = str(caught.value)
    assert "test-00000.h5" in msg and repr(str(tmp_path / "0.png")) in msg
    assert "removed since it was built (as has 1 other)" in msg
    assert "1 shard is left to build (test-00002.h5)" in msg
    assert "Put them back where they were and run the build again" in msg
    assert "old and new files" not in msg
    assert msg.endswith(
        "or pass force=True to replace it (deletes its shards and manifest) and build it all "
        "from the files as they are now"
    )


def test_the_command_names_force_and_a_single_missing_file(tmp_path, capsys):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (tmp_path / "0.png").unlink()
    for k in (1, 2):
        (out / "shards" / f"test-0000{k}.h5").unlink()
    capsys.readouterr()
    assert cli_main(["build", str(recipe), "-o", str(out), "--no-preview", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "2 shards are left to build (first test-00001.h5)" in err
    assert "without it, the dataset would mix shards built with and without that file" in err
    assert "Put it back where it was" in err and "or pass --force to replace it" in err


def test_force_rebuilds_a_dataset_whose_images_are_missing(tmp_path):
    recipe = _three_images(tmp_path)
    out = tmp_path / "ds"
    build_dataset(recipe, out, progress=False)
    (tmp_path / "0.png").unlink()
    (out / "shards" / "test-00002.h5").unlink()
    summary = build_dataset(recipe, out, progress=False, force=True)
    assert (summary.shards_built, summary.shards_reused) == (3, 0)
    assert summary.errors == {"test": 1}


# ------------------------------------------------------ a fork server another pool started


def test_a_build_pool_leaves_the_fork_server_of_another_pool_running(monkeypatch):
    """A fork server left by a finished build is replaced when the next build needs other
    modules preloaded (07ef960); one that another pool of the process started (the caller's:
    the default start method from Python 3.14) was stopped as well, and that pool broke
    (BrokenProcessPool: its workers report to it through the server)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import forkserver

    engine._stop_fork_server()
    monkeypatch.setattr(engine, "_BUILD_SERVER", None, raising=False)
    monkeypatch.setattr(forkserver._forkserver, "_preload_modules", [])
    theirs = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        worker = theirs.submit(os.getpid).result()
        for torch in (False, True):
            ctx = engine._pool_context(multiprocessing, torch=torch)
            with ProcessPoolExecutor(
                1, mp_context=ctx, initializer=engine._pool_worker_init
            ) as pool:
                pool.submit(os.getpid).result()
        # as a stopped build's teardown does
        engine._stop_fork_server()
        assert theirs.submit(os.getpid).result() == worker
    finally:
        theirs.shutdown()
        # theirs: later tests' pools would reuse it without the build's modules
        forkserver._forkserver._stop()
