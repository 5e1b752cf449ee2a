"""Round 12 of eventsim simulate, from a newcomer's walkthrough (each test failed before its fix):

- a mistyped INPUT given with --fps or --timestamps was told that the option does not apply
  to a video, instead of that it does not exist;
- v2e's options (--pos_thres, --dvs346, --refractory_period ...) and DVSParams fields typed as
  options got argparse's bare "unrecognized arguments"; so did a second INPUT;
- an event file given as INPUT was called a corrupt video (an event .txt was decoded by FFmpeg
  as ANSI art: thousands of frames of events);
- -o naming a folder (v2e's -o is its output folder) was told to add a suffix;
- a timestamps file of "INDEX TIME" lines was read as its indices in seconds, and the names of
  a "TIME NAME" file (the Event Camera Dataset's images.txt) were ignored;
- simulate(..., out='o.npy') wrote HDF5 into a file named .npy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim.cli import main
from eventsim.errors import ArgumentValueError, InputError

DATA = Path(__file__).parent / "data"


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["simulate", "-q", *argv])
    return rc, capsys.readouterr().err


def _frames(folder: Path, n: int = 4) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        path = folder / f"frame_{i}.png"
        cv2.imwrite(str(path), (rng.random((16, 16)) * 255).astype(np.uint8))
        paths.append(path)
    return paths


# --- a mistyped INPUT


@pytest.mark.parametrize(
    ("name", "options", "said"),
    [
        ("nodir", ["--fps", "30"], "'{}' does not exist; expected a video file, a frame folder"),
        ("nodir/", ["--fps", "30"], "frame folder '{}' does not exist"),
        ("nodir.mp4", ["--fps", "30"], "video '{}' does not exist"),
        ("nodir", ["--timestamps", "t.txt"], "'{}' does not exist"),
        ("nodir.png", ["--start-s", "1"], "image '{}' does not exist"),
    ],
)
def test_a_missing_input_is_named_before_the_options_it_would_take(
    tmp_path, capsys, name, options, said
):
    given = str(tmp_path / name) + ("/" if name.endswith("/") else "")
    rc, err = _run(capsys, given, "-o", str(tmp_path / "x.h5"), *options)
    assert rc == 1
    assert said.format(given) in err
    assert "apply" not in err


# --- other tools' options and a second INPUT


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["--pos_thres", "0.3"], "--pos_thres is v2e's option; use --set pos_threshold=0.3"),
        (["--pos-thres=0.3"], "--pos-thres is v2e's option; use --set pos_threshold=0.3"),
        (["--neg_thres", "0.25"], "use --set neg_threshold=0.25"),
        (["--sigma_thres", "0.03"], "use --set threshold_sigma=0.03"),
        (["--cutoff_hz", "300"], "use --set cutoff_hz=300"),
        (["--leak_rate_hz", "0.1"], "use --set leak_rate_hz=0.1"),
        (["--shot_noise_rate_hz", "1"], "use --set shot_noise_rate_hz=1 (a rate defined other"),
        (["--noise_rate_cov_decades", "0.2"], "use --set leak_rate_spread_decades=0.2"),
        (["--refractory_period", "0.001"], "use --set refractory_period_us=1000"),
        (["--dvs346"], "--dvs346 is v2e's option; use --camera davis346"),
        (["--dvs640"], "use --camera dvxplorer"),
        (["--dvs_params", "noisy"], "use --preset noisy"),
        (["--timestamp_resolution", "0.001"], "use --upsample linear or flow"),
        (["--output_folder", "out"], "-o names the event file to write here"),
        (
            ["--pos-threshold", "0.3"],
            "DVSParams fields are set with --set: --set pos_threshold=0.3",
        ),
        (["--refractory_period_us", "5"], "--set refractory_period_us=5"),
    ],
)
def test_a_v2e_option_names_ours(tmp_path, capsys, words, said):
    # before INPUT too: the option takes the words after it, not INPUT
    rc, err = _run(capsys, *words, str(tmp_path / "clip.mp4"))
    assert rc == 2
    assert said in err
    assert "unrecognized" not in err


def test_two_images_as_input_name_pair(tmp_path, capsys):
    a, b = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    for argv in ([a, b, "-o", "x.h5"], [a, "-o", "x.h5", b]):
        rc, err = _run(capsys, *argv)
        assert rc == 2
        assert f"unrecognized arguments: {b}; INPUT is one image; two images" in err
        assert f"--pair {a} {b}" in err


# --- an event file as INPUT


def _event_files(tmp_path: Path) -> list[Path]:
    h5 = tmp_path / "clip.h5"
    shutil.copy(DATA / "v2e.h5", h5)
    txt = tmp_path / "clip.txt"
    txt.write_text("".join(f"{i * 1e-3:.6f} {i % 8} {i % 5} {i % 2}\n" for i in range(200)))
    npy = tmp_path / "clip.npy"
    np.save(npy, np.zeros((10, 4)))
    hdf5 = tmp_path / "clip.mp4"  # an HDF5 file of another name
    shutil.copy(DATA / "v2e.h5", hdf5)
    return [h5, txt, npy, hdf5]


def test_an_event_file_as_input_is_named_so(tmp_path, capsys):
    out = tmp_path / "o.h5"
    for path in _event_files(tmp_path):
        rc, err = _run(capsys, str(path), "-o", str(out))
        assert rc == 1, path
        assert f"'{path}' is an " in err and "which holds events, not frames" in err
        assert f"'eventsim render {path} -o clip.png'" in err
        assert not out.exists()


def test_a_dat_file_opencv_cannot_open_is_said_to_be_likely_events(tmp_path, capsys):
    path = tmp_path / "rec.dat"
    path.write_bytes(b"% Date 2020-01-01\n% end\n" + bytes(64))
    rc, err = _run(capsys, str(path), "-o", str(tmp_path / "o.h5"))
    assert rc == 1
    assert "a .dat file is likely an event file" in err


# --- -o naming a folder


def test_o_naming_a_folder_suggests_a_file_in_it(tmp_path, capsys):
    folder = tmp_path / "outdir"
    folder.mkdir()
    new = f"{tmp_path / 'new'}/"
    argv = ["--synthetic", "moving-shapes", "--duration-ms", "50"]
    for out in (str(folder), new):
        rc, err = _run(capsys, *argv, "-o", out)
        assert rc == 1
        assert "names a folder; -o is the event file to write" in err
        assert f"-o {out.rstrip('/')}/moving-shapes.h5" in err
    assert not Path(new).exists()
    rc, err = _run(capsys, str(tmp_path / "clip.mp4"), "-o", str(folder))
    assert f"-o {folder}/clip.h5" in err


# --- timestamps files of two columns


def test_an_index_time_file_is_refused(tmp_path):
    from eventsim.simulator.sources import FolderSource

    _frames(tmp_path / "f")
    times = tmp_path / "t.txt"
    times.write_text("".join(f"{i} {i / 30:.6f}\n" for i in range(4)))
    with pytest.raises(InputError, match=r"line 1: '0 0.000000' holds 2 numbers; expected one"):
        FolderSource(tmp_path / "f", timestamps_file=times)


def _events(folder: Path, times: Path) -> np.ndarray:
    from eventsim.simulator import DVSParams, simulate
    from eventsim.simulator.sources import FolderSource

    source = FolderSource(folder, timestamps_file=times)
    events = simulate(source, DVSParams(pos_threshold=0.1, neg_threshold=0.1)).events
    assert events is not None  # no out: the events come back
    return events


def test_a_time_name_file_is_read_with_its_names_checked(tmp_path):
    folder = tmp_path / "images"
    _frames(folder)
    plain, named = tmp_path / "plain.txt", tmp_path / "images.txt"
    plain.write_text("".join(f"{i / 30:.6f}\n" for i in range(4)))
    # the Event Camera Dataset's images.txt: names relative to the dataset folder
    named.write_text("".join(f"{i / 30:.6f} images/frame_{i}.png\n" for i in range(4)))
    assert np.array_equal(_events(folder, named), _events(folder, plain))
    reversed_ = tmp_path / "reversed.txt"
    reversed_.write_text("".join(f"{i / 30:.6f} images/frame_{3 - i}.png\n" for i in range(4)))
    with pytest.raises(InputError, match=r"line 1 times 'images/frame_3.png', but image 1 of"):
        _events(folder, reversed_)
    other = tmp_path / "other.txt"
    other.write_text("".join(f"{i / 30:.6f} img_{i}.png\n" for i in range(4)))
    with pytest.raises(InputError, match=r"no image of .* is named 'img_0.png'"):
        _events(folder, other)
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("0.0 frame_0.png\n0.1\n0.2\n0.3\n")
    with pytest.raises(InputError, match=r"line 2: '0.1' names no image, while line 1 does"):
        _events(folder, mixed)


# --- simulate(out=...) in Python


@pytest.mark.parametrize("name", ["o.npy", "o", "o.txt"])
def test_simulate_out_of_another_suffix_is_refused(tmp_path, name):
    from eventsim.simulator import simulate
    from eventsim.simulator.sources import ArraySource

    frames = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(ArgumentValueError, match=r"simulate writes eventsim HDF5, so expected"):
        simulate(ArraySource(frames, fps=10), out=tmp_path / name)
    assert list(tmp_path.iterdir()) == []
