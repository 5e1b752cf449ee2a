"""End to end: a dataset built by `eventsim build`, a tiny checkpoint, `epvlm eval|run|flops`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


from epvlm.cli import main
from epvlm.processing import normalize_answer

N_SAMPLES = 4


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("epvlm-e2e"), N_SAMPLES)


def test_eval_end_to_end(built, capsys):
    root, ds_dir, model_dir, samples = built
    out = root / "eval"
    argv = [
        "eval",
        "--model",
        str(model_dir),
        "--dataset",
        str(ds_dir),
        "--keep",
        "0.5,0.25",
        "--selector",
        "event,random,downsample,center",
        "--batch-size",
        "3",
        "--no-progress",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    assert "accuracy" in capsys.readouterr().out
    rows = json.loads((out / "results.json").read_text())
    keys = [(r["selector"], r["keep"]) for r in rows]
    assert keys[0] == ("dense", 1.0) and len(keys) == 1 + 4 * 2
    for r in rows:
        for field in (
            "n",
            "accuracy",
            "accuracy_vs_dense",
            "flops",
            "flops_vs_dense",
            "prefill_flops",
            "prefill_flops_vs_dense",
            "latency_s",
            "per_type",
        ):
            assert field in r
        # decoding costs the same for every selection: leaving it out lowers the ratio
        assert r["prefill_flops_vs_dense"] <= r["flops_vs_dense"]
        assert r["n"] == N_SAMPLES
        assert 0.0 <= r["accuracy"] <= 1.0
        assert set(r["per_type"]) == {s["question_type"] for s in samples}
    by_key = dict(zip(keys, rows))
    assert by_key[("dense", 1.0)]["flops_vs_dense"] == 1.0
    assert (
        by_key[("event", 0.25)]["flops_vs_dense"] < by_key[("event", 0.5)]["flops_vs_dense"] < 1.0
    )
    # top-k selectors keep the exact budget: 16 tokens at 112 px
    assert by_key[("event", 0.5)]["kept_tokens"] == by_key[("random", 0.5)]["kept_tokens"] == 8

    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == N_SAMPLES * len(rows)
    motions = {s["id"]: s["meta"]["target_motion"] for s in samples}
    for line in lines:
        rec = json.loads(line)
        assert rec["correct"] == (
            normalize_answer(rec["prediction"]) == normalize_answer(rec["answer"])
        )
        assert rec["target_motion"] == motions[rec["id"]]
        assert rec["total_tokens"] == 16 and 1 <= rec["kept_tokens"] <= 16
    assert (out / "table.md").read_text().count("\n|") >= len(rows)
    png = (out / "accuracy_vs_flops.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    # results are not overwritten without --force
    assert main(argv) == 1
    assert "exists" in capsys.readouterr().err


def _sample_files(built):
    import cv2

    from eventsim.io import write_events

    root, _, _, samples = built
    sample = next(s for s in samples if len(s["events"]))
    image_path = root / "frame.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(sample["image"], cv2.COLOR_RGB2BGR))
    events_path = root / "events.h5"
    if not events_path.exists():
        write_events(events_path, sample["events"], sensor_size=sample["meta"]["sensor_size"])
    return sample, image_path, events_path


def test_run_json_and_overlay(built, capsys):
    root, _, model_dir, _ = built
    sample, image_path, events_path = _sample_files(built)
    overlay = root / "overlay.png"
    argv = [
        "run",
        "--model",
        str(model_dir),
        "--image",
        str(image_path),
        "--events",
        str(events_path),
        "--question",
        sample["question"],
        "--choices",
        ",".join(sample["choices"]),
        "--keep",
        "0.25",
        "--json",
        "--overlay",
        str(overlay),
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {
        "answer",
        "kept_tokens",
        "total_tokens",
        "flops",
        "dense_flops",
        "latency_s",
    }
    assert result["kept_tokens"] == 4 and result["total_tokens"] == 16
    assert result["flops"] < result["dense_flops"]
    assert overlay.is_file() and result["overlay"] == str(overlay)
    assert main(argv) == 1  # overlay exists
    assert "exists" in capsys.readouterr().err
    assert main([*argv[:-2], "--window-ms", "5", "--event-mode", "signed"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["kept_tokens"] == 4 and plain["overlay"] is None


def test_run_errors(built, tmp_path, capsys):
    _, _, model_dir, _ = built
    _, image_path, _ = _sample_files(built)
    rc = main(
        [
            "run",
            "--model",
            str(tmp_path / "none"),
            "--image",
            str(image_path),
            "--question",
            "q",
            "--selector",
            "dense",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("epvlm run: error:") and "does not exist" in err
    rc = main(["run", "--model", str(model_dir), "--image", str(image_path), "--question", "q"])
    assert rc == 1 and "needs --events" in capsys.readouterr().err
    rc = main(
        [
            "run",
            "--model",
            str(model_dir),
            "--image",
            str(image_path),
            "--question",
            "q",
            "--keep",
            "1.5",
        ]
    )
    assert rc == 2
    rc = main(
        [
            "run",
            "--model",
            str(model_dir),
            "--image",
            str(tmp_path / "x.png"),
            "--question",
            "q",
            "--selector",
            "dense",
        ]
    )
    assert rc == 1 and "cannot read image" in capsys.readouterr().err


def test_flops_cli(built, capsys):
    _, _, model_dir, _ = built
    assert (
        main(
            [
                "flops",
                "--config",
                "qwen2-vl-2b",
                "--image-hw",
                "448",
                "448",
                "--keep",
                "0.5",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["total_tokens"] == 256 and res["kept_tokens"] == 128
    assert res["flops"] == res["vision"] + res["merger"] + res["language_model"] + res["decode"]
    assert res["flops"] / res["dense_flops"] <= 0.53
    assert (
        main(["flops", "--config", str(model_dir), "--image-hw", "112", "112", "--keep", "0.25"])
        == 0
    )
    assert "saves" in capsys.readouterr().out
    assert main(["flops", "--config", "qwen2-vl-99b"]) == 1
    assert "neither a preset" in capsys.readouterr().err
    assert main(["flops", "--keep", "0"]) == 2
    assert main(["nope"]) == 2


def test_flops_cli_imports_no_torch():
    code = (
        "import sys; from epvlm.cli import main; rc = main(['flops', '--json']); "
        "sys.exit(rc or ('torch' in sys.modules) or ('transformers' in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kept_tokens"] == 128


def test_evaluate_dataset_api(built):
    from epvlm.evaluate import evaluate_dataset

    _, ds_dir, model_dir, _ = built
    res = evaluate_dataset(
        model_dir, ds_dir, selectors=("event",), keeps=(1.0,), limit=2, progress=False
    )
    dense, event = res["rows"]
    # keeping everything through the sparse path answers exactly like dense
    preds = {}
    for s in res["samples"]:
        preds.setdefault(s["id"], set()).add(s["prediction"])
    assert all(len(v) == 1 for v in preds.values())
    assert dense["accuracy"] == event["accuracy"] and event["kept_tokens"] == 16
    assert np.isclose(event["flops_vs_dense"], 1.0)


def test_batched_eval_matches_batch_size_one(built):
    """Left padding with per-sample masks: a batch answers like each sample alone."""
    import torch

    from epvlm.evaluate import evaluate_dataset, load_model, make_selection
    from epvlm.processing import encode_batch

    _, ds_dir, model_dir, samples = built
    kwargs = dict(selectors=("event", "random"), keeps=(0.5, 0.25), progress=False)
    one = evaluate_dataset(model_dir, ds_dir, batch_size=1, **kwargs)["samples"]
    many = evaluate_dataset(model_dir, ds_dir, batch_size=N_SAMPLES, **kwargs)["samples"]
    key = ("id", "selector", "keep", "raw_output", "parsed", "correct", "kept_tokens")
    assert sorted(tuple(s[k] for k in key) for s in one) == sorted(
        tuple(s[k] for k in key) for s in many
    )

    # next-token logits of the batch equal each sample's own, samples padded to different lengths
    model, proc = load_model(model_dir)
    sels = [
        make_selection(proc, s, "random", keep, seed=i)
        for i, (s, keep) in enumerate(zip(samples, (1.0, 0.25, 0.5, 0.75)))
    ]
    assert len({s.kept_tokens for s in sels}) == len(sels)
    questions = [s["question"] for s in samples]
    choices = [s["choices"] for s in samples]
    batch = encode_batch(proc, [s.image for s in sels], questions, choices, [s.mask for s in sels])
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        together = model(**batch).logits[:, -1]
        for i, sel in enumerate(sels):
            alone = encode_batch(proc, [sel.image], [questions[i]], [choices[i]], [sel.mask])
            ref = model(**alone).logits[0, -1]
            torch.testing.assert_close(together[i], ref, atol=1e-4, rtol=1e-4)


def _two_part_recording(path, sensor=(112, 112)):
    """Events in the top-left token for 50 ms, then in the bottom-right token 3 s later."""
    from eventsim.events import EVENT_DTYPE
    from eventsim.io import write_events

    rng = np.random.default_rng(0)
    parts = []
    for t0, x0, y0 in ((0, 0, 0), (3_000_000, 84, 84)):  # in 112x112 image pixels
        ev = np.zeros(400, EVENT_DTYPE)
        ev["t"] = np.linspace(t0, t0 + 49_999, 400).astype(np.int64)
        ev["x"] = rng.integers(x0 * sensor[0] // 112, (x0 + 28) * sensor[0] // 112, 400)
        ev["y"] = rng.integers(y0 * sensor[1] // 112, (y0 + 28) * sensor[1] // 112, 400)
        ev["p"] = rng.integers(0, 2, 400)
        parts.append(ev)
    write_events(path, np.concatenate(parts), sensor_size=sensor)
    return path


def _run_json(argv, capsys):
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_run_frame_time_picks_the_window(built, tmp_path, capsys):
    _, _, model_dir, _ = built
    sample, image_path, _ = _sample_files(built)
    events = _two_part_recording(tmp_path / "long.h5")
    base = [
        "run",
        "--model",
        str(model_dir),
        "--image",
        str(image_path),
        "--events",
        str(events),
        "--question",
        sample["question"],
        "--choices",
        ",".join(sample["choices"]),
        "--keep",
        "0.0625",  # one of the 16 tokens
    ]
    early, err = _run_json([*base, "--frame-time-us", "49999"], capsys)
    assert early["event_window_us"] == [49_999 + 1 - 50_000, 50_000] and "recording" not in err
    assert early["kept_indices"] == [0]
    late, _ = _run_json([*base, "--frame-time-us", "3049999", "--window-ms", "20"], capsys)
    assert late["event_window_us"] == [3_030_000, 3_050_000]
    assert late["kept_indices"] == [15]
    # without a frame time on a multi-second recording: all of it, and a note saying so
    whole, err = _run_json(base, capsys)
    assert whole["event_window_us"][0] == 0 and "3.0 s recording" in err
    assert "--frame-time-us" in err
    assert main([*base, "--frame-time-us", "49999"]) == 0
    printed = capsys.readouterr().out
    assert "events: window [0, 50000) µs; plain prompt format" in printed
    assert printed.startswith("answer: ")
    assert main([*base, "--frame-time-us", "9000000"]) == 1
    assert "outside the recording" in capsys.readouterr().err


def test_run_checks_before_loading(built, tmp_path, capsys):
    _, _, model_dir, _ = built
    sample, image_path, _ = _sample_files(built)
    base = ["run", "--model", str(model_dir), "--image", str(image_path)]
    # events of a 224x224 sensor over a 112x112 image: same aspect ratio, rescaled
    same_aspect = _two_part_recording(tmp_path / "big.h5", sensor=(224, 224))
    res, err = _run_json(
        [*base, "--events", str(same_aspect), "--question", sample["question"],
         "--keep", "0.0625", "--frame-time-us", "49999"],
        capsys,
    )  # fmt: skip
    assert res["kept_indices"] == [0]
    # the rescaling is said, on one line
    notes = [ln for ln in err.splitlines() if "rescaled" in ln]
    assert len(notes) == 1 and "224x224" in notes[0] and "112x112" in notes[0], err
    wide = _two_part_recording(tmp_path / "wide.h5", sensor=(224, 112))
    rc = main([*base, "--events", str(wide), "--question", "q"])
    err = capsys.readouterr().err
    assert rc == 1 and "224x112" in err and "112x112" in err and err.count("\n") == 1
    assert main([*base, "--selector", "dense", "--question", "  "]) == 1
    assert "empty" in capsys.readouterr().err
    assert main([*base, "--selector", "dense", "--question", "q", "--device", "tpu"]) == 1
    assert "not a torch device" in capsys.readouterr().err


def test_device_and_dtype_resolution(monkeypatch):
    import torch

    from epvlm.evaluate import resolve_device, resolve_dtype
    from eventsim.errors import ParameterError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("float16", torch.device("cpu")) == torch.float16
    with pytest.raises(ParameterError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ParameterError, match="expected auto or one of"):
        resolve_dtype("float8", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_dtype("auto", "cuda:0") == torch.float16
