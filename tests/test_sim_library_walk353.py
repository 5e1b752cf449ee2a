"""Simulator as a Python library (helper 353's walkthrough).

- Simulators and sources printed as ``<... object at 0x...>``: they have short reprs, made
  from what they hold (no decoding), that never raise.
- A list of frames of two sizes raised numpy's bare "setting an array element with a sequence"
  from `simulate_frames` and `ArraySource` (and `step` did not name the frames): an InputError
  names the frame and both sizes.
- One RGB frame ``(H, W, 3)`` given to `EventSimulator.step` was read as H frames of W x 3
  pixels ("frames are 3x80"); now it is named as one RGB frame, with ``frames[None]``.
- ``ArraySource(frames, ts, fps=...)`` ignored ``fps``; a bad ``fit`` passed unless frames
  needed fitting.
- Fractional timestamps given to `step` were refused without the value.
- ``DVSParams(pos_treshold=...)`` raised a bare TypeError (``replace`` had a did-you-mean);
  ``simulate(src, "clean")`` did not say how to make the preset.
- `eventsim.simulator.sources` had no ``__all__``.
"""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

from eventsim.errors import InputError, ParameterError
from eventsim.simulator import DVSParams, EventSimulator, simulate, simulate_frames, sources
from eventsim.simulator.params import UnknownParameterError
from eventsim.simulator.sources import (
    ArraySource,
    FolderSource,
    ImageMotionSource,
    PairSource,
    VideoSource,
)

_W, _H = 80, 64


def _frames(n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, _H, _W), dtype=np.uint8)


# ------------------------------------------------------------------ reprs


def test_simulator_repr_names_sensor_params_device_and_frames_seen():
    sim = EventSimulator(DVSParams.from_preset("clean"), (_W, _H), seed=3)
    text = repr(sim)
    assert text.startswith("EventSimulator(sensor=80x64, ")
    assert "params=DVSParams.from_preset('clean')" in text
    assert "seed=3" in text and "device='cpu'" in text and "frames_seen=0" in text
    sim.step(_frames(3), [0, 1000, 2000])
    assert "frames_seen=3" in repr(sim) and "t_last_us=2000" in repr(sim)
    sim.reset()
    assert "frames_seen=0" in repr(sim)


def test_simulator_repr_shows_params_as_the_fewest_changes():
    changed = DVSParams.from_preset("noisy").replace(cutoff_hz=0.0)
    assert "params=DVSParams.from_preset('noisy').replace(cutoff_hz=0.0)" in repr(
        EventSimulator(changed, (8, 8))
    )
    assert "params=DVSParams(pos_threshold=0.3)" in repr(
        EventSimulator(DVSParams(pos_threshold=0.3), (8, 8))
    )
    assert "params=DVSParams()," in repr(EventSimulator(DVSParams(), (8, 8)))


def test_array_source_repr():
    src = ArraySource(np.zeros((3, _H, _W, 3), np.uint8), [0, 10, 20])
    assert repr(src) == "ArraySource(3 frames 80x64 RGB uint8, 0..20 us)"
    fitted = ArraySource(_frames(2), [0, 5], sensor_size=(40, 32), fit="resize")
    assert repr(fitted) == (
        "ArraySource(2 frames 80x64 grey uint8, 0..5 us, sensor=40x32, fit='resize')"
    )


def test_file_source_reprs_name_the_file_size_and_timing(tmp_path):
    import cv2

    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), img)
    cv2.imwrite(str(b), img)
    assert repr(PairSource(a, b)) == f"PairSource({str(a)!r}, {str(b)!r}, 10 ms apart, 64x48)"
    assert repr(PairSource(img, img, sensor_size=(32, 32))) == (
        "PairSource(array, array, 10 ms apart, 64x48, sensor=32x32, fit='crop')"
    )
    motion = repr(ImageMotionSource(img, "pan", fps=1000))
    assert motion.startswith("ImageMotionSource(array, 'pan', 300 ms at 1000 fps (301 frames)")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), img)
    assert repr(FolderSource(folder, fps=30)) == (
        f"FolderSource({str(folder)!r}, 3 images 64x48, 30 fps)"
    )
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(5):
        writer.write(img)
    writer.release()
    src = VideoSource(video)
    assert repr(src) == f"VideoSource({str(video)!r}, 64x48, 30 fps, 5 frames)"
    # no decoding, no file access: a video gone since still shows
    video.unlink()
    assert repr(src).startswith("VideoSource(")


@pytest.mark.parametrize(
    "cls",
    [
        EventSimulator,
        ArraySource,
        VideoSource,
        FolderSource,
        PairSource,
        ImageMotionSource,
        sources.TiffStackSource,
    ],
)
def test_half_made_objects_still_repr(cls):
    # what a debugger shows of an object whose __init__ raised
    assert repr(object.__new__(cls)) == f"<{cls.__name__} (incomplete)>"


# ------------------------------------------------------------------ frames of two sizes


def test_frames_of_two_sizes_name_the_frame_and_sizes():
    frames = [np.zeros((_H, _W), np.uint8), np.zeros((32, 40), np.uint8)]
    for call in (
        lambda: simulate_frames(frames, [0, 1]),
        lambda: ArraySource(frames, [0, 1]),
        lambda: EventSimulator(DVSParams(), (_W, _H)).step(frames, [0, 1]),
    ):
        with pytest.raises(InputError) as err:
            call()
        msg = str(err.value)
        assert "frame 1 is 40x32" in msg and "frame 0 is 80x64" in msg, msg
        assert "setting an array element" not in msg


def test_one_rgb_frame_is_named_as_one():
    sim = EventSimulator(DVSParams(), (_W, _H))
    rgb = np.zeros((_H, _W, 3), np.uint8)
    with pytest.raises(InputError) as err:
        sim.step(rgb, [0])
    msg = str(err.value)
    assert "one RGB frame" in msg and "frames[None]" in msg and "3x80" not in msg
    with pytest.raises(InputError, match=r"one RGBA frame"):
        sim.step(np.zeros((_H, _W, 4), np.uint8), [0])
    with pytest.raises(InputError, match=r"one frame\? pass frames\[None\]"):
        sim.step(np.zeros((_H, _W), np.uint8), [0])
    # and the suggestion works
    assert sim.step(rgb[None], [0]).size == 0


# ------------------------------------------------------------------ ArraySource arguments


def test_array_source_refuses_fps_beside_timestamps():
    with pytest.raises(ParameterError, match=r"fps = 10\.0 does not apply.*timestamps_us"):
        ArraySource(_frames(2), [0, 100], fps=10.0)


@pytest.mark.parametrize("sensor_size", [None, (_W, _H), (40, 32)])
def test_a_bad_fit_is_refused_whatever_the_size(sensor_size):
    with pytest.raises(ParameterError, match=r"fit 'stretch' is unknown; expected one of crop"):
        ArraySource(_frames(2), [0, 100], sensor_size=sensor_size, fit="stretch")
    with pytest.raises(ParameterError, match=r"did you mean 'resize'\?"):
        PairSource(_frames(1)[0], _frames(1)[0], sensor_size=sensor_size, fit="resze")
    with pytest.raises(ParameterError, match=r"fit 'stretch' is unknown"):
        ImageMotionSource(_frames(1)[0], sensor_size=sensor_size, fit="stretch")


def test_a_bad_fit_is_refused_by_the_file_sources(tmp_path):
    for make in (
        lambda: VideoSource(tmp_path / "none.mp4", fit="stretch"),
        lambda: FolderSource(tmp_path, fps=10, fit="stretch"),
        lambda: sources.TiffStackSource(tmp_path / "none.tif", fit="stretch"),
    ):
        with pytest.raises(ParameterError, match=r"fit 'stretch' is unknown"):
            make()


# ------------------------------------------------------------------ timestamps


def test_fractional_timestamps_name_the_first_one():
    sim = EventSimulator(DVSParams(), (_W, _H))
    ts = np.array([0, 1000, 2000]) + np.array([0.0, 0.4, 0.0])
    with pytest.raises(InputError) as err:
        sim.step(_frames(3), ts)
    msg = str(err.value)
    assert "integer microseconds" in msg and "entry 1 is 1000.4" in msg, msg
    # simulate_frames and ArraySource round them, as documented, to the same events
    rounded = simulate_frames(_frames(3), ts)
    assert np.array_equal(rounded, simulate_frames(_frames(3), [0, 1000, 2000]))


# ------------------------------------------------------------------ parameters


def test_unknown_field_of_the_constructor_has_a_did_you_mean():
    with pytest.raises(UnknownParameterError) as err:
        DVSParams(pos_treshold=0.2)
    assert "did you mean pos_threshold?" in str(err.value)
    # still what Python raises for an unknown keyword, and eventsim's ParameterError
    assert isinstance(err.value, TypeError) and isinstance(err.value, ParameterError)
    with pytest.raises(TypeError, match="did you mean refractory_period_us"):
        DVSParams().replace(refractory=1)


def test_params_stay_a_plain_dataclass():
    params = DVSParams(pos_threshold=0.3, cutoff_hz=30)
    assert params == DVSParams(**params.to_dict())
    assert pickle.loads(pickle.dumps(params)) == params
    assert hash(params) == hash(params.replace())
    assert "pos_threshold" in inspect.signature(DVSParams).parameters
    with pytest.raises(AttributeError):
        params.cutoff_hz = 1.0
    for method in (DVSParams.validate, DVSParams.replace, DVSParams.to_dict):
        assert method.__doc__


def test_a_preset_name_for_params_says_how_to_make_it():
    src = ArraySource(_frames(2), [0, 100])
    with pytest.raises(ParameterError, match=r"DVSParams\.from_preset\('clean'\)"):
        simulate(src, "clean")
    with pytest.raises(ParameterError, match=r"DVSParams\.from_preset\('noisy'\)"):
        EventSimulator(" Noisy", (8, 8))
    with pytest.raises(ParameterError, match=r"names no preset.*did you mean 'clean'\?"):
        simulate(src, "clen")
    with pytest.raises(ParameterError, match=r"DVSParams\(\*\*params\)"):
        simulate(src, {"cutoff_hz": 30})


# ------------------------------------------------------------------ typing and help


def test_sources_module_lists_its_public_names():
    assert "VideoSource" in sources.__all__ and "ArraySource" in sources.__all__
    assert all(hasattr(sources, name) for name in sources.__all__)
    # no typing names or imported modules
    assert not {"Any", "Callable", "np", "cv2", "Path"} & set(sources.__all__)


def test_frames_hints_take_lists():
    # mypy checks the calls below against these (tests are type-checked)
    for func in (simulate_frames, ArraySource.__init__, EventSimulator.step):
        hint = str(inspect.signature(func).parameters["frames"].annotation)
        assert "Sequence[np.ndarray]" in hint, (func, hint)


def test_documented_list_calls_type_check_and_run() -> None:
    frames: list[np.ndarray] = list(_frames(3))
    times: list[int] = [0, 1000, 2000]
    events = simulate_frames(frames, times, sensor_size=[_W, _H])
    sim = EventSimulator(DVSParams(), [_W, _H])
    assert np.array_equal(sim.step(frames, times), events)
    assert ArraySource(frames, [0.0, 1000.0, 2000.0]).n_frames == 3
