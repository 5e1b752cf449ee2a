"""`epvlm run` refuses bad inputs before the model runs: overlay names OpenCV cannot write,
invalid event files, empty answer options; dense says what it kept; ``python -m epvlm``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from epvlm.cli import main

QUESTION = "what colour is the square"
CHOICES = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny checkpoint, a 112x112 image (16 image tokens) and events over it."""
    import cv2

    from epvlm.processing import vocab_from_texts
    from epvlm.tiny import save_tiny_checkpoint
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    root = tmp_path_factory.mktemp("epvlm-run-inputs")
    model = save_tiny_checkpoint(root / "model", vocab_from_texts([QUESTION, *CHOICES]), seed=0)
    rng = np.random.default_rng(0)
    image = root / "frame.png"
    cv2.imwrite(str(image), rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))
    ev = np.zeros(400, EVENT_DTYPE)
    ev["t"] = np.arange(400) * 100
    ev["x"] = rng.integers(0, 112, 400)
    ev["y"] = rng.integers(0, 112, 400)
    ev["p"] = rng.integers(0, 2, 400)
    events = root / "events.h5"
    write_events(events, ev, sensor_size=(112, 112))
    return root, model, image, events


def _argv(model, image, *extra):
    return ["run", "--model", str(model), "--image", str(image), "--question", QUESTION, *extra]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("epvlm run: error: ") and err.count("\n") == 1, err
    return err


def _damaged(src, dst, what: str):
    """A copy of the event file ``src`` whose events break one rule of the format."""
    import shutil

    import h5py

    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        if what == "polarity":
            p = f["events/p"][()]
            p[0] = 5
            f["events/p"][...] = p
        else:
            t = f["events/t"][()]
            t[200], t[201] = t[201] + 5, t[200]
            f["events/t"][...] = t
    return dst


@pytest.mark.parametrize("name", ["mask.xyz", "mask", "mask.gif"])
def test_overlay_extension_refused_before_the_model_loads(files, tmp_path, capsys, name):
    _, _, image, _ = files
    overlay = tmp_path / "sub" / name
    # a missing model: the overlay name must be refused first
    argv = _argv(tmp_path / "no-model", image, "--selector", "dense", "--overlay", str(overlay))
    assert main(argv) == 1
    err = _one_error_line(capsys)
    assert repr(str(overlay)) in err and ".png" in err and ".jpg" in err
    assert "model" not in err
    assert not overlay.parent.exists()


def test_overlay_in_any_listed_format_and_not_overwritten(files, tmp_path, capsys):
    import cv2

    _, model, image, _ = files
    overlay = tmp_path / "new" / "mask.JPG"
    argv = _argv(model, image, "--selector", "center", "--overlay", str(overlay), "--json")
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    # the image's width, and the kept/dropped legend below it (tests/test_epvlm_cli_walk348.py)
    drawn = cv2.imread(str(overlay)).shape
    assert drawn[1:] == (112, 3) and drawn[0] > 112
    # existing output: refused before the model loads unless --force
    argv[2] = str(tmp_path / "no-model")
    assert main(argv) == 1
    assert "exists" in _one_error_line(capsys)
    argv[2] = str(model)
    assert main([*argv, "--force"]) == 0


def test_overlay_write_failure_is_one_line(files, tmp_path, capsys, monkeypatch):
    import cv2

    _, model, image, _ = files

    def failing_imencode(*args, **kwargs):
        raise cv2.error("OpenCV(5.0.0) x.cpp:1: error: (-2:Unspecified error) cannot encode\n")

    monkeypatch.setattr(cv2, "imencode", failing_imencode)
    overlay = tmp_path / "mask.png"
    assert main(_argv(model, image, "--selector", "dense", "--overlay", str(overlay))) == 1
    err = _one_error_line(capsys)
    assert "cannot write overlay" in err and "cannot encode" in err
    assert list(tmp_path.iterdir()) == []  # no temporary left behind
    monkeypatch.setattr(cv2, "imencode", lambda *a, **k: (False, None))
    assert main(_argv(model, image, "--selector", "dense", "--overlay", str(overlay))) == 1
    assert "cannot write overlay" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("what", "says"), [("polarity", "polarity p[0] = 5"), ("unsorted", "not sorted: t[201]")]
)
def test_invalid_events_refused(files, tmp_path, capsys, what, says):
    _, model, image, events = files
    bad = _damaged(events, tmp_path / f"{what}.h5", what)
    assert main(_argv(model, image, "--events", str(bad))) == 1
    err = _one_error_line(capsys)
    assert "invalid events" in err and says in err and str(bad) in err
    # the valid original still runs
    assert main(_argv(model, image, "--events", str(events), "--json")) == 0


def test_empty_choice_refused(files, capsys):
    _, model, image, _ = files
    for value in ("a,,b", "a,b,", " , "):
        assert main(_argv(model, image, "--selector", "dense", "--choices", value)) == 2
        err = capsys.readouterr().err
        assert "empty option" in err and repr(value) in err and err.count("\n") == 1, err
    # blank is refused (tests/test_epvlm_cli_walk348.py); spaces around options are trimmed
    assert main(_argv(model, image, "--selector", "dense", "--choices", " red , blue")) == 0


def test_dense_reports_what_it_kept(files, capsys):
    _, model, image, _ = files
    assert main(_argv(model, image, "--selector", "dense", "--keep", "0.5")) == 0
    captured = capsys.readouterr()
    assert "16 of 16 image tokens kept (dense, keep 1)" in captured.out
    assert "dense selector keeps every token; --keep 0.5 does not apply" in captured.err
    assert main(_argv(model, image, "--selector", "dense", "--json")) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["keep"] == 1.0 and result["kept_tokens"] == result["total_tokens"] == 16
    assert captured.err == ""  # no --keep given: nothing to say
    # the other selectors keep the fraction asked for
    assert main(_argv(model, image, "--selector", "center", "--keep", "0.25")) == 0
    assert "4 of 16 image tokens kept (center, keep 0.25)" in capsys.readouterr().out


def test_python_m_epvlm():
    proc = subprocess.run(
        [sys.executable, "-m", "epvlm", "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("epvlm ")
    proc = subprocess.run(
        [sys.executable, "-m", "epvlm", "nope"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "unknown command 'nope'" in proc.stderr
