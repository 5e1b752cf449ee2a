"""`epvlm run --json` carries eval's settings fields with eval's meanings; the demo report's
Time parts add up to its total and its "most frequent answer" baseline says where it is
counted; `epvlm demo --dataset` refuses a build of a recipe other than a target-mode shapes one;
a format version written as a JSON number is called that, not "1.0 where 1.x is read"."""

from __future__ import annotations

import json
import re
import types

import pytest

from eventsim.datasets._formats import version_problem

SETTINGS = ("rule", "baseline_tokens", "event_mode", "seed", "device", "dtype")


# format version --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1.0, 1, 1.2])
def test_a_format_version_of_the_read_major_as_a_json_number_must_be_a_string(version):
    problem = version_problem(version, "1.0", "'ds/dataset.json'", "version")
    assert problem == (
        f"'ds/dataset.json' has format version {version!r} as a JSON number; it must be a "
        f'string, "{version}" (this eventsim reads version 1.x, it writes 1.0)'
    )


@pytest.mark.parametrize("version", ["1.0", "1.2.3"])
def test_string_versions_of_the_read_major_are_still_read(version):
    assert version_problem(version, "1.0", "x", "version") is None


def test_other_versions_keep_their_message():
    assert version_problem(True, "1.0", "x", "version") == (
        "x has format version True; this eventsim reads version 1.x (it writes 1.0): read it "
        "with the eventsim that built it, or rebuild the dataset"
    )
    assert "format version 3;" in str(version_problem(3, "1.0", "x", "version"))


# epvlm run --json against epvlm eval ----------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory, eval_setup):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return eval_setup(tmp_path_factory.mktemp("polish7"), 2)


@pytest.fixture(scope="module")
def run_files(built):
    import cv2

    from eventsim.io import write_events

    root, _, _, samples = built
    sample = samples[0]
    image_path = root / "frame.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(sample["image"], cv2.COLOR_RGB2BGR))
    events_path = root / "events.h5"
    write_events(events_path, sample["events"], sensor_size=sample["meta"]["sensor_size"])
    return sample, image_path, events_path


def _run_json(built, run_files, capsys, *extra: str, events: bool = True) -> dict:
    from epvlm.cli import main

    _, _, model_dir, _ = built
    sample, image_path, events_path = run_files
    argv = [
        "run", "--model", str(model_dir), "--image", str(image_path),
        "--question", sample["question"], "--keep", "0.5", "--json", *extra,
    ]  # fmt: skip
    if events:
        argv += ["--events", str(events_path)]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _eval_rows(built, capsys, out, *extra: str) -> dict[str, dict]:
    from epvlm.cli import main

    _, ds_dir, model_dir, _ = built
    argv = [
        "eval", "--model", str(model_dir), "--dataset", str(ds_dir), "--limit", "1",
        "--keep", "0.5", "--selector", "event,edges,random,center,downsample,dense",
        "--json", "--no-progress", "-o", str(out), *extra,
    ]  # fmt: skip
    assert main(argv) == 0
    return {r["selector"]: r for r in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize("rule", ["topk", "quantile"])
def test_run_json_carries_evals_settings_for_every_selector(
    built, run_files, capsys, tmp_path, rule
):
    """run gave baseline_tokens for random/center/downsample only (null for event, edges and
    dense, where eval's rows say "event" or "keep") and had no rule or event_mode."""
    rows = _eval_rows(
        built, capsys, tmp_path / "eval", "--rule", rule, "--event-mode", "signed", "--seed", "2"
    )
    for selector, row in rows.items():
        got = _run_json(
            built, run_files, capsys, "--selector", selector, "--rule", rule,
            "--event-mode", "signed", "--seed", "2",
        )  # fmt: skip
        assert {k: got[k] for k in SETTINGS} == {k: row[k] for k in SETTINGS}, selector
        assert got["baseline_tokens"] == ("event" if rule == "quantile" else "keep")


def test_run_json_settings_without_events(built, run_files, capsys):
    """Without --events no baseline gets the event prior's count and no event is scored."""
    got = _run_json(built, run_files, capsys, "--selector", "random", "--rule", "quantile",
                    events=False)  # fmt: skip
    assert got["rule"] == "quantile" and got["baseline_tokens"] == "keep"
    assert got["event_mode"] is None and got["seed"] == 0


# epvlm demo --------------------------------------------------------------------------------------


class _Clock:
    """perf_counter advancing one second per call: every part of the Time line is whole
    seconds, so the parts add up to the total exactly when nothing between them is left out."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("matplotlib")
    import epvlm.demo.pipeline as pipeline
    from epvlm.cli import demo_main

    out = tmp_path_factory.mktemp("polish7-demo") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "time", types.SimpleNamespace(perf_counter=_Clock().perf_counter))
        assert demo_main(["-o", str(out), "--limit", "1", "--no-progress"]) == 0
    return (out / "report.md").read_text(encoding="utf-8")


def test_demo_time_parts_add_up_to_the_total(demo_report):
    """The checks of the model files and device and the imports before the dataset step (about
    2.7 s) were in the total but in no part."""
    line = next(t for t in demo_report.splitlines() if t.startswith("- Time: "))
    parts = dict(
        (name.strip(), float(sec))
        for name, sec in re.findall(r"([^,]+?) ([0-9.]+) s(?:,|$)", line[len("- Time: ") :])
    )
    total = parts.pop("total")
    assert "start-up checks and imports" in parts
    assert sum(parts.values()) == total, line


def test_demo_findings_say_the_majority_baseline_is_counted_on_the_same_questions(demo_report):
    """At --limit 1 it read "or 100 % (most frequent answer per question type)"."""
    line = next(t for t in demo_report.splitlines() if t.startswith("- Dense accuracy is"))
    assert (
        "(the most frequent answer per question type, counted on these same questions, which "
        "flatters it)" in line
    )


def test_demo_warns_of_a_build_of_another_recipe_and_counts_every_question(
    build_shapes, tmp_path, capsys
):
    """A shapes-vqa build ran silently, its questions without a single target left out of the
    scenario counts ("answered 1 question (target_motion: )")."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("matplotlib")
    from epvlm.cli import demo_main

    ds = build_shapes(4)
    capsys.readouterr()
    out = tmp_path / "out"
    argv = ["-o", str(out), "--dataset", str(ds), "--limit", "4", "--no-progress"]
    assert demo_main(argv) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0] == (
        f"epvlm demo: warning: {str(ds)!r} is a build of 'small' (source shapes/vqa), not of "
        "'shapes-demo' or another target-mode shapes recipe: its questions without a single "
        "target are in no target_motion scenario of the report; 'epvlm eval --dataset DIR' is "
        "made for other datasets"
    )
    # and the demo model, which knows colours and patterns, names no option of its questions
    assert len(err) == 2 and err[1].startswith("epvlm demo: warning: ")
    assert "answers across all 10 configurations (" in err[1]
    assert "%) named no option, and scored wrong" in err[1]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    untargeted = 4 - sum(summary["scenarios"].values())
    assert untargeted > 0  # the build has questions without a single target
    answered = captured.out.splitlines()[0]
    assert f"{untargeted} without a single target)" in answered, answered
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"{untargeted} without a single target (in no scenario)" in report


def test_a_demo_recipe_build_gets_no_warning(tmp_path):
    from epvlm.demo.pipeline import foreign_dataset_note
    from eventsim.datasets import build_dataset, load_recipe

    out = tmp_path / "ds"
    build_dataset(load_recipe("shapes-demo"), out, limit=1, progress=False)
    assert foreign_dataset_note(out) is None
    assert foreign_dataset_note(tmp_path / "nothing") is None  # the loader's to report
