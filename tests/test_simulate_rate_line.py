"""The summary line of a slow `eventsim simulate` run (a few large frames) gave its rate as
"(0 frames/s)": whole numbers below 10 frames/s now keep two significant digits."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

import eventsim.simulator.pipeline as pipeline
from eventsim.cli import main


def test_a_slow_run_gives_its_rate_in_two_digits(tmp_path, monkeypatch, capsys):
    real = pipeline.simulate

    def slow(*args, **kwargs):
        # the same run, as if it had taken 10.6 s
        return dataclasses.replace(real(*args, **kwargs), seconds=10.6)

    monkeypatch.setattr(pipeline, "simulate", slow)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), np.full((16, 16), 60, np.uint8))
    cv2.imwrite(str(b), np.full((16, 16), 120, np.uint8))
    assert main(["simulate", "--pair", str(a), str(b), "-o", str(tmp_path / "o.h5"), "-q"]) == 0
    line = capsys.readouterr().out.strip()
    frames = int(line.split(" from ")[1].split()[0])
    assert line.endswith(f"in 10.6 s ({frames / 10.6:.2g} frames/s)"), line
    assert "(0 frames/s)" not in line
