"""Cases a fuzz of every command line found breaking the CLI's rules: each must end in one
line naming the bad value, a non-zero exit, no traceback and nothing left at the output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.events import EVENT_DTYPE
from eventsim.io.formats import write_events

from cli_checks import one_line


def run(capsys, *argv: object) -> tuple[int, str]:
    rc = eventsim_main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


@pytest.fixture
def events_h5(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    ev = np.zeros(500, EVENT_DTYPE)
    ev["x"] = rng.integers(0, 32, ev.size)
    ev["y"] = rng.integers(0, 24, ev.size)
    ev["t"] = np.sort(rng.integers(0, 100_000, ev.size))
    ev["p"] = rng.integers(0, 2, ev.size)
    path = tmp_path / "ev.h5"
    write_events(path, ev, sensor_size=(32, 24))
    return path


SYNTHETIC = ["simulate", "--synthetic", "moving-shapes", "--duration-ms", "40", "-q"]


def test_simulate_refuses_an_empty_sensor_size(tmp_path, capsys):
    out = tmp_path / "a.h5"
    # an empty value used to be taken for "not given" and the default size used
    rc, err = run(capsys, *SYNTHETIC, "--sensor-size", "", "-o", out)
    assert rc == 1
    one_line(err, "sensor size ''", "WIDTHxHEIGHT")
    assert not out.exists()


def test_simulate_refuses_a_seed_beyond_64_bits(tmp_path, capsys):
    out = tmp_path / "a.h5"
    big = str(2**64)
    rc, err = run(capsys, *SYNTHETIC, "--sensor-size", "32x24", "--seed", big, "-o", out)
    assert rc == 1
    one_line(err, f"--seed {big}", str(2**64 - 1))
    assert not out.exists()


def test_simulate_accepts_the_largest_seed(tmp_path, capsys):
    out = tmp_path / "a.h5"
    seed = str(2**64 - 1)
    rc, err = run(capsys, *SYNTHETIC, "--sensor-size", "32x24", "--seed", seed, "-o", out)
    assert rc == 0, err
    assert out.is_file()


@pytest.mark.parametrize("option", ["--image", "--pair"])
def test_simulate_names_a_folder_given_as_an_image(tmp_path, capsys, option):
    folder = tmp_path / "pics"
    folder.mkdir()
    out = tmp_path / "a.h5"
    images = [folder] if option == "--image" else [folder, folder]
    rc, err = run(capsys, "simulate", option, *images, "-o", out)
    assert rc == 1
    # it used to say the folder "does not exist"
    one_line(err, option, repr(str(folder)), "is a folder", "image file")
    assert not out.exists()


def test_simulate_of_an_empty_video_prints_only_its_own_line(tmp_path):
    video = tmp_path / "empty.mp4"
    video.touch()
    out = tmp_path / "a.h5"
    # FFmpeg's own log ("moov atom not found") is printed by C code: only a subprocess sees it
    proc = subprocess.run(
        [sys.executable, "-m", "eventsim", "simulate", str(video), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    one_line(proc.stderr, "empty.mp4", "cannot be opened")
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--window-ms", "--end-ms"])
def test_render_refuses_times_beyond_the_event_time_range(tmp_path, capsys, events_h5, flag):
    out = tmp_path / "a.gif"
    rc, err = run(capsys, "render", events_h5, "-o", out, flag, "1e300", "--no-progress")
    assert rc == 1
    one_line(err, f"{flag} 1e+300 ms", "time range")
    assert not out.exists()


@pytest.mark.parametrize("name", ["a.gif", "a.mp4"])
def test_render_refuses_a_playback_rate_no_video_holds(tmp_path, capsys, events_h5, name):
    out = tmp_path / name
    rc, err = run(capsys, "render", events_h5, "-o", out, "--fps", "0.001", "--no-progress")
    assert rc == 1
    one_line(err, "--fps 0.001", "0.01")
    assert not out.exists()


def test_render_of_one_png_takes_any_rate(tmp_path, capsys, events_h5):
    out = tmp_path / "a.png"
    rc, err = run(capsys, "render", events_h5, "-o", out, "--fps", "0.001", "--no-progress")
    assert rc == 0, err
    assert out.is_file()


def test_render_frame_count_of_a_huge_rate_stays_short(tmp_path, capsys, events_h5):
    out = tmp_path / "a.gif"
    rc, err = run(capsys, "render", events_h5, "-o", out, "--fps", "1e300", "--no-progress")
    assert rc == 1
    line = one_line(err, "frames for 500 events")
    assert len(line) < 250, line


@pytest.mark.parametrize("name", ["a.png", "a.gif", "a.mp4"])
def test_render_keeps_a_folder_named_like_a_file_even_with_force(tmp_path, capsys, events_h5, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "mine.txt").write_text("mine\n")
    rc, err = run(capsys, "render", events_h5, "-o", folder, "--force", "--no-progress")
    assert rc == 1
    # it used to be taken for a folder-of-PNGs output, its contents deleted for frames
    one_line(err, repr(str(folder)), "is a folder")
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00", "café = 1\n".encode("latin-1")])
def test_build_names_a_recipe_that_is_not_text(tmp_path, capsys, content):
    recipe = tmp_path / "recipe.toml"
    recipe.write_bytes(content)
    out = tmp_path / "ds"
    rc, err = run(capsys, "build", recipe, "-o", out, "--no-progress")
    assert rc == 1
    one_line(err, repr(str(recipe)), "UTF-8")
    assert not out.exists()


# -- epvlm eval / demo: the results' samples.jsonl must not replace anything ----------------------
@pytest.fixture(scope="module")
def dataset(build_shapes) -> Path:
    return build_shapes(2)


def run_epvlm(capsys, *argv: object) -> tuple[int, str]:
    from epvlm.cli import main as epvlm_main

    rc = epvlm_main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", ["eval", "demo"])
@pytest.mark.parametrize("force", [False, True])
def test_results_never_go_into_a_dataset_folder(tmp_path, capsys, dataset, command, force):
    pytest.importorskip("transformers")
    from epvlm.demo.pipeline import DEFAULT_MODEL

    target = Path(shutil.copytree(dataset, tmp_path / "ds"))
    before = contents(target)
    argv = [command, "--model", DEFAULT_MODEL, "--dataset", target, "-o", target, "--limit", "1"]
    rc, err = run_epvlm(capsys, *argv, "--no-progress", *(["--force"] if force else []))
    assert rc == 1
    # the results' samples.jsonl used to replace the dataset's label index
    one_line(err, repr(str(target)), "holds a dataset")
    assert contents(target) == before


@pytest.mark.parametrize("command", ["eval", "demo"])
@pytest.mark.parametrize("name", ["samples.jsonl", "table.md"])
def test_an_earlier_result_file_needs_force(tmp_path, capsys, dataset, command, name):
    pytest.importorskip("transformers")
    from epvlm.demo.pipeline import DEFAULT_MODEL

    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("mine\n")
    argv = [command, "--model", DEFAULT_MODEL, "--dataset", dataset, "-o", out, "--limit", "1"]
    rc, err = run_epvlm(capsys, *argv, "--no-progress")
    assert rc == 1
    one_line(err, repr(str(out / name)), "--force")
    assert contents(out) == {name: b"mine\n"}


# -- epvlm run / eval: checked before the model loads ---------------------------------------------
@pytest.fixture
def image(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "i.png"
    Image.fromarray(np.full((24, 32, 3), 128, np.uint8)).save(path)
    return path


def run_args(image: Path) -> list[object]:
    from epvlm.demo.pipeline import DEFAULT_MODEL

    return [
        "run",
        "--model",
        DEFAULT_MODEL,
        "--question",
        "q?",
        "--selector",
        "dense",
        "--image",
        image,
    ]


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_run_names_an_image_that_is_not_a_file(tmp_path, capsys, what):
    pytest.importorskip("transformers")
    path = tmp_path / "pic.png"
    if what == "folder":
        path.mkdir()
    rc, err = run_epvlm(capsys, *run_args(path))
    assert rc == 1
    # OpenCV used to log a warning line of its own before "missing or not an image"
    one_line(
        err, f"cannot read image {str(path)!r}", "does not exist" if what == "missing" else "folder"
    )


def test_run_refuses_an_overlay_over_its_own_image(tmp_path, capsys, image):
    pytest.importorskip("transformers")
    before = image.read_bytes()
    rc, err = run_epvlm(capsys, *run_args(image), "--overlay", image, "--force")
    assert rc == 1
    one_line(err, "--overlay", "is the input --image")
    assert image.read_bytes() == before


@pytest.mark.parametrize("command", ["run", "eval"])
@pytest.mark.parametrize(
    ("extra", "needle", "status"),
    [
        # a usage error, as --keep 0 is (it was exit 1 beside the other options' exit 2)
        (["--seed", "-1"], "argument --seed: -1 must be >= 0", 2),
        (["--device", "mps"], "--device mps is not supported", 1),
    ],
)
def test_seed_and_device_are_checked_up_front(
    tmp_path, capsys, image, dataset, command, extra, needle, status
):
    pytest.importorskip("transformers")
    if command == "run":
        argv = [*run_args(image), "--selector", "random"]
    else:
        from epvlm.demo.pipeline import DEFAULT_MODEL

        argv = ["eval", "--model", DEFAULT_MODEL, "--dataset", dataset, "-o", tmp_path / "e"]
    rc, err = run_epvlm(capsys, *argv, *extra)
    assert rc == status
    # both were internal errors (numpy's ValueError, torch's RuntimeError)
    one_line(err, needle)
    assert not (tmp_path / "e").exists()


def test_render_refuses_an_infinite_max_count(tmp_path, capsys, events_h5):
    # an infinite colour scale rendered every frame blank
    rc, err = run(capsys, "render", events_h5, "-o", tmp_path / "f.png", "--max-count", "inf")
    assert rc == 1
    one_line(err, "--max-count inf must be a finite value > 0")
    assert not (tmp_path / "f.png").exists()


def test_library_entry_points_name_what_they_were_given(tmp_path):
    # the errors the CLI fixes above made at its boundary, where library users meet them too
    from eventsim.datasets import load_recipe
    from eventsim.errors import InputError, RecipeError
    from eventsim.simulator.sources import read_image

    recipe = tmp_path / "binary.toml"
    recipe.write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    with pytest.raises(RecipeError, match="is not UTF-8 text"):
        load_recipe(recipe)
    with pytest.raises(InputError, match="is a folder; expected an image file"):
        read_image(tmp_path)


def test_model_dir_that_is_a_file_is_named_as_such(tmp_path):
    pytest.importorskip("transformers")
    from epvlm.errors import ModelDirError
    from epvlm.processing import load_processor

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    with pytest.raises(ModelDirError, match=r"is a file; expected the folder holding config\.json"):
        load_processor(path)


def test_unsupported_devices_are_refused_by_the_library_too():
    pytest.importorskip("torch")
    from epvlm.evaluate import resolve_device
    from eventsim.errors import ParameterError

    with pytest.raises(ParameterError, match="'mps' is not supported; expected auto, cpu"):
        resolve_device("mps")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.parametrize(("name", "says"), [("clip.mp4", "it is a video"), ("x.png", "decode")])
def test_run_names_a_file_that_is_not_an_image(tmp_path, capsys, name, says):
    pytest.importorskip("transformers")
    path = tmp_path / name
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    rc, err = run_epvlm(capsys, *run_args(path))
    assert rc == 1
    one_line(err, f"cannot read image {str(path)!r}", says)
