"""Final review of round 12's I/O and CLI changes (each behaviour test failed before its fix):

- convert printed the 'times merged by rounding' note twice, as a note and as the refusal
  (or warning) of implausible times;
- render_time_surface drew an (H, W) surface white whatever on_color/off_color asked for;
- simulate's refusal of v2e's options now goes through the CLI's one refused-option action
  (add_refused_option), and the option hint through closest_name: their messages stay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventsim._suggest import closest_name, did_you_mean
from eventsim.cli import main
from eventsim.errors import ParameterError
from eventsim.io.text import MERGED_TIMES_NOTE
from eventsim.render import render_time_surface


def _seconds_csv(tmp_path: Path) -> Path:
    t = np.sort(np.random.default_rng(12).uniform(0, 2, 1000))
    path = tmp_path / "clip.csv"
    path.write_text("t,x,y,p\n" + "".join(f"{v:.6f},1,2,1\n" for v in t), encoding="ascii")
    return path


@pytest.mark.parametrize("allow", [False, True])
def test_convert_says_merged_times_once(tmp_path, capsys, allow):
    argv = ["convert", str(_seconds_csv(tmp_path)), str(tmp_path / "o.h5"), "--time-unit", "us"]
    assert main(argv + ["--allow-implausible-times"] * allow) == (0 if allow else 1)
    err = capsys.readouterr().err
    assert err.count(MERGED_TIMES_NOTE) == 1
    assert ("warning:" if allow else "error:") in err
    # the other notes are still printed
    assert "note: time unit given: microseconds" in err


@pytest.mark.parametrize("option", ["on_color", "off_color"])
def test_render_time_surface_refuses_colours_for_a_surface_without_polarity(option):
    surface = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(ParameterError, match=rf"{option}=\(255, 0, 0\).*\(2, H, W\)"):
        render_time_surface(surface, **{option: (255, 0, 0)})
    img = render_time_surface(surface)
    assert img.shape == (3, 4, 3) and img[-1, -1].tolist() == [255, 255, 255]
    # a (2, H, W) surface takes them
    split = render_time_surface(np.stack([surface, surface]), **{option: (255, 0, 0)})
    assert split.shape == (3, 4, 3)


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["--pos_thres", "0.3"], "--pos_thres is v2e's option; use --set pos_threshold=0.3"),
        (["--pos-thres"], "--pos-thres is v2e's option; use --set pos_threshold=VALUE"),
        (["--cutoff-hz", "200"], "--cutoff-hz is v2e's option; use --set cutoff_hz=200"),
        (["--pos-threshold", "0.2"], "--pos-threshold is no option; DVSParams fields are set "),
        (["--size", "3x3"], "--size was renamed --sensor-size (WxH)"),
    ],
)
def test_refused_options_name_what_to_use(tmp_path, capsys, words, said):
    rc = main(["simulate", "-q", "clip.mp4", "-o", str(tmp_path / "o.h5"), *words])
    assert rc == 2
    assert f"eventsim simulate: error: {said}" in capsys.readouterr().err


def test_closest_name_is_did_you_mean_guess(capsys):
    assert closest_name("sensor-sise", {"sensor-size": "--sensor-size"}) == "--sensor-size"
    assert closest_name("zzz", ["fps", "seed"]) is None
    assert did_you_mean("sensor-sise", {"sensor-size": "--sensor-size"}) == (
        "; did you mean --sensor-size?"
    )
    assert did_you_mean("zzz", ["fps"]) == ""
    rc = main(["render", "x.h5", "-o", "x.png", "--sensor_size", "3x3", "--sensor-sise=3x3"])
    assert rc == 2
    assert "did you mean --sensor-size and --sensor-size=3x3?" in capsys.readouterr().err
