"""Simulator leftovers, round 13:

- a ``threshold_sigma`` wide against the contrast thresholds (a large share of the pixels'
  mismatched thresholds clamped to the 0.01 floor) ran without a word: it now draws a
  `ThresholdSpreadWarning` naming the value, the share and the most these thresholds take;
- `simulate` switched the simulator's 0..1 check off through its private ``_scale_checked``:
  ``EventSimulator(..., check_scale=False)`` says so now, and `simulate` looks at the user's
  float frames itself;
- a source of one's own that switched from uint8 to 0..1 float frames mid-stream drew no
  `FrameScaleWarning`: the check had been spent on the uint8 batches (or looked at a batch
  whose uint8 lumas peaked at 255).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eventsim.simulator import (
    DVSParams,
    EventSimulator,
    FrameScaleWarning,
    ThresholdSpreadWarning,
    simulate,
)

# -- threshold_sigma: the share of clamped thresholds ------------------------------------------


def _ramp() -> tuple[np.ndarray, np.ndarray]:
    frames = np.stack([np.full((6, 8), v, np.uint8) for v in (10, 60, 200, 30)])
    return frames, np.arange(4, dtype=np.int64) * 1000


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"threshold_sigma": 0.2}, r"about 17 % of the ON thresholds \(pos_threshold = 0\.2\)"),
        ({"threshold_sigma": 0.5, "neg_threshold": 0.5}, r"16 % of the OFF thresholds"),
        ({"threshold_sigma": 0.05, "pos_threshold": 0.05}, r"expected at most 0\.017 "),
        ({"threshold_sigma": 1e6}, r"threshold_sigma = 1e\+06 clamps about 50 %"),
    ],
)
def test_a_wide_threshold_sigma_draws_a_warning_and_keeps_the_events(changes, said):
    params = DVSParams().replace(**changes)
    frames, ts = _ramp()
    with pytest.warns(ThresholdSpreadWarning, match=said) as caught:
        events = EventSimulator(params, (8, 6), seed=3).step(frames, ts)
    assert len(caught) == 1
    assert "to the floor of 0.01" in str(caught[0].message)
    assert caught[0].filename == __file__  # the line that built the simulator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdSpreadWarning)
        again = EventSimulator(params, (8, 6), seed=3).step(frames, ts)
    assert events.size and events.tobytes() == again.tobytes()


def test_the_warning_names_the_most_these_thresholds_take():
    with pytest.warns(ThresholdSpreadWarning, match=r"expected at most 0\.081 ") as caught:
        EventSimulator(DVSParams(threshold_sigma=0.085), (4, 4))
    message = str(caught[0].message)
    assert "1.3 % of the ON" in message and "20 times as often as at 0.2" in message
    with warnings.catch_warnings():
        # the bound it names clamps under 1 %
        warnings.simplefilter("error", ThresholdSpreadWarning)
        EventSimulator(DVSParams(threshold_sigma=0.081), (4, 4))


@pytest.mark.parametrize("preset", ["ideal", "clean", "noisy", "v2e-default"])
def test_the_presets_and_a_moderate_spread_draw_no_warning(preset):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ThresholdSpreadWarning)
        EventSimulator(DVSParams.from_preset(preset), (4, 4))
        EventSimulator(DVSParams(threshold_sigma=0.08), (4, 4))


def test_simulate_passes_the_warning_on():
    frames, ts = _ramp()
    from eventsim.simulator.pipeline import simulate_frames

    with pytest.warns(ThresholdSpreadWarning):
        simulate_frames(frames, ts, DVSParams(threshold_sigma=0.3))


# -- the 0..1 check: check_scale, and a source that switches to floats -------------------------

TS = np.arange(40, dtype=np.int64) * 1000


def _frames(n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 6, 8)).astype(np.uint8)


class _Own:
    """A source of one's own: yields its frames as they are given, each of its own dtype."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.sensor_size = (frames[0].shape[1], frames[0].shape[0])

    def __iter__(self):
        yield from zip(self.frames, TS.tolist())


def _switching(at: int, scale: float) -> _Own:
    """uint8 frames, then from frame ``at`` the same frames as floats times ``scale``."""
    frames = _frames()
    return _Own([f if k < at else f * scale for k, f in enumerate(frames)])


def test_check_scale_false_skips_the_simulator_s_look():
    frames = _frames(2) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameScaleWarning)
        EventSimulator(DVSParams(), (8, 6), check_scale=False).step(frames, TS[:2])
    with pytest.warns(FrameScaleWarning):
        EventSimulator(DVSParams(), (8, 6)).step(frames, TS[:2])


def test_simulate_leaves_the_simulator_s_privates_alone(monkeypatch):
    built = []

    class Spy(EventSimulator):
        def __setattr__(self, name, value):
            if name == "_scale_checked" and "_scale_checked" in self.__dict__:
                built.append(value)
            super().__setattr__(name, value)

    monkeypatch.setattr("eventsim.simulator.pipeline.EventSimulator", Spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameScaleWarning)
        simulate(_Own(list(_frames())))
    assert built == []


@pytest.mark.parametrize("at", [3, 20])  # within the first batch of 16, or in a later one
@pytest.mark.parametrize("upsample", ["none", "linear"])
def test_a_source_switching_to_0_to_1_floats_draws_the_warning(at, upsample):
    with pytest.warns(FrameScaleWarning, match=r"peak at (1|0\.9\d*); .* multiply 0\.\.1 frames"):
        simulate(_switching(at, 1 / 255), upsample=upsample)


def test_a_source_switching_to_floats_in_dn_draws_none_and_keeps_its_events():
    whole = simulate(_Own(list(_frames()))).events
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameScaleWarning)
        switched = simulate(_switching(20, 1.0)).events
    assert whole is not None and switched is not None
    assert whole.size and whole.tobytes() == switched.tobytes()


def test_a_float_source_is_still_looked_at_once():
    frames = [f / 255.0 for f in _frames()]
    with pytest.warns(FrameScaleWarning) as caught:
        simulate(_Own(frames))
    assert len([w for w in caught if w.category is FrameScaleWarning]) == 1


def test_cli_says_the_threshold_spread_once_in_its_own_words(tmp_path, capsys) -> None:
    import cv2

    from eventsim.cli import main as eventsim_main

    frames, _ = _ramp()
    (tmp_path / "frames").mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / "frames" / f"{i:03d}.png"), frame)
    rc = eventsim_main(
        [
            "simulate",
            str(tmp_path / "frames"),
            "-o",
            str(tmp_path / "out.h5"),
            "--fps",
            "1000",
            "--set",
            "threshold_sigma=0.2",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    said = [line for line in err.splitlines() if "threshold_sigma = 0.2 clamps" in line]
    assert len(said) == 1, err
    assert said[0].startswith("eventsim simulate: warning: "), err
    assert "ThresholdSpreadWarning" not in err


# -- eventsim build: every sample makes its own simulator ---------------------------------------


def test_a_build_warns_of_the_spread_once_at_its_caller(tmp_path, shapes_recipe) -> None:
    from eventsim.datasets.engine import build_dataset

    recipe = shapes_recipe(tmp_path / "r.toml", test=4, shard=2)
    with pytest.warns(ThresholdSpreadWarning, match="threshold_sigma = 0.2 clamps") as caught:
        build_dataset(
            recipe,
            tmp_path / "ds",
            overrides={"simulator.params.threshold_sigma": 0.2},
            progress=False,
        )
    # not once per sample, nor from the library line that made each sample's simulator
    spread = [w for w in caught if w.category is ThresholdSpreadWarning]
    assert len(spread) == 1
    assert spread[0].filename == __file__


def test_cli_build_says_the_spread_once_in_its_own_words(tmp_path, shapes_recipe, capsys) -> None:
    from eventsim.cli import main as eventsim_main

    recipe = shapes_recipe(tmp_path / "r.toml", test=4, shard=2)
    rc = eventsim_main(
        [
            "build",
            str(recipe),
            "-o",
            str(tmp_path / "ds"),
            "--set",
            "simulator.params.threshold_sigma=0.2",
            "--no-progress",
            "--no-preview",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    said = [line for line in err.splitlines() if "threshold_sigma = 0.2 clamps" in line]
    assert len(said) == 1, err
    assert said[0].startswith("eventsim build: warning: "), err
    assert "ThresholdSpreadWarning" not in err
