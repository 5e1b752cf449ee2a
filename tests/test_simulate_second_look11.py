"""Second look at round 11's simulate warnings (c37ff5b) and --allow-long-gaps (08bc9af):

- a warning was said ahead of a refusal: a frame folder's long gaps, passed by
  --allow-long-gaps, were 'simulated as seconds' and then the existing output refused the run;
  an input larger than any event camera, simulated at its own size, was warned of and then
  refused by the simulator for its memory (or for --device);
- a saccade of 2 frames at a given --fps 1 wrote no events, and the line blamed
  --duration-ms 300 and told to lower the contrast thresholds, though the two frames are the
  same image; with a photoreceptor time constant (v2e-default) it blamed that instead.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from eventsim.cli import main


def _image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((height, width)), (0, 0), 1.5)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    cv2.imwrite(str(path), img.astype(np.uint8))
    return str(path)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["simulate", "-q", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_long_gaps_are_not_warned_of_ahead_of_an_existing_output(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        _image(folder / f"{i:03d}.png", seed=i)
    (folder / "timestamps.txt").write_text("0\n1000\n2000\n")
    out = tmp_path / "a.h5"
    out.write_bytes(b"")
    rc, _, err = _run(capsys, str(folder), "--allow-long-gaps", "-o", str(out))
    assert rc != 0
    assert err.splitlines() == [
        f"eventsim simulate: error: output {str(out)!r} exists; pass --force to overwrite it"
    ]


def test_a_large_input_is_not_warned_of_ahead_of_its_memory_refusal(tmp_path, capsys, monkeypatch):
    from eventsim.cli import simulate
    from eventsim.simulator import core

    monkeypatch.setattr(simulate, "LARGEST_EVENT_CAMERA", (32, 24))
    monkeypatch.setattr(core, "_UNCHECKED_BYTES", 0)
    monkeypatch.setattr(core, "_available_memory", lambda: 1)
    argv = ["--image", _image(tmp_path / "a.png"), "--fps", "30", "--amplitude-px", "20"]
    rc, _, err = _run(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert rc != 0
    (line,) = err.splitlines()
    assert line.startswith("eventsim simulate: error: sensor size 64x48 ")


def test_a_saccade_of_2_frames_names_the_given_fps_not_the_thresholds(tmp_path, capsys):
    # a saccade takes 4 frames where 1 us apart fits (98a5b3f): 2 are left below 2 us
    img = _image(tmp_path / "a.png")
    argv = ["--image", img, "--duration-ms", "0.001", "--fps", "1"]
    rc, stdout, err = _run(capsys, *argv, "-o", str(tmp_path / "a.h5"))
    assert rc == 0 and "0 events from 2 frames" in stdout
    # the one line: the two frames are the same image, so no motion warning either
    assert err.splitlines() == [
        "eventsim simulate: warning: no events: --fps 1 over --duration-ms 0.001 (milliseconds) "
        "gave 2 frames, at the saccade's start and end, which are the same place: the image did "
        "not move between them"
    ]


def test_a_saccade_of_2_frames_is_named_before_the_time_constant(tmp_path, capsys):
    argv = ["--image", _image(tmp_path / "a.png"), "--duration-ms", "0.0015"]
    rc, _, err = _run(capsys, *argv, "--preset", "v2e-default", "-o", str(tmp_path / "a.h5"))
    assert rc == 0
    (line,) = err.splitlines()
    assert line.startswith(
        "eventsim simulate: warning: no events: 5000 fps (default) over --duration-ms 0.0015 "
        "(milliseconds) gave 2 frames"
    )
    assert "time constant" not in line and "threshold" not in line


def test_a_saccade_of_4_frames_at_a_given_fps_says_how_far_it_moves(tmp_path, capsys):
    # --fps 1 over 300 ms gave 2 frames and no events before 98a5b3f; now its 4 corners
    img = _image(tmp_path / "a.png")
    rc, stdout, err = _run(capsys, "--image", img, "--fps", "1", "-o", str(tmp_path / "a.h5"))
    assert rc == 0 and " events from 4 frames" in stdout and ": 0 events" not in stdout
    assert err.splitlines() == [
        "eventsim simulate: warning: --fps 1 moves the image up to 2.0 px a frame (4 frames; "
        "more than 1 px, so its events bunch at the frame times); leave --fps out (the default "
        "keeps it within 0.5 px) or pass --fps 40 or more"
    ]
