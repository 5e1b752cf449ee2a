"""Follow-ups to a review of epvlm: the eval lock in forked children, progress bars in logs,
epvlm run's image reader and the coverage note's count of one."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from epvlm.errors import ResultsFolderInUseError
from eventsim._locks import HAVE_FLOCK, try_lock

from user_media import tiff_bytes

needs_fork = pytest.mark.skipif(
    not HAVE_FLOCK or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs flock and fork",
)

# ----------------------------------------------------------------------------- 1: eval lock


def _run_until(running, done) -> None:
    running.set()
    done.wait(60)


@needs_fork
def test_a_child_forked_while_the_eval_lock_is_held_does_not_keep_it(tmp_path):
    """A child forked while `epvlm eval` held its lock (a DataLoader's workers) shared the
    locked file: after the eval let go, the child still held the lock, so a second eval that
    had opened the lock file meanwhile was refused as long as the child lived."""
    from epvlm.results import EVAL_LOCK, lock_results_folder

    out = tmp_path / "out"
    ctx = multiprocessing.get_context("fork")
    lock = lock_results_folder(out)
    running, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_run_until, args=(running, done))
    child.start()
    # the child closes its copies of the lock files as it starts, not in the fork itself
    assert running.wait(60)
    waiter = os.open(out / EVAL_LOCK, os.O_RDWR)  # a second eval about to try the lock
    try:
        lock.release()
        assert try_lock(waiter)
        with lock_results_folder(out):
            pass
    finally:
        done.set()
        child.join()
        os.close(waiter)
    assert child.exitcode == 0


@needs_fork
def test_a_forked_child_releasing_the_eval_lock_leaves_the_parents(tmp_path):
    """A child forked while the lock was held that released it (leaving a ``with`` block)
    removed the parent's lock file: a second eval then locked a new one and wrote into the
    folder beside the first."""
    from epvlm.results import EVAL_LOCK, lock_results_folder

    out = tmp_path / "out"
    lock = lock_results_folder(out)
    try:
        child = multiprocessing.get_context("fork").Process(target=lock.release)
        child.start()
        child.join()
        assert child.exitcode == 0
        assert (out / EVAL_LOCK).is_file()
        with pytest.raises(ResultsFolderInUseError, match=rf"\(pid {os.getpid()}\)"):
            lock_results_folder(out)
    finally:
        lock.release()
    assert not out.exists()  # the folder it created goes with it, as before


# ----------------------------------------------------------------------------- 2: progress bars


@pytest.mark.parametrize("command", ["eval", "demo"])
def test_progress_bars_are_drawn_only_on_a_terminal(tmp_path, monkeypatch, capsys, command):
    """`epvlm eval` and `epvlm demo` drew their bars into a log file or a pipe (a line per
    redraw) unless given --no-progress; eventsim's commands draw them only on a terminal."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    import epvlm.cli
    import epvlm.demo
    import epvlm.evaluate
    from epvlm.cli import main

    seen: list[bool] = []

    def fake_eval(*args, progress, **kwargs):
        seen.append(progress)
        return {"rows": []}

    def fake_demo(out, *, progress, **kwargs):
        seen.append(progress)
        summary = {"scenarios": {"moving": 1}, "scenario_field": "target_motion",
                   "n_questions": 1, "rows": [{}]}  # fmt: skip
        return SimpleNamespace(summary=summary, elapsed_s=1.0, report="r", results_json="j")

    monkeypatch.setattr(epvlm.evaluate, "evaluate_dataset", fake_eval)
    # no dataset to read: dataset.json is read before the evaluation only for what it settles
    monkeypatch.setattr(epvlm.cli, "_check_dataset", lambda args: None)
    monkeypatch.setattr(epvlm.demo, "run_demo", fake_demo)
    out = str(tmp_path / "out")
    if command == "eval":
        # a real checkpoint folder: eval checks it before the (faked) evaluation
        model = str(epvlm.demo.DEFAULT_MODEL)
        argv = ["eval", "--model", model, "--dataset", str(tmp_path), "-o", out]
    else:
        argv = ["demo", "-o", out, "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    assert main([*argv, "--no-progress"]) == 0
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    assert main([*argv, "--no-progress"]) == 0
    assert seen == [False, False, True, False]


# ----------------------------------------------------------------------------- 3: epvlm run's images


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """8-bit RGBA whose alpha is 0 or 255 as an RGB image on white."""
    return np.where(rgba[..., 3:] == 255, rgba[..., :3], 255).astype(np.uint8)


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_a_quarter_turned_tiff_is_read_upright_by_epvlm_run(tmp_path, orientation):
    """OpenCV 5's imread fails on a non-square TIFF tagged 5..8, so `epvlm run --image` called
    it "not an image OpenCV can decode" where `eventsim simulate` reads it; it now reads it
    as simulate does, its alpha blended onto white where it stands upright."""
    from epvlm.cli import _read_image
    from eventsim.simulator.sources import apply_exif_orientation, read_image

    rng = np.random.default_rng(orientation)
    rgb = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = tmp_path / "turned.tif"
    path.write_bytes(tiff_bytes(rgb, orientation=orientation))
    upright = apply_exif_orientation(rgb, orientation)
    assert upright.shape == (10, 6, 3)
    np.testing.assert_array_equal(_read_image(str(path)), upright)
    np.testing.assert_array_equal(read_image(path), upright)

    rgba = np.concatenate([rgb, np.zeros((6, 10, 1), np.uint8)], axis=2)
    rgba[:2, :3, 3] = 255  # opaque in the stored top-left corner only
    path.write_bytes(tiff_bytes(rgba, orientation=orientation))
    expected = _on_white(apply_exif_orientation(rgba, orientation))
    np.testing.assert_array_equal(_read_image(str(path)), expected)


def test_a_tiff_with_alpha_that_only_pillow_decodes_is_read_with_its_transparency(tmp_path):
    """A TIFF whose compression OpenCV lacks is read by Pillow (through `decode_image`); with
    transparency it was refused in one line. `decode_image` now blends it onto white itself,
    as it blends the same image as PNG."""
    pytest.importorskip("PIL")
    import cv2

    from epvlm.cli import _read_image
    from eventsim.simulator.sources import apply_exif_orientation

    rgba = np.random.default_rng(2).integers(0, 256, (6, 10, 4), dtype=np.uint8)
    path = tmp_path / "lzma.tif"
    path.write_bytes(tiff_bytes(rgba, orientation=6, compression=34925))
    if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None:
        pytest.skip("this OpenCV decodes LZMA TIFFs")
    png = tmp_path / "same.png"
    assert cv2.imwrite(str(png), apply_exif_orientation(rgba, 6)[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(_read_image(str(path)), _read_image(str(png)))
    path.write_bytes(tiff_bytes(rgba[..., :3], orientation=6, compression=34925))
    upright = apply_exif_orientation(rgba[..., :3], 6)
    np.testing.assert_array_equal(_read_image(str(path)), upright)


def test_16_bit_and_float_images_keep_the_high_byte(tmp_path):
    """16-bit images give epvlm run the high byte of each sample, as PIL (and so stock
    transformers) reads them; OpenCV's colour read rounded a colour TIFF's by value / 257
    instead (one level off in places). Float TIFFs, refused before, are read with 1.0 white."""
    import cv2

    from epvlm.cli import _read_image

    rgb16 = np.random.default_rng(3).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    for suffix in (".png", ".tif"):
        path = tmp_path / f"deep{suffix}"
        assert cv2.imwrite(str(path), rgb16[..., ::-1])
        np.testing.assert_array_equal(_read_image(str(path)), (rgb16 >> 8).astype(np.uint8))
    grey = np.array([[0.0, 1.0, 2.0, -1.0]], np.float32)
    path = tmp_path / "float.tif"
    assert cv2.imwrite(str(path), grey)
    np.testing.assert_array_equal(_read_image(str(path))[0, :, 0], [0, 255, 255, 0])


# Both commands run in one process of their own (a crash there fails these tests, not the whole
# session) that pays the torch and transformers import once; each prints its exit status after
# its output.
_RUN_EACH = """
import sys
from epvlm.cli import main

for argv in {argvs!r}:
    rc = main(argv)
    print("\\n--- exit status", rc, flush=True)
"""
_QUESTION = "what colour is the square"


@pytest.fixture(scope="module")
def not_utf8_runs(
    tmp_path_factory,
) -> tuple[dict[str, Path], dict[str, tuple[int, str]], subprocess.CompletedProcess[str]]:
    """`epvlm run` reading an image whose name is not UTF-8 (case "read") and writing an overlay
    whose name is not UTF-8 (case "overlay"), each in a folder of its own beside a tiny
    checkpoint: ({case: folder}, {case: (exit status, stdout)} of the commands that returned,
    the finished process)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import cv2

    from epvlm.processing import vocab_from_texts
    from epvlm.tiny import save_tiny_checkpoint

    root = tmp_path_factory.mktemp("not-utf8")
    folders: dict[str, Path] = {}
    argvs = []
    for case in ("read", "overlay"):
        folder = folders[case] = root / case
        folder.mkdir()
        model = save_tiny_checkpoint(folder / "model", vocab_from_texts([_QUESTION]), seed=0)
        if case == "read":
            image = os.fsdecode(os.fsencode(folder) + b"/frame\xff.png")
            ok, png = cv2.imencode(".png", np.full((56, 56, 3), 90, np.uint8))
            assert ok
            with open(image, "wb") as fh:
                fh.write(png.tobytes())
            extra = ["--json"]
        else:
            image = str(folder / "frame.png")
            assert cv2.imwrite(image, np.full((56, 56, 3), 90, np.uint8))
            extra = ["--overlay", os.fsdecode(os.fsencode(folder) + b"/mask\xff.png")]
        argv = ["run", "--model", str(model), "--image", image, "--question", _QUESTION]
        argvs.append([*argv, "--selector", "dense", *extra])
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_EACH.format(argvs=argvs)],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=600,
    )
    parts = re.split(r"\n--- exit status (-?\d+)\n", proc.stdout)
    done = {case: (int(rc), out) for case, out, rc in zip(folders, parts[::2], parts[1::2])}
    return folders, done, proc


def test_epvlm_run_reads_an_image_whose_name_is_not_utf8(not_utf8_runs):
    """cv2.imread killed `epvlm run` (exit 139, no message) on a file name that is not
    UTF-8; it is read as `eventsim simulate` reads it."""
    _, done, proc = not_utf8_runs
    assert proc.returncode == 0 and done.get("read", (None,))[0] == 0, proc.stderr
    assert json.loads(done["read"][1])["kept_tokens"] == 4  # 56x56 pixels: 2x2 merged patches


def test_epvlm_run_writes_an_overlay_whose_name_is_not_utf8(not_utf8_runs):
    """cv2.imwrite killed `epvlm run --overlay` (exit 139) on a file name that is not UTF-8,
    after the model had answered; the overlay is encoded in memory and written by Python."""
    import cv2

    folders, done, proc = not_utf8_runs
    assert proc.returncode == 0 and done.get("overlay", (None,))[0] == 0, proc.stderr
    folder = folders["overlay"]
    overlay = os.fsdecode(os.fsencode(folder) + b"/mask\xff.png")
    with open(overlay, "rb") as fh:
        png = np.frombuffer(fh.read(), np.uint8)
    assert cv2.imdecode(png, cv2.IMREAD_COLOR).shape[2] == 3
    assert sorted(os.listdir(folder)) == sorted(["model", "frame.png", os.path.basename(overlay)])


# ----------------------------------------------------------------------------- 4: coverage note


def test_coverage_on_the_first_question_reads_in_the_singular():
    """The demo report said "target coverage on the first 1 of the 5 questions"."""
    from epvlm.demo.analysis import coverage_scope

    assert coverage_scope(1, 5) == "the first question of the 5"
    assert coverage_scope(2, 5) == "the first 2 of the 5 questions"
    assert coverage_scope(5, 5) == "all 5 questions"
    assert coverage_scope(1, 1) == "the 1 question"
