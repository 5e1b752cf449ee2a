"""Follow-ups of two reviews of `epvlm`: the event selector's centre fallback counted per
results row, devices a machine lacks refused before a model loads, `epvlm run` without the
latency warm-up unless asked, `epvlm demo --device/--dtype`, the signed map's fallback said as
it is, the keep message, a float8 dtype from Python, the lock's errors in `epvlm.errors` and a
read-only results folder refused for its results first."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import epvlm.evaluate  # noqa: E402
from epvlm.cli import build_demo_parser, build_eval_parser, build_run_parser, main  # noqa: E402
from epvlm.results import EVAL_LOCK, aggregate, results_table  # noqa: E402
from eventsim.errors import ParameterError  # noqa: E402
from eventsim.events import EVENT_DTYPE  # noqa: E402

N_SAMPLES = 4


@pytest.fixture(scope="module")
def setup(eval_setup, tmp_path_factory):
    """(root, dataset, tiny checkpoint, samples) of a 4-sample split."""
    return eval_setup(tmp_path_factory.mktemp("review4"), N_SAMPLES)


@pytest.fixture
def two_gpus(monkeypatch):
    """torch as it is on a machine with two CUDA devices (none is touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _run_files(setup, tmp_path: Path, events: np.ndarray | None = None) -> list[str]:
    """`epvlm run` arguments answering the split's first question about its frame, with its
    events or ``events``."""
    import cv2

    from eventsim.io import write_events

    _, _, model, samples = setup
    s = samples[0]
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR))
    path = tmp_path / "events.h5"
    write_events(path, s["events"] if events is None else events, s["meta"]["sensor_size"])
    return [
        "run", "--model", str(model), "--image", str(image), "--events", str(path),
        "--question", s["question"], "--choices", ",".join(s["choices"]), "--keep", "0.25",
    ]  # fmt: skip


# ------------------------------------------------------------------ 1. fallbacks per row


def _answers(selector: str, keep: float, fallbacks: int, n: int = 5) -> list[dict]:
    return [
        {
            "id": f"s{i}",
            "selector": selector,
            "keep": keep,
            "correct": i % 2 == 0,
            "flops": 10.0 if selector == "dense" else 5.0,
            "latency_s": 0.01,
            "kept_tokens": 4,
            "total_tokens": 16,
            "fallback": "center" if i < fallbacks else None,
        }
        for i in range(n)
    ]


def test_rows_count_the_event_selectors_fallbacks_and_the_table_says_so():
    rows = aggregate(
        [*_answers("dense", 1.0, 0), *_answers("event", 0.5, 2), *_answers("event", 0.25, 0)],
        bootstrap=False,
    )
    by = {(r["selector"], r["keep"]): r for r in rows}
    assert by[("dense", 1.0)]["fallbacks"] == 0
    assert by[("event", 0.5)]["fallbacks"] == 2
    assert by[("event", 0.25)]["fallbacks"] == 0
    table = results_table(rows)
    notes = [line for line in table.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: event at keep 0.5: 2 of 5 answers fell back to the center selection (no event "
        "signal in the sample's window), so they measure center, not the event prior."
    ]
    # no note when nothing fell back (and for rows written before the field existed)
    quiet = [{k: v for k, v in r.items() if k != "fallbacks"} for r in rows]
    assert "Note:" not in results_table(quiet)
    assert "Note:" not in results_table([r for r in rows if r["keep"] != 0.5])


def test_eval_writes_the_fallback_count_to_results_and_table(setup, tmp_path):
    """A 1 µs window leaves (nearly) every question without events: the event row says how
    many of its answers were really `center`."""
    _, ds, model, _ = setup
    out = tmp_path / "eval"
    argv = [
        "eval", "--model", str(model), "--dataset", str(ds), "--selector", "event",
        "--keep", "0.5", "--window-ms", "0.001", "--no-progress", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    event = next(r for r in rows if r["selector"] == "event")
    fell_back = sum(1 for s in samples if s["selector"] == "event" and s["fallback"])
    assert event["fallbacks"] == fell_back >= 1
    assert next(r for r in rows if r["selector"] == "dense")["fallbacks"] == 0
    assert (
        f"{fell_back} of {N_SAMPLES} answers fell back to the center selection"
        in (out / "table.md").read_text()
    )


# ----------------------------------------------------------- 2. devices the machine lacks


def test_a_cuda_index_the_machine_lacks_is_refused_naming_the_devices(two_gpus):
    from epvlm.evaluate import resolve_device

    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(ParameterError) as info:
        resolve_device("cuda:5")
    text = str(info.value)
    assert "'cuda:5'" in text and "2 CUDA devices" in text
    assert "available here: auto, cpu, cuda:0, cuda:1" in text and "\n" not in text
    with pytest.raises(ParameterError, match=r"'mps' is not supported.*cuda:0, cuda:1\)"):
        resolve_device("mps")


def test_cuda_without_a_gpu_names_what_there_is(no_gpu):
    from epvlm.evaluate import available_devices, resolve_device

    assert available_devices() == ["cpu"]
    for device in ("cuda", "cuda:0"):
        with pytest.raises(
            ParameterError, match=r"CUDA is not available \(available here: auto, cpu\)"
        ):
            resolve_device(device)


def test_run_refuses_a_missing_gpu_before_the_model_loads(
    setup, tmp_path, two_gpus, monkeypatch, capsys
):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(epvlm.evaluate, "load_model", no_loading)
    assert main([*_run_files(setup, tmp_path), "--device", "cuda:5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda:5 " in err and "cuda:0, cuda:1" in err


def test_load_pretrained_model_refuses_a_missing_gpu_before_reading_weights(setup, two_gpus):
    from epvlm.loading import load_pretrained_model

    with pytest.raises(ParameterError, match="'cuda:5' does not exist"):
        load_pretrained_model(setup[2], device="cuda:5")


# ------------------------------------------------------------------- 3. run's warm-up


def test_run_warms_up_only_when_asked_and_answers_the_same(setup, tmp_path, monkeypatch, capsys):
    calls: list[int] = []
    load = epvlm.evaluate.load_model

    def counting(*args, **kwargs):
        model, proc = load(*args, **kwargs)
        generate = model.generate

        def counted(**kw):
            calls.append(kw["max_new_tokens"])
            return generate(**kw)

        model.generate = counted
        return model, proc

    monkeypatch.setattr(epvlm.evaluate, "load_model", counting)
    argv = _run_files(setup, tmp_path)
    assert main([*argv, "--json"]) == 0
    cold = json.loads(capsys.readouterr().out)
    assert len(calls) == 1 and calls[0] > 1  # the answer alone, no untimed prefill
    assert cold["warm_up"] is False
    calls.clear()
    assert main([*argv, "--json", "--warm-up"]) == 0
    warm = json.loads(capsys.readouterr().out)
    assert calls[0] == 1 and len(calls) == 2  # the untimed prefill, then the answer
    assert warm["warm_up"] is True
    same = ("answer", "raw_output", "kept_indices", "flops")
    assert {k: warm[k] for k in same} == {k: cold[k] for k in same}
    assert main(argv) == 0
    assert "ms (cold first call, start-up costs included; --warm-up for a warm one)" in (
        capsys.readouterr().out
    )
    assert main([*argv, "--warm-up"]) == 0
    latency = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("latency:")]
    assert latency and latency[0].endswith(" ms")


# ------------------------------------------------------------ 4. demo --device / --dtype


def _option(parser, name: str):
    return next(a for a in parser._actions if name in a.option_strings)


def test_demo_has_evals_device_and_dtype_options():
    demo, eval_, run = build_demo_parser(), build_eval_parser(), build_run_parser()
    for name in ("--device", "--dtype"):
        mine = _option(demo, name)
        for other in (_option(eval_, name), _option(run, name)):
            assert mine.choices == other.choices
            if name == "--device":
                assert (mine.default, mine.help) == (other.default, other.help)
    # the demo's own default: float32 on any device, as its documented figures were made
    assert _option(demo, "--dtype").default == "float32"
    assert _option(eval_, "--dtype").default == _option(run, "--dtype").default == "auto"


def test_demo_passes_device_and_dtype_on_and_checks_the_device_first(
    tmp_path, monkeypatch, capsys, two_gpus
):
    import epvlm.demo

    seen: dict = {}

    def fake_demo(out, **kwargs):
        seen.update(kwargs)
        summary = {"scenarios": {}, "scenario_field": "target_motion", "n_questions": 0, "rows": []}
        return SimpleNamespace(summary=summary, elapsed_s=0.0, report="r", results_json="j")

    monkeypatch.setattr(epvlm.demo, "run_demo", fake_demo)
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--device", "cuda:1", "--dtype", "float16"]) == 0
    capsys.readouterr()
    assert seen["device"] == "cuda:1" and seen["dtype"] == "float16"
    assert "--device cuda:1 --dtype float16" in seen["command"]
    seen.clear()
    assert main(["demo", "-o", str(out), "--device", "cuda:5"]) == 1
    assert "--device cuda:5 " in capsys.readouterr().err and not seen
    assert main(["demo", "-o", str(out), "--dtype", "float8_e4m3fn"]) == 2


def test_run_demo_checks_the_device_before_building(tmp_path, two_gpus):
    from epvlm.demo import run_demo

    out = tmp_path / "demo"
    with pytest.raises(ParameterError, match="'cuda:5' does not exist"):
        run_demo(out, device="cuda:5", progress=False)
    assert not out.exists()


# ---------------------------------------------------------- 5. signed map that cancels


def _cancelling_events(n: int = 20) -> np.ndarray:
    """An ON and an OFF event at each of ``n`` pixels."""
    ev = np.zeros(2 * n, EVENT_DTYPE)
    ev["x"] = np.repeat(30 + np.arange(n), 2)
    ev["y"] = 50
    ev["t"] = np.arange(2 * n)
    ev["p"] = np.tile([1, 0], n)
    return ev


def test_signed_events_that_cancel_fall_back_saying_so():
    from epvlm.prior import select_blocks

    image = np.zeros((112, 112, 3), np.uint8)
    args = {"keep": 0.25, "grid": (4, 4), "sensor_size": (112, 112)}
    signed = select_blocks("event", image, events=_cancelling_events(), mode="signed", **args)
    assert signed.fallback == "center"
    assert signed.fallback_reason is not None
    assert "signed event mass is zero everywhere" in signed.fallback_reason
    assert "40 ON and OFF events cancel at every pixel" in signed.fallback_reason
    assert select_blocks("event", image, events=_cancelling_events(), **args).fallback is None
    empty = select_blocks("event", image, events=np.zeros(0, EVENT_DTYPE), mode="signed", **args)
    assert empty.fallback_reason == "no events in the window"
    # events outside the window are not in it, whatever their polarity
    late = select_blocks(
        "event", image, events=_cancelling_events(), mode="signed", window_us=(100, 200), **args
    )
    assert late.fallback_reason == "no events in the window"


def test_run_says_the_signed_mass_is_zero(setup, tmp_path, capsys):
    argv = _run_files(setup, tmp_path, _cancelling_events())
    assert main([*argv, "--event-mode", "signed"]) == 0
    out = capsys.readouterr().out
    assert "the signed event mass is zero everywhere" in out and "fell back to center" in out
    assert "no events in the window" not in out


# ------------------------------------------------------------------ 6. keep message


def test_a_single_keep_out_of_range_is_one_fraction(capsys):
    argv = ["--model", "m", "--image", "i.png", "--question", "q", "--keep", "1.2"]
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert "keep fraction '1.2' must lie in (0, 1]" in err and "fractions" not in err
    assert main(["eval", "--model", "m", "--dataset", "d", "--keep", "0.5,1.2"]) == 2
    assert "keep fraction 1.2 in '0.5,1.2' must lie in (0, 1]" in capsys.readouterr().err
    assert main(["eval", "--model", "m", "--dataset", "d", "--keep", ","]) == 2
    assert "keep list ',' holds no number" in capsys.readouterr().err


# ------------------------------------------------------------ 7. float8 from Python


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", torch.float8_e4m3fn, torch.float64])
def test_load_pretrained_model_refuses_other_dtypes_in_one_line(setup, dtype):
    from epvlm.loading import load_pretrained_model

    with pytest.raises(ParameterError) as info:
        load_pretrained_model(setup[2], dtype=dtype)
    text = str(info.value)
    assert "\n" not in text and "'float32', 'bfloat16', 'float16'" in text
    model = load_pretrained_model(setup[2], dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16


# ---------------------------------------------------------- 8. errors in epvlm.errors


def test_lock_errors_live_in_epvlm_errors(tmp_path):
    from epvlm.errors import FolderLockWarning, ResultsFolderInUseError, ResultsFolderLockError
    from epvlm.results import lock_results_folder

    for cls in (FolderLockWarning, ResultsFolderInUseError, ResultsFolderLockError):
        assert cls.__module__ == "epvlm.errors"
    # flock locks belong to an open file: a second one in this process is refused too
    with lock_results_folder(tmp_path / "out"):
        with pytest.raises(ResultsFolderInUseError, match="is in use by another epvlm eval"):
            lock_results_folder(tmp_path / "out")


# ------------------------------------------------------------ 9. read-only results folder


@pytest.fixture
def read_only_lock(monkeypatch):
    """The lock file cannot be created, as in a read-only folder (the tests may run as root,
    whom file modes do not stop)."""
    real = os.open

    def refuse(path, flags, *args, **kwargs):
        if str(path).endswith(EVAL_LOCK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)


def test_read_only_folder_with_results_is_refused_for_them(setup, tmp_path, read_only_lock, capsys):
    _, ds, model, _ = setup
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.json").write_text("[]\n")
    argv = ["eval", "--model", str(model), "--dataset", str(ds), "--no-progress", "-o", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{str(out / 'results.json')!r} exists; pass --force to overwrite" in err
    # with --force the results are no reason: the lock file is, named with its folder
    assert main([*argv, "--force"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"cannot create the lock file {EVAL_LOCK} in results folder {str(out)!r}" in err
    assert os.strerror(errno.EACCES) in err
    assert (out / "results.json").read_text() == "[]\n"


def test_lock_error_removes_the_folder_it_created(tmp_path, read_only_lock):
    from epvlm.errors import ResultsFolderLockError
    from epvlm.results import lock_results_folder

    with pytest.raises(ResultsFolderLockError, match="cannot create the lock file"):
        lock_results_folder(tmp_path / "new" / "out")
    assert not (tmp_path / "new").exists()
