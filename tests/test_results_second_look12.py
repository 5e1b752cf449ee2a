"""Second look at round 12's results.json provenance (2d78a18).

- The rows named the versions of the evaluation but not what built the events: an eval of a
  dataset built by another eventsim read as if this one had simulated it. Rows now carry
  ``dataset_versions`` (dataset.json's ``versions``), and table.md's note names the eventsim
  that built the data.
- README's and `epvlm.results`' lists of the row fields missed some the rows hold (README:
  ``baseline_tokens``): every field `epvlm eval` adds to a row is now named in both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, eval_setup):
    """An `epvlm eval` output folder and the manifest of the dataset it evaluated."""
    from epvlm.cli import main
    from eventsim.datasets import read_manifest

    root, ds_dir, model_dir, _ = eval_setup(tmp_path_factory.mktemp("second-look12"), 3)
    out = root / "out"
    argv = ["eval", "--model", str(model_dir), "--dataset", str(ds_dir), "--keep", "0.5",
            "--selector", "event", "--limit", "2", "--no-progress", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out, read_manifest(ds_dir)


def test_rows_name_what_built_the_data(evaluated):
    out, manifest = evaluated
    built = manifest["versions"]
    assert built["eventsim"]
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for row in rows:
        assert row["dataset_versions"] == built
    note = (out / "table.md").read_text(encoding="utf-8")
    assert f"; data built by eventsim {built['eventsim']}." in note


def test_the_note_without_build_versions_ends_at_the_versions():
    from epvlm.evaluate import _provenance_note

    settings = {"model": "/m", "dataset": "/d", "split": "test", "questions": 2,
                "split_questions": 3, "limit": 2, "threads": 1,
                "versions": {"epvlm": "9", "python": "3"}}  # fmt: skip
    for built in (None, {}, "0.1"):
        note = _provenance_note({**settings, "dataset_versions": built})
        assert note.endswith("1 torch CPU thread; epvlm 9, python 3."), note


def test_every_field_eval_adds_to_a_row_is_documented(evaluated):
    """The fields beyond `aggregate`'s (the settings and provenance `evaluate_dataset` adds),
    each named in README's results.json paragraph and in `epvlm.results`' docstring."""
    import epvlm.results
    from epvlm.results import aggregate

    out, _ = evaluated
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))
    samples = [
        json.loads(line)
        for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    added = set(rows[0]) - set(aggregate(samples, bootstrap=False)[0])
    assert {"model_given", "dataset_versions", "baseline_tokens", "threads"} <= added
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_0-9]+)`", readme))
    assert sorted(added - documented) == []
    docstring = set(re.findall(r"``([a-z_0-9]+)``", epvlm.results.__doc__ or ""))
    assert sorted(added - docstring) == []
