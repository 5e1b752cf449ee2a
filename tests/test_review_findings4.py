"""Fourth review of the eventsim command line: leftovers of failed commands, figures of
files too small to have them, and images whose EXIF orientation the readers disagreed on.
Each test failed before its fix (the README one excepted: it pins corrected text)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from eventsim.cli.convert import main as convert_main
from eventsim.cli.info import main as info_main
from eventsim.cli.simulate import main as simulate_main
from eventsim.events import make_events
from eventsim.io import open_events, write_events
from eventsim.simulator import sources

from cli_checks import one_line

# -- 1. a failed command leaves no new, empty folders behind -------------------------------------


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "argv",
    [
        ["missing.mp4"],
        ["--synthetic", "moving-shapes", "--set", "bogus=1"],
        ["--synthetic", "moving-shapes", "--preset", "nonsense"],
    ],
    ids=["bad-input", "bad-set", "bad-option"],
)
def test_a_failed_simulate_removes_the_folders_it_created(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    rc = simulate_main([*argv, "-o", "newdir/sub/x.h5", "-q"])
    assert rc in (1, 2)
    capsys.readouterr()
    assert _tree(tmp_path) == []


def test_a_failed_convert_removes_the_folders_it_created(tmp_path, capsys):
    assert convert_main([str(tmp_path / "missing.h5"), str(tmp_path / "a/b/out.h5")]) == 1
    one_line(capsys.readouterr().err, "does not exist")
    assert _tree(tmp_path) == []
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an event file")
    assert convert_main([str(bad), str(tmp_path / "a/b/out.h5")]) == 1
    capsys.readouterr()
    assert _tree(tmp_path) == ["bad.h5"]


def test_ctrl_c_removes_the_folders_it_created_but_keeps_others(tmp_path, capsys, monkeypatch):
    from eventsim.simulator import pipeline

    (tmp_path / "existing").mkdir()

    def interrupt(*args, **kwargs):
        # the output's folders are made once the input is (input errors come first)
        assert (tmp_path / "existing/new/deeper").is_dir()
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "simulate", interrupt)
    out = tmp_path / "existing/new/deeper/x.h5"
    assert simulate_main(["--synthetic", "moving-shapes", "-o", str(out), "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _tree(tmp_path) == ["existing"]


def test_a_created_folder_that_is_no_longer_empty_stays(tmp_path, capsys, monkeypatch):
    from eventsim.simulator import pipeline

    def someone_writes_there(*args, **kwargs):
        (tmp_path / "new/theirs.txt").write_text("kept")
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "simulate", someone_writes_there)
    out = tmp_path / "new/sub/x.h5"
    assert simulate_main(["--synthetic", "moving-shapes", "-o", str(out), "-q"]) == 130
    capsys.readouterr()
    assert _tree(tmp_path) == ["new", "new/theirs.txt"]


def test_a_successful_command_still_creates_the_output_folders(tmp_path, capsys, small_events):
    src = write_events(tmp_path / "in.h5", small_events, (64, 48))
    out = tmp_path / "a/b/out.npz"
    assert convert_main([str(src), str(out)]) == 0
    capsys.readouterr()
    assert out.is_file()


# -- 2. eventsim info: no rate without a time span, no size made up from no events ---------------


def _info(capsys, path: Path, *extra: str) -> tuple[str, dict]:
    assert info_main([str(path), *extra]) == 0
    text = capsys.readouterr().out
    assert info_main([str(path), "--json", *extra]) == 0
    return text, json.loads(capsys.readouterr().out)


def _field(text: str, name: str) -> str:
    return (
        next(ln for ln in text.splitlines() if ln.startswith(f"{name}:")).split(":", 1)[1].strip()
    )


@pytest.mark.parametrize(
    "times", [[5_000], [5_000, 5_000, 5_000]], ids=["one-event", "one-timestamp"]
)
def test_info_gives_no_rate_for_events_at_one_time(tmp_path, capsys, times):
    """Was "rate: 1 Mev/s" (1 event over the 1 us of the exclusive end)."""
    n = len(times)
    path = write_events(
        tmp_path / "ev.h5", make_events([3] * n, [4] * n, times, [1] * n), (640, 480)
    )
    text, s = _info(capsys, path)
    assert _field(text, "rate").startswith("n/a")
    assert s["rate_ev_per_s"] is None
    assert _field(text, "sensor size") == "640x480" and s["sensor_size"] == [640, 480]


def test_info_of_an_empty_file_shows_its_declared_size_and_no_figures(tmp_path, capsys):
    path = write_events(tmp_path / "empty.h5", make_events([], [], [], []), (640, 480))
    text, s = _info(capsys, path)
    assert _field(text, "sensor size") == "640x480" and s["sensor_size"] == [640, 480]
    assert _field(text, "rate") == "n/a (no events)" and s["rate_ev_per_s"] is None
    assert _field(text, "polarity").startswith("n/a") and s["on_fraction"] is None


def test_info_of_an_empty_file_without_a_size_does_not_call_it_1x1(tmp_path, capsys):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 4)))
    text, s = _info(capsys, path)
    assert "1x1" not in text
    assert _field(text, "sensor size").startswith("unknown") and s["sensor_size"] is None
    assert s["sensor_size_inferred"] is True
    # a size given on the command line is the size
    text, s = _info(capsys, path, "--sensor-size", "32x24")
    assert _field(text, "sensor size") == "32x24" and s["sensor_size"] == [32, 24]


def test_the_time_unit_note_gives_the_true_reason(tmp_path):
    """Was "float ... t with fractional values" for an empty array and for whole numbers."""
    cases = {"empty": np.zeros((0, 4)), "whole": np.array([[1000.0, 3, 4, 1]])}
    cases["fraction"] = np.array([[0.5, 3, 4, 1]])
    reasons = {}
    for name, arr in cases.items():
        np.save(tmp_path / f"{name}.npy", arr)
        with open_events(tmp_path / f"{name}.npy") as r:
            reasons[name] = next(n for n in r.notes if n.startswith("time unit detected"))
    assert "no events" in reasons["empty"] and "fractional" not in reasons["empty"]
    assert "whole-number" in reasons["whole"] and "fractional" not in reasons["whole"]
    assert "with fractional values" in reasons["fraction"]


def test_info_rate_of_a_real_span_is_unchanged(tmp_path, capsys, small_events):
    path = write_events(tmp_path / "ev.h5", small_events, (64, 48))
    _, s = _info(capsys, path)
    span_s = (int(small_events["t"][-1]) + 1 - int(small_events["t"][0])) / 1e6
    assert s["rate_ev_per_s"] == pytest.approx(len(small_events) / span_s)
    two = write_events(tmp_path / "two.h5", make_events([0, 1], [0, 1], [10, 11], [0, 1]), (4, 4))
    _, s = _info(capsys, two)
    assert s["rate_ev_per_s"] == pytest.approx(2 / 2e-6)


# -- 3. tests/data/README.md on how EVT3 is read --------------------------------------------------


def test_data_readme_says_which_evt3_files_our_decoder_reads():
    from eventsim.io import evt3

    text = (Path(__file__).resolve().parent / "data" / "README.md").read_text()
    flat = " ".join(text.split())
    assert "decode all of these through faery" not in flat
    assert "eventsim/io/evt3.py" in flat and "faery_misreads" in flat
    assert callable(evt3.faery_misreads) and callable(evt3.read_evt3)


# -- 4. EXIF orientation: one rule for every image reader -----------------------------------------


def _pil():
    image = pytest.importorskip("PIL.Image")
    ops = pytest.importorskip("PIL.ImageOps")
    return image, ops


def _stored(h: int = 6, w: int = 10) -> np.ndarray:
    """An RGB image whose every pixel differs, so any rotation or flip shows."""
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path: Path, rgb: np.ndarray, orientation: int | None, **kw) -> Path:
    Image, _ = _pil()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, exif=exif.tobytes(), **kw)
    return path


def _upright(path: Path) -> np.ndarray:
    Image, ImageOps = _pil()
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".webp", ".jpg"])
def test_read_image_applies_exif_orientation_like_pillow(tmp_path, orientation, suffix):
    """simulate's reader (IMREAD_UNCHANGED) ignored the tag, OpenCV's colour read applies it."""
    kw = {"quality": 100, "subsampling": 0} if suffix == ".jpg" else {}
    kw = {"lossless": True} if suffix == ".webp" else kw
    path = _save(tmp_path / f"o{orientation}{suffix}", _stored(), orientation, **kw)
    assert sources.exif_orientation(path) == orientation
    assert sources.exif_orientation(path.read_bytes()) == orientation
    np.testing.assert_array_equal(sources.read_image(path), _upright(path))


def test_images_without_exif_orientation_read_as_before(tmp_path):
    rgb = _stored()
    for name, orientation in (("plain.png", None), ("upright.png", 1)):
        path = _save(tmp_path / name, rgb, orientation)
        np.testing.assert_array_equal(sources.read_image(path), rgb)
        np.testing.assert_array_equal(
            sources.read_image(path), cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
        )


def test_exif_orientation_of_what_has_none_is_upright(tmp_path):
    assert sources.exif_orientation(b"not an image") == 1
    assert sources.exif_orientation(tmp_path / "missing.png") == 1
    assert sources.exif_orientation(_save(tmp_path / "plain.jpg", _stored(), None)) == 1


@pytest.fixture
def rotated(tmp_path) -> tuple[Path, np.ndarray]:
    """A PNG stored 10 wide and 6 high, tagged to be shown turned 90 degrees clockwise."""
    path = _save(tmp_path / "rot6.png", _stored(), 6)
    upright = _upright(path)
    assert upright.shape == (10, 6, 3)
    return path, upright


def test_every_reader_agrees_on_a_rotated_image(tmp_path, rotated):
    """simulate --image/--pair/frame folders, the dataset builder's parquet bytes and epvlm run
    see the same upright pixels (events were simulated from the stored, sideways ones while
    epvlm run's frame was upright)."""
    from epvlm.cli import _read_image
    from eventsim.datasets.sources import SampleMaker

    path, upright = rotated
    single = sources.ImageMotionSource(path, "pan", duration_ms=20.0, fps=100.0, seed=0)
    assert single.sensor_size == (6, 10)
    pair = sources.PairSource(path, path)
    assert pair.sensor_size == (6, 10)
    np.testing.assert_array_equal(next(iter(pair))[0], upright)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.png").write_bytes(path.read_bytes())
    frames = sources.FolderSource(folder, fps=30.0)
    assert frames.sensor_size == (6, 10)
    np.testing.assert_array_equal(next(iter(frames))[0], upright)

    maker = SimpleNamespace(_parquet_image=lambda file, row: {"bytes": path.read_bytes()})
    maker._image_value = lambda spec: SampleMaker._image_value(maker, spec)
    spec = SimpleNamespace(record={"image": {"parquet_row": 0}}, provenance={"file": "x"})
    np.testing.assert_array_equal(SampleMaker._load_image(maker, spec), upright)
    spec_file = SimpleNamespace(record={"image": str(path)}, provenance={"file": "x"})
    maker_file = SimpleNamespace(_media_path=lambda spec, value: Path(value))
    maker_file._image_value = lambda spec: SampleMaker._image_value(maker_file, spec)
    np.testing.assert_array_equal(SampleMaker._load_image(maker_file, spec_file), upright)

    np.testing.assert_array_equal(_read_image(str(path)), upright)


def test_epvlm_run_composites_the_alpha_of_a_rotated_image_in_place(tmp_path):
    """The colour read was turned upright and the alpha read not: on a square image the
    transparent corner landed on the wrong pixels."""
    from epvlm.cli import _read_image

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[..., 3] = 255
    rgba[:2, :2, 3] = 0  # the stored top-left corner is transparent
    Image, _ = _pil()
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path, exif=exif.tobytes())
    rgb = _read_image(str(path))
    # shown turned clockwise, the stored top-left corner is the top-right one
    assert (rgb[:2, -2:] == 255).all() and (rgb[:2, :2] == 40).all()
    assert int((rgb == 255).all(axis=2).sum()) == 4


def test_simulate_image_uses_the_upright_picture(tmp_path, capsys, rotated):
    path, _ = rotated
    out = tmp_path / "ev.h5"
    rc = simulate_main(
        ["--image", str(path), "--motion", "pan", "--duration-ms", "20", "-o", str(out), "-q"]
    )
    assert rc == 0, capsys.readouterr().err
    with open_events(out) as r:
        assert r.sensor_size == (6, 10)


def test_exif_orientation_found_past_the_first_read(tmp_path):
    """The reader reads 64 KiB first and the rest of the first MiB only when the headers run on
    (large text/ICC chunks first, WebP's EXIF after its pixels, TIFF's directory at the end)."""
    Image, _ = _pil()
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    png_info = pytest.importorskip("PIL.PngImagePlugin").PngInfo()
    png_info.add_text("comment", "x" * 100_000)
    cases = {
        "big-text.png": {"pnginfo": png_info},
        "noisy.webp": {"lossless": True},
        "noisy.tif": {},
    }
    for name, kw in cases.items():
        path = tmp_path / name
        Image.fromarray(noisy).save(path, exif=exif.tobytes(), **kw)
        data = path.read_bytes()
        assert len(data) > sources._EXIF_FIRST_BYTES, name
        assert sources.exif_orientation(path) == 6, name
        assert sources.exif_orientation(data) == 6, name
