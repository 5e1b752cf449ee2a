"""The event window of `epvlm eval` and `epvlm run`: never longer than the events stored, and
recorded in results.json with the other settings table.md states."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


from epvlm.cli import main
from epvlm.evaluate import stored_window_ms
from eventsim.errors import ParameterError

WINDOW_MS = 20  # the [events] window_ms of the dataset built here


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("eval-window"), 2, f"events.window_ms={WINDOW_MS}")


def _eval_argv(model, ds_dir, out, *extra):
    return ["eval", "--model", str(model), "--dataset", str(ds_dir), "--keep", "0.5",
            "--selector", "event", "--no-progress", "-o", str(out), *extra]  # fmt: skip


def test_stored_window_limits_the_request():
    records = [
        {"id": "a", "frame_t_us": 60_000, "window_us": [0, 60_000]},
        {"id": "b", "frame_t_us": 90_000, "window_us": [50_000, 90_000]},  # a shorter clip
    ]
    assert stored_window_ms(None, records, 60_000, "ds") == 60.0
    assert stored_window_ms(40, records, 60_000, "ds") == 40.0
    assert stored_window_ms(60, records[:1], 60_000, "ds") == 60.0
    with pytest.raises(ParameterError, match=r"200 ms is longer than the 60 ms .*'ds'") as err:
        stored_window_ms(200, records, 60_000, "ds")
    assert "[events] window_ms >= 200" in str(err.value)
    with pytest.raises(ParameterError, match=r"40 ms of events sample 'b'.*window is 60 ms"):
        stored_window_ms(50, records, 60_000, "ds")
    with pytest.raises(ParameterError, match="must be a number > 0"):
        stored_window_ms(0, records, 60_000, "ds")


def test_eval_refuses_a_longer_window_before_loading(built, capsys, monkeypatch):
    import epvlm.evaluate

    root, ds_dir, model_dir, _ = built
    out = root / "refused"

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    # the window is refused before the model loads (a --model that does not exist is refused
    # before anything else is read)
    monkeypatch.setattr(epvlm.evaluate, "load_model", no_loading)
    assert main(_eval_argv(model_dir, ds_dir, out, "--window-ms", "200")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("epvlm eval: error: event window 200 ms")
    assert f"the {WINDOW_MS} ms of events" in err and "window_ms >= 200" in err
    assert not out.exists()


@pytest.mark.slow
def test_eval_records_its_settings(built, capsys):
    root, ds_dir, model_dir, _ = built
    common = {
        "model": str(model_dir),
        "dataset": str(ds_dir),
        "split": "test",
        "dataset_window_ms": WINDOW_MS,
        "rule": "quantile",
        "event_mode": "signed",
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 2,
        "seed": 3,
    }
    extra = ("--rule", "quantile", "--event-mode", "signed", "--batch-size", "2", "--seed", "3",
             "--device", "cpu", "--dtype", "float32")  # fmt: skip
    for window, used in ((None, WINDOW_MS), ("5", 5)):
        out = root / f"eval-{window}"
        argv = _eval_argv(model_dir, ds_dir, out, *extra)
        assert main(argv + (["--window-ms", window] if window else [])) == 0
        capsys.readouterr()
        rows = json.loads((out / "results.json").read_text())
        assert [(r["selector"], r["keep"]) for r in rows] == [("dense", 1.0), ("event", 0.5)]
        for row in rows:
            assert {k: row[k] for k in common} == common
            assert row["window_ms"] == used
            assert row["max_new_tokens"] >= 1
        table = (out / "table.md").read_text()
        assert f"events of the {used} ms before each frame" in table
        assert "event rule quantile, event map signed" in table


def _events_file(path, first_us, last_us, sensor=(112, 112)):
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    ev = np.zeros(200, EVENT_DTYPE)
    ev["t"] = np.linspace(first_us, last_us, ev.size).astype(np.int64)
    ev["x"] = np.arange(ev.size) % 28
    ev["y"] = np.arange(ev.size) % 28
    write_events(path, ev, sensor_size=sensor)
    return path


def _run_argv(model, root, events, *extra):
    import cv2

    image = root / "frame.png"
    cv2.imwrite(str(image), np.full((112, 112, 3), 128, np.uint8))
    return ["run", "--model", str(model), "--image", str(image), "--events", str(events),
            "--question", "what shape is moving", "--choices", "circle,square", *extra]  # fmt: skip


def test_run_notes_a_window_that_starts_before_the_first_event(built, tmp_path, capsys):
    # a file cannot say whether its recording began before its first event (a simulated one
    # starts at its first frame): the window is taken, cut there, and the cut is said
    _, _, model_dir, _ = built
    events = _events_file(tmp_path / "short.h5", 10_000, 69_999)  # 60 ms of events
    argv = _run_argv(model_dir, tmp_path, events, "--window-ms", "200", "--json")
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["event_window_us"] == [10_000, 70_000]
    assert "200 ms event window starts before the first event" in captured.err
    assert "holds 60 ms of events" in captured.err
    argv = _run_argv(
        model_dir, tmp_path, events, "--frame-time-us", "39999", "--window-ms", "50", "--json"
    )
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["event_window_us"] == [10_000, 40_000]
    assert "holds 30 ms of events" in captured.err
    # inside the recording: no note
    argv = _run_argv(
        model_dir, tmp_path, events, "--frame-time-us", "69999", "--window-ms", "60", "--json"
    )
    assert main(argv) == 0
    assert "note" not in capsys.readouterr().err


def test_run_cuts_the_default_window_at_the_first_event(built, tmp_path, capsys):
    _, _, model_dir, _ = built
    events = _events_file(tmp_path / "late.h5", 20_000, 200_000)
    argv = _run_argv(model_dir, tmp_path, events, "--frame-time-us", "49999", "--json")
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["event_window_us"] == [20_000, 50_000]
    assert "50 ms event window starts before the first event" in captured.err
    assert "holds 30 ms of events" in captured.err
