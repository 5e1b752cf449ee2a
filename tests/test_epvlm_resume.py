"""`epvlm eval` is resumable: an interrupted run keeps its finished answers in the output
folder, and the same command finishes it with the results an uninterrupted run writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


import epvlm.evaluate
import epvlm.results
from epvlm.cli import main
from epvlm.results import PARTIAL_ANSWERS, PARTIAL_STATE, check_results_folder
from eventsim.errors import OutputExistsError

N_SAMPLES = 5
BATCH = 2
CONFIGS = 3  # dense, event@0.5, random@0.5
STEPS = CONFIGS * 3  # three batches: 2 + 2 + 1 samples
ANSWERS = CONFIGS * N_SAMPLES


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    return eval_setup(tmp_path_factory.mktemp("epvlm-resume"), N_SAMPLES)


def _argv(model: Path, ds: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model), "--dataset", str(ds), "--keep", "0.5",
            "--selector", "event,random", "--batch-size", str(BATCH), "--no-progress",
            "-o", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def reference(built) -> Path:
    """An uninterrupted run's output folder."""
    root, ds, model, _ = built
    out = root / "reference"
    assert main(_argv(model, ds, out)) == 0
    return out


class Calls:
    """Counts `answer_selections` calls (one per batch and configuration); the call after
    ``stop_after`` raises a KeyboardInterrupt, or Ctrl-C itself with ``signal=True``."""

    def __init__(self, monkeypatch, stop_after: int | None = None, signal: bool = False):
        self.count = 0
        self.stop_after = stop_after
        self.signal = signal
        self._answer = epvlm.evaluate.answer_selections
        monkeypatch.setattr(epvlm.evaluate, "answer_selections", self)

    def __call__(self, *args, **kwargs):
        if self.stop_after is not None and self.count == self.stop_after:
            if self.signal:
                signal.raise_signal(signal.SIGINT)
            raise KeyboardInterrupt
        self.count += 1
        return self._answer(*args, **kwargs)


def _run(capsys, argv: list[str]) -> tuple[int, list[str]]:
    rc = main(argv)
    # the tiny random model's answers seldom name an option, which eval warns of in a line
    # these tests are not about
    lines = capsys.readouterr().err.splitlines()
    err = [ln for ln in lines if ln.strip() and "scored wrong; e.g." not in ln]
    return rc, err


def _interrupted(monkeypatch, capsys, argv: list[str], steps: int) -> list[str]:
    """Runs ``argv``, stopped after ``steps`` batch x configuration steps; its stderr."""
    Calls(monkeypatch, stop_after=steps)
    rc, err = _run(capsys, argv)
    monkeypatch.undo()
    assert rc == 130, err
    return err


def _without_latency(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "latency_s"} for r in records]


def _results(out: Path) -> tuple[list[dict], list[dict]]:
    rows = json.loads((out / "results.json").read_text())
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return rows, samples


def _assert_same_results(out: Path, reference: Path) -> None:
    rows, samples = _results(out)
    ref_rows, ref_samples = _results(reference)
    assert _without_latency(samples) == _without_latency(ref_samples)
    assert _without_latency(rows) == _without_latency(ref_rows)
    assert not any((out / name).exists() for name in (PARTIAL_STATE, PARTIAL_ANSWERS))


def _kept_answers(out: Path) -> list[dict]:
    lines = (out / PARTIAL_ANSWERS).read_text().splitlines()
    return [a for line in lines for a in json.loads(line)["answers"]]


def test_an_interrupted_eval_resumes_to_the_uninterrupted_results(
    built, reference, tmp_path, capsys, monkeypatch
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    err = _interrupted(monkeypatch, capsys, argv, steps=4)
    # batch 1 in all three configurations, batch 2 dense: 2 x 3 + 2 answers
    assert len(err) == 1, err
    assert f"interrupted; 8 of {ANSWERS} answers kept in {str(out)!r}" in err[0]
    assert err[0].endswith("rerun the same command to resume")
    assert sorted(p.name for p in out.iterdir()) == [PARTIAL_ANSWERS, PARTIAL_STATE]
    kept = _kept_answers(out)
    assert len(kept) == 8

    calls = Calls(monkeypatch)
    rc, err = _run(capsys, argv)
    assert rc == 0, err
    assert err == [f"resuming: 8 of {ANSWERS} answers done ({str(out / PARTIAL_ANSWERS)!r})"]
    assert calls.count == STEPS - 4  # only what was not done
    _assert_same_results(out, reference)
    # the kept answers are the ones published, latencies as measured before the interrupt
    _, samples = _results(out)
    assert all(a in samples for a in kept)
    note = "8 of 15 answers were kept from an interrupted run"
    assert note in (out / "table.md").read_text()
    assert note.split(" of ")[1] not in (reference / "table.md").read_text()


def test_ctrl_c_exits_130_with_one_line_and_keeps_the_answers(built, tmp_path, capsys, monkeypatch):
    """A real SIGINT (its handler records the interrupt) gives one line, not a second
    "partial outputs removed" from the command wrapper."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    Calls(monkeypatch, stop_after=2, signal=True)
    rc, err = _run(capsys, _argv(model, ds, out))
    monkeypatch.undo()
    assert rc == 130
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("epvlm eval: interrupted; 4 of 15 answers kept")
    assert err[0].endswith("; rerun the same command to resume")
    assert len(_kept_answers(out)) == 4


def test_an_interrupt_before_the_first_answer_keeps_nothing(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "deep" / "out"
    err = _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=0)
    assert err == ["epvlm eval: interrupted; partial outputs removed"]
    assert not (tmp_path / "deep").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        # the parameter and the option as typed, with their values (helper 347: the state's keys
        # and values; helper 351: a Python caller reads the parameter, the command line the option)
        (["--batch-size", "3"], "(batch_size (--batch-size) was 2, now 3)"),
        (["--seed", "1"], "(seed (--seed) was 0, now 1)"),
        (["--keep", "0.25"], "(keeps (--keep) was 0.5, now 0.25)"),
        (["--limit", "4"], "(limit (--limit) was all 5 questions, now 4)"),
        (
            ["--max-new-tokens", "2"],
            "(max_new_tokens (--max-new-tokens) was the prompt format's default, now 2)",
        ),
    ],
)
def test_other_settings_are_refused_naming_the_first_difference(
    built, tmp_path, capsys, monkeypatch, extra, needle
):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=2)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, err = _run(capsys, _argv(model, ds, out, *extra))
    assert rc == 1
    assert len(err) == 1, err
    assert err[0].startswith(f"epvlm eval: error: {str(out)!r} holds an unfinished evaluation")
    assert needle in err[0] and err[0].endswith("pass --force to start over")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_changed_model_file_is_refused(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    model = Path(shutil.copytree(model, tmp_path / "model"))
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=2)
    weights = next(p for p in model.iterdir() if p.suffix == ".safetensors")
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert f"(model file {weights.name!r} was modified at " in err[0], err[0]
    assert ", same size)" in err[0] and "--force" in err[0]


def test_force_starts_over(built, reference, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=3)
    calls = Calls(monkeypatch)
    # other settings too: --force does not compare them
    rc, err = _run(capsys, _argv(model, ds, out, "--force", "--seed", "1"))
    assert rc == 0 and err == [], err
    assert calls.count == STEPS
    assert "interrupted run" not in (out / "table.md").read_text()
    assert not (out / PARTIAL_ANSWERS).exists()
    assert json.loads((out / "results.json").read_text())[0]["seed"] == 1


def test_a_force_run_over_earlier_results_resumes_without_force(
    built, reference, tmp_path, capsys, monkeypatch
):
    """Earlier results need --force; the run that --force started and that was stopped
    resumes without it (with it, it would start over again), and says so."""
    _, ds, model, _ = built
    out = Path(shutil.copytree(reference, tmp_path / "out"))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and "results.json' exists; pass --force" in err[0], err
    err = _interrupted(monkeypatch, capsys, _argv(model, ds, out, "--force"), steps=5)
    assert err[0].endswith("rerun the same command without --force to resume"), err
    calls = Calls(monkeypatch)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0, err
    assert calls.count == STEPS - 5
    _assert_same_results(out, reference)


@pytest.mark.parametrize("tear", ["half a line", "a fragment"])
def test_a_torn_last_line_is_dropped(built, reference, tmp_path, capsys, monkeypatch, tear):
    """A run killed while appending leaves the last line torn: that step is answered again."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=4)
    path = out / PARTIAL_ANSWERS
    data = path.read_bytes()
    if tear == "half a line":
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
        path.write_bytes(data[: len(data) - len(last) // 2 - 1])
        done, redo = 6, STEPS - 3
    else:
        path.write_bytes(data + b'{"start": 2, "selector": "ev')
        done, redo = 8, STEPS - 4
    calls = Calls(monkeypatch)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0, err
    assert err[0].startswith(f"resuming: {done} of {ANSWERS} answers done")
    assert calls.count == redo
    _assert_same_results(out, reference)


def test_a_damaged_line_before_the_last_is_refused(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=3)
    path = out / PARTIAL_ANSWERS
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], b"{not json", *lines[2:]]))
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert f"{str(path)!r} line 2 is not a record of finished answers" in err[0]
    assert "pass --force" in err[0]


def test_an_interrupt_while_writing_the_results_keeps_every_answer(
    built, reference, tmp_path, capsys, monkeypatch
):
    _, ds, model, _ = built
    out = tmp_path / "out"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(epvlm.results, "plot_accuracy_vs_flops", interrupted)
    rc, err = _run(capsys, _argv(model, ds, out))
    monkeypatch.undo()
    assert rc == 130 and f"{ANSWERS} of {ANSWERS} answers kept" in err[0], err
    assert sorted(p.name for p in out.iterdir()) == [PARTIAL_ANSWERS, PARTIAL_STATE]
    calls = Calls(monkeypatch)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0, err
    assert calls.count == 0
    _assert_same_results(out, reference)


def test_the_library_raises_a_keyboard_interrupt_that_says_what_was_kept(
    built, tmp_path, monkeypatch
):
    _, ds, model, _ = built
    Calls(monkeypatch, stop_after=1)
    with pytest.raises(KeyboardInterrupt) as caught:
        epvlm.evaluate.evaluate_dataset(
            model, ds, selectors=["event"], keeps=[0.5], batch_size=BATCH, progress=False,
            out_dir=tmp_path / "out",
        )  # fmt: skip
    exc = caught.value
    assert isinstance(exc, epvlm.evaluate.EvalInterrupted)
    assert (exc.out_dir, exc.done, exc.total) == (tmp_path / "out", BATCH, 2 * N_SAMPLES)


def test_results_folder_check_with_partial_state(tmp_path):
    """Without the run's settings (the demo, which always starts over) partial files count
    as outputs that need force; a dataset folder is refused whatever it holds."""
    out = tmp_path / "out"
    out.mkdir()
    (out / PARTIAL_STATE).write_text("{}\n")
    with pytest.raises(OutputExistsError, match=r"partial-state\.json' exists; pass force=True"):
        check_results_folder(out, None, False)
    check_results_folder(out, None, True)
    # unreadable state: refused for any run, naming the file
    state = epvlm.results.partial_state({"seed": 0})
    with pytest.raises(OutputExistsError, match=r"partial-state\.json is missing or unreadable"):
        check_results_folder(out, None, False, state)
    (out / PARTIAL_STATE).write_text(json.dumps(state))
    check_results_folder(out, None, False, state)
    (out / "dataset.json").write_text("{}\n")
    with pytest.raises(Exception, match="holds a dataset"):
        check_results_folder(out, None, True, state)


def test_a_ctrl_c_as_the_results_are_published_finds_the_work_done(
    built, reference, tmp_path, capsys, monkeypatch
):
    """A Ctrl-C during the last rename (held back until the renames are done) comes after the
    results are complete: exit 0 as for any command, and the kept answers go."""
    from epvlm.results import RESULT_FILES

    _, ds, model, _ = built
    out = tmp_path / "out"
    replace = os.replace

    def replace_then_ctrl_c(src, dst):
        replace(src, dst)
        if Path(dst) == out / RESULT_FILES[-1]:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace_then_ctrl_c)
    rc, err = _run(capsys, _argv(model, ds, out))
    monkeypatch.undo()
    assert rc == 0 and len(err) == 1 and "Ctrl-C came after" in err[0], err
    _assert_same_results(out, reference)


def test_answers_of_another_plan_are_refused(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out), steps=1)
    path = out / PARTIAL_ANSWERS
    record = json.loads(path.read_text())
    record["start"] = 1  # not where a batch of 2 starts
    path.write_text(json.dumps(record) + "\n")
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 1 and len(err) == 1, err
    assert "line 1 holds answers this evaluation does not ask for" in err[0]


def test_a_limit_past_the_end_is_the_same_run_as_none(
    built, reference, tmp_path, capsys, monkeypatch
):
    """`--limit` at or beyond the split's size evaluates the same samples as no limit."""
    _, ds, model, _ = built
    out = tmp_path / "out"
    _interrupted(monkeypatch, capsys, _argv(model, ds, out, "--limit", "1000"), steps=4)
    rc, err = _run(capsys, _argv(model, ds, out))
    assert rc == 0, err
    _assert_same_results(out, reference)


def test_kept_answers_missing_a_field_are_refused_by_line(built, tmp_path, capsys, monkeypatch):
    _, ds, model, _ = built
    out = tmp_path / "out"
    argv = _argv(model, ds, out)
    _interrupted(monkeypatch, capsys, argv, steps=4)
    lines = (out / PARTIAL_ANSWERS).read_text().splitlines()
    record = json.loads(lines[1])
    del record["answers"][0]["flops"]
    lines[1] = json.dumps(record)
    (out / PARTIAL_ANSWERS).write_text("\n".join(lines) + "\n")
    rc, err = _run(capsys, argv)
    assert rc == 1 and len(err) == 1, err
    assert "line 2 holds answers this evaluation does not ask for" in err[0]


def test_answer_fields_are_what_an_evaluation_writes(reference):
    _, samples = _results(reference)
    assert all(set(s) == epvlm.evaluate.ANSWER_FIELDS for s in samples)
