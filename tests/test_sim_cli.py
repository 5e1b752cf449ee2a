"""`eventsim simulate`: one command per input kind; bad inputs are named and leave no file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from eventsim.cli.simulate import main
from eventsim.events import validate_events
from eventsim.io import EventReader
from eventsim.simulator.synthetic import moving_shapes_clip, write_video


@pytest.fixture(scope="module")
def clip():
    return moving_shapes_clip(80, 60, duration_s=0.3, fps=30, seed=5)


def _png(path, img):
    assert cv2.imwrite(str(path), img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return str(path)


def _check(out, size, *, min_events=10):
    with EventReader(out) as r:
        ev = r.read()
        assert r.sensor_size == size
        params, source, attrs = r.params, r.source, r.attrs
    validate_events(ev, size)
    assert ev.size >= min_events
    return ev, params, source, attrs


def test_video(tmp_path, clip, capsys):
    video = write_video(tmp_path / "v.mp4", clip[0], fps=30)
    out = tmp_path / "v.h5"
    rc = main(
        [
            str(video),
            "-o",
            str(out),
            "--camera",
            "dvs128",
            "--preset",
            "clean",
            "--set",
            "pos_threshold=0.3",
            "--save-frames",
            "-q",
        ]
    )
    assert rc == 0
    assert "events from 9 frames (128x128)" in capsys.readouterr().out
    _, params, source, attrs = _check(out, (128, 128))
    assert params["pos_threshold"] == 0.3 and params["threshold_sigma"] == 0.02
    assert source["kind"] == "video" and attrs["preset"] == "clean"
    with EventReader(out) as r:
        assert r.num_frames == 9 and r.read_frame(0).shape == (128, 128, 3)


def test_folder_with_timestamps(tmp_path, clip):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(clip[0]):
        _png(folder / f"{i:04d}.png", f)
    (folder / "timestamps.txt").write_text("".join(f"{i * 0.02:.6f}\n" for i in range(9)))
    out = tmp_path / "f.h5"
    assert main([str(folder), "-o", str(out), "-q"]) == 0
    ev, *_ = _check(out, (80, 60))
    assert ev["t"].max() <= 160_000


def test_pair(tmp_path, clip):
    a, b = _png(tmp_path / "a.png", clip[0][0]), _png(tmp_path / "b.png", clip[0][5])
    out = tmp_path / "p.h5"
    assert main(["--pair", a, b, "--interval-ms", "10", "-o", str(out), "-q"]) == 0
    ev, _, source, _ = _check(out, (80, 60))
    assert ev["t"].max() <= 10_000 and source["kind"] == "pair"


def test_image_with_motion(tmp_path, clip):
    img = _png(tmp_path / "i.png", clip[0][0])
    out = tmp_path / "i.h5"
    assert (
        main(
            [
                "--image",
                img,
                "--motion",
                "saccade",
                "--duration-ms",
                "300",
                "-o",
                str(out),
                "-q",
                "--sensor-size",
                "40x30",
            ]
        )
        == 0
    )
    ev, _, source, _ = _check(out, (40, 30))
    assert source["motion"] == "saccade" and ev["t"].max() <= 300_000
    # INPUT that is an image means the same
    out2 = tmp_path / "i2.h5"
    assert main([img, "-o", str(out2), "-q", "--sensor-size", "40x30"]) == 0
    with EventReader(out2) as r:
        assert np.array_equal(r.read(), ev)


def test_synthetic_with_upsampling(tmp_path):
    out = tmp_path / "s.h5"
    assert (
        main(
            [
                "--synthetic",
                "moving-shapes",
                "--duration-ms",
                "200",
                "--sensor-size",
                "64x48",
                "--upsample",
                "flow",
                "-o",
                str(out),
                "-q",
                "--preset",
                "noisy",
            ]
        )
        == 0
    )
    _, _, source, _ = _check(out, (64, 48))
    assert source["upsample"] == "flow" and source["kind"] == "synthetic"


def _fails(tmp_path, argv, match, capsys, code=1):
    out = tmp_path / "bad.h5"
    before = set(tmp_path.iterdir())
    rc = main([*argv, "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == code, err
    assert match in err
    assert not out.exists() and set(tmp_path.iterdir()) == before  # no temp files either


def test_bad_inputs_are_named(tmp_path, clip, capsys):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x01" * 3000)
    unreadable = tmp_path / "x.png"
    unreadable.write_bytes(b"not a png")
    small = _png(tmp_path / "small.png", clip[0][0][:30])
    big = _png(tmp_path / "big.png", clip[0][0])
    empty = tmp_path / "empty"
    empty.mkdir()
    nonincr = tmp_path / "nonincr"
    nonincr.mkdir()
    for i in range(3):
        _png(nonincr / f"{i}.png", clip[0][i])
    (nonincr / "timestamps.txt").write_text("0.0\n0.05\n0.05\n")
    hdr = tmp_path / "hdr"
    hdr.mkdir()
    for i in range(2):
        img = np.full((8, 8), 0.5, np.float32)
        img[0, 0] = np.nan if i else 0.5
        cv2.imwrite(str(hdr / f"{i}.tiff"), img)
    video = write_video(tmp_path / "ok.mp4", clip[0], fps=30)
    cases = [
        ([str(tmp_path / "missing.mp4")], "does not exist"),
        ([str(corrupt)], "cannot be opened"),
        ([str(video), "--start-s", "100"], "no decodable frames"),
        ([str(empty), "--fps", "30"], "no images"),
        (["--image", str(unreadable)], "cannot be read"),
        (["--pair", small, big], "different sizes"),
        ([str(nonincr)], "increase strictly"),
        ([str(hdr), "--fps", "10"], "NaN"),
        ([str(video), "--set", "pos_thresh=0.3"], "valid fields"),
        ([str(video), "--set", "pos_threshold=-1"], "pos_threshold"),
        ([str(video), "--device", "cuda:7"], "device"),
        ([str(video), "--pair", big, big], "exactly one input"),
    ]
    for argv, match in cases:
        _fails(tmp_path, argv, match, capsys)
    _fails(tmp_path, [str(video), "--preset", "loud"], "invalid choice", capsys, code=2)


def test_existing_output_needs_force(tmp_path, clip, capsys):
    a = _png(tmp_path / "a.png", clip[0][0])
    b = _png(tmp_path / "b.png", clip[0][3])
    out = tmp_path / "o.h5"
    out.write_bytes(b"keep me")
    assert main(["--pair", a, b, "-o", str(out), "-q"]) == 1
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["--pair", a, b, "-o", str(out), "-q", "--force"]) == 0
    _check(out, (80, 60))
