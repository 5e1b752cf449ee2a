"""Seventh users' review of `epvlm demo`: a --force rerun that stops (Ctrl-C, an error) leaves
the earlier run whole, and the static-target sentence on so few questions that nothing could
be judged says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_answers import demo_samples

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("matplotlib")

from epvlm.demo import findings, pipeline, run_demo, summarize


def _files(out: Path) -> dict[str, bytes]:
    """Every entry of the demo folder but the dataset it built (a cache the rerun may grow),
    hidden ones included, with the bytes of the files."""
    return {
        p.name: p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(out.iterdir())
        if p.name != "data"
    }


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    out = tmp_path_factory.mktemp("users7") / "demo"
    run_demo(out, limit=2, progress=False)
    return out, _files(out)


def _stop(exc: BaseException):
    def stop(*args, **kwargs):
        raise exc

    return stop


@pytest.mark.parametrize(
    ("step", "exc"),
    [
        # after the evaluation wrote results.json, samples.jsonl, table.md and its plot
        ("render_preview", KeyboardInterrupt()),
        # after the previews, the plots and summary.json: everything but the report is new
        ("write_report", OSError(28, "No space left on device")),
    ],
)
def test_a_forced_rerun_that_stops_leaves_the_earlier_run_as_it_was(
    earlier, monkeypatch, step, exc
):
    out, files = earlier
    monkeypatch.setattr(pipeline, step, _stop(exc))
    # another seed: the rerun's answers (and so its results) differ from the earlier run's
    with pytest.raises(type(exc)):
        run_demo(out, limit=2, progress=False, force=True, seed=7)
    # the earlier report stayed beside the rerun's results.json, table.md and plots, which
    # it did not describe; now every file is the earlier run's and nothing else is there
    after = _files(out)
    assert sorted(after) == sorted(files)
    changed = [name for name in files if after[name] != files[name]]
    assert changed == []


def test_a_forced_rerun_that_finishes_leaves_no_hidden_folder(tmp_path):
    out = tmp_path / "demo"
    run_demo(out, limit=2, progress=False)
    report = (out / "report.md").read_text(encoding="utf-8")
    run_demo(out, limit=1, progress=False, force=True)
    assert (out / "report.md").read_text(encoding="utf-8") != report
    assert "1 question" in (out / "report.md").read_text(encoding="utf-8")
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def _static_line(static: list[int]) -> str:
    n = len(static)
    samples = demo_samples(
        {
            ("dense", 1.0): {"moving": [1] * 40, "static": [1] * n},
            ("event", 0.5): {"moving": [1] * 40, "static": static},
            ("random", 0.5): {"moving": [1, 0] * 20, "static": [1] * n},
        }
    )
    (line,) = [s for s in findings(summarize(samples)) if "did not move" in s]
    return line


@pytest.mark.parametrize("static", [[0], [0, 1, 0, 1], [1, 1, 1, 1, 1]])
def test_static_targets_too_few_to_show_a_loss_are_not_said_to_show_none(static):
    # `epvlm demo --limit 1` (1 static question, lost) and --limit 20 (4, two lost) said
    # "On static targets the event prior shows no loss beyond noise" of a -100 and a -50
    # point change: no outcome on under 6 questions passes the exact McNemar test
    line = _static_line(static)
    assert "no loss" not in line
    assert line.startswith(
        "Static targets: too few questions to judge the event prior's change from dense:"
    )
    assert f"on the {len(static)} question" in line


def test_static_targets_enough_to_judge_still_show_no_loss():
    # six questions could show a loss (all six lost: p = 0.03); one lost of six is none
    line = _static_line([0, 1, 1, 1, 1, 1])
    assert line.startswith("On static targets the event prior shows no loss beyond noise:")


OTHER = {
    "dataset": {"name": "mine", "seed": 3},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [7, 10], "motion_px": [3, 6]},
    "camera": {"width": 48, "height": 32},
    "events": {"window_ms": 20},
    "splits": {"train": 2, "test": 2},
}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_demo_leaves_another_dataset_in_its_data_folder_alone(tmp_path, capsys):
    from epvlm.cli import demo_main
    from eventsim.datasets import build_dataset

    out = tmp_path / "work"
    build_dataset(OTHER, out / "data", progress=False)
    mine = _tree(out / "data")
    # `epvlm demo -o work` replaced the user's build in work/data (train split and all) with
    # the demo's test split, without --force
    assert demo_main(["-o", str(out), "--limit", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{str(out / 'data')!r} holds a build of 'mine' (splits train, test)" in err
    assert "pass --force to replace it" in err
    assert _tree(out / "data") == mine
    assert sorted(p.name for p in out.iterdir()) == ["data"]


def test_the_demo_leaves_a_folder_of_other_files_named_data_alone(tmp_path, capsys):
    from epvlm.demo.pipeline import prepare_dataset
    from eventsim.errors import OutputExistsError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="holds files that are not a dataset build"):
        prepare_dataset(tmp_path / "data", limit=1, progress=False)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["thesis.tex"]


def test_the_demos_own_smaller_build_still_grows_without_force(tmp_path):
    from epvlm.demo.pipeline import prepare_dataset
    from eventsim.datasets import EventVQADataset

    data = tmp_path / "data"
    assert prepare_dataset(data, limit=1, progress=False) == (data, False)
    assert prepare_dataset(data, limit=2, progress=False) == (data, False)
    assert prepare_dataset(data, limit=2, progress=False) == (data, True)
    assert len(EventVQADataset(data, "test")) == 2
