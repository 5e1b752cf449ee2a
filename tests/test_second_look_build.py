"""A second look at the day's fixes to `eventsim build` (the dataset builder and its inputs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.datasets import build_dataset, load_recipe
from eventsim.datasets import recipe as recipe_module

from user_media import textured, write_jsonl


def _reasons(out: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    return {r["id"]: r["reason"] for r in rows}


# ----------------------------------------------------------------------------- frame memory


def test_the_upsampling_is_counted_with_the_batch_simulate_uses(monkeypatch):
    """The recipe counts the frames the upsampling holds from the batch `simulate` picks for
    the camera size (a formula of its own): both must agree, or the limit counts other frames
    than those held."""
    from eventsim.simulator import pipeline, simulate
    from eventsim.simulator.sources import ArraySource

    seen: list[int] = []
    batches = pipeline._batches

    def spy(frames, sensor_size, upsampler, keep, batch_frames):
        seen.append(batch_frames)
        return batches(frames, sensor_size, upsampler, keep, batch_frames)

    monkeypatch.setattr(pipeline, "_batches", spy)
    for size in ((64, 48), (640, 480), (1000, 1000), (2048, 1024)):
        frames = np.zeros((2, size[1], size[0]), np.uint8)
        simulate(ArraySource(frames, np.array([0, 1000])), upsample="linear")
        held = recipe_module.upsampled_frames_held(size)
        assert held == (pipeline._PREFETCH_BATCHES + 3) * seen[-1], size


def test_a_high_upsample_factor_is_not_refused():
    """Inserted frames go to the simulator in batches, so the upsampling holds the same few
    frames whatever max_upsample_factor is: the recipe counted up to max_upsample_factor of
    them and refused recipes that fit (4096 at 640x480, 9.4 GiB counted)."""
    recipe = {
        "dataset": {"name": "x"},
        "camera": {"width": 640, "height": 480},
        "splits": {"test": 1},
        "simulator": {"upsample": "flow", "params": {"max_upsample_factor": 4096}},
    }
    assert load_recipe(recipe).dvs_params().max_upsample_factor == 4096


def test_a_16_bit_image_counts_its_float_frames(tmp_path, monkeypatch):
    """A 16-bit (or float) image is rendered as float32 frames, four times the bytes of the
    8-bit RGB frames the limit counted: such a sample passed the check with up to 4 GiB of
    frames. 21 frames of 64x48 fit a limit of 40 RGB frames, not as float32 RGB (10 fit)."""
    monkeypatch.setattr(recipe_module, "MAX_SAMPLE_FRAME_BYTES", 64 * 48 * 3 * 40)
    img = textured(0).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "deep.png"), img)
    cv2.imwrite(str(tmp_path / "flat.png"), textured(0))
    write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"image": "flat.png", "question": "Q", "answer": "a"},
            {"image": "deep.png", "question": "Q", "answer": "a"},
        ],
    )
    path = tmp_path / "r.toml"
    path.write_text(
        '[dataset]\nname = "s"\n[source]\nkind = "image"\nmotion = "pan"\nfps = 1000\n'
        "[camera]\nwidth = 64\nheight = 48\n[events]\nwindow_ms = 20\n"
        '[splits]\ntest = "t.jsonl"\n'
    )
    out = tmp_path / "ds"
    summary = build_dataset(load_recipe(path), out, progress=False)
    assert summary.samples == {"test": 1}
    assert _reasons(out)["test-000001"].startswith(
        "its pan motion at 1000 fps needs 21 frames per sample (0.000721 GiB of 64x48 frames "
        "of 12 bytes a pixel); at most 10 fit the "
    )


# ----------------------------------------------------------------------------- output names


@pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding().lower() != "utf-8",
    reason="file names are bytes, read as UTF-8, only on POSIX systems with a UTF-8 locale",
)
def test_a_dataset_folder_whose_name_is_not_utf8_is_named_escaped(tmp_path):
    """A UTF-8 locale's stdout is strict (only the C locale's escapes surrogates): the summary
    naming the folder failed with an internal error after the dataset was written, and the
    finished build exited 1."""
    (tmp_path / "r.toml").write_text(
        '[dataset]\nname = "x"\n[source]\nobject_size_px = [8, 12]\ntarget_size_px = [8, 12]\n'
        "[camera]\nwidth = 64\nheight = 48\n[splits]\ntest = 2\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "eventsim", "build", "r.toml", "-o", os.fsdecode(b"bad\xffds")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=300,
    )
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.startswith("built 2 samples (test 2) in "), out.stdout
    assert "into bad\\udcffds\n" in out.stdout
    assert out.stdout.endswith("inspect it with: eventsim info 'bad\\udcffds'\n")
