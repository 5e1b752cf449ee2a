"""Dataset-loading walkthrough 12: verify's repair advice for a dataset an older eventsim built
(that build is refused), the three spellings of "no target motion", what collate_event_vqa's
batches hold, when a dataset's ids are read, how many choices n_choices gives, a slice index,
and when a rebuild under an open dataset is found."""

from __future__ import annotations

import inspect
import json
import shlex
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import eventsim._version
import eventsim.datasets.engine
from eventsim._version import __version__
from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset, collate_event_vqa
from eventsim.datasets.recipe import SOURCE_FIELDS, recipe_fields_markdown
from eventsim.errors import DatasetError

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RECIPES_DOC = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    return build_shapes(4)


def test_repair_advice_for_an_older_eventsims_dataset_names_both_ways(
    tmp_path, capsys, monkeypatch, shapes_recipe
):
    """verify said to rerun the build, which "rebuilds the damaged shard and reuses the sound
    ones"; under another eventsim version that build is refused ("pass --force")."""
    recipe = shapes_recipe(tmp_path / "r.toml", test=4)
    ds = tmp_path / "ds"
    older = "0.0.1"
    with monkeypatch.context() as m:
        # the version the recipe fingerprint and the manifest record
        m.setattr(eventsim._version, "__version__", older)
        m.setattr(eventsim.datasets.engine, "__version__", older)
        assert _run(capsys, "build", recipe, "-o", ds, "--no-progress", "--no-preview")[0] == 0
    assert json.loads((ds / "dataset.json").read_text())["versions"]["eventsim"] == older
    (ds / "shards" / "test-00001.h5").unlink()

    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    last = out.splitlines()[-1]
    assert last.startswith(f"  to repair: this dataset was built by eventsim {older}, this is "), (
        out
    )
    assert f"install eventsim {older} and rerun the build that made it" in last, out
    assert last.endswith(f"dataset.json: eventsim build {ds / 'dataset.json'} -o {ds} --force")
    assert "restore it from a copy" in last, out

    # the advice holds: this version's build is refused without --force, and with it rebuilds
    rc, _, err = _run(capsys, "build", recipe, "-o", ds, "--no-progress", "--no-preview")
    assert rc != 0 and "--force" in err and older in err, err
    argv = shlex.split(last.split("dataset.json: ")[1])[1:]
    assert _run(capsys, *argv, "--no-progress", "--no-preview")[0] == 0
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0


def test_repair_advice_for_this_versions_dataset_is_unchanged(tmp_path, capsys, built):
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    (ds / "shards" / "test-00001.h5").unlink()
    out = _run(capsys, "verify", ds, "--no-progress")[1]
    last = out.splitlines()[-1]
    assert last.startswith("  to repair: rerun the build that made it"), out
    assert "built by eventsim" not in last and __version__ not in last, out


def test_no_target_motion_has_the_three_spellings_the_docs_give(tmp_path):
    """None in the loader and null in samples.jsonl, '' as the shard group's attribute, "n/a"
    in dataset.json's counts: the docs said only "none"."""
    from eventsim.cli.build import main as build_main

    ds_dir = tmp_path / "ds"
    sets = [
        "camera.width=64",
        "camera.height=64",
        "source.object_size_px=[10,16]",
        "source.motion_px=[4,8]",
        'source.question_types=["count"]',
        "splits.train=0",
        "splits.val=0",
    ]
    argv = ["shapes-vqa", "-o", str(ds_dir), "--limit", "2", "--no-progress", "--no-preview"]
    assert build_main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    line = json.loads((ds_dir / "samples.jsonl").read_text().splitlines()[0])
    assert line["target_motion"] is None
    with EventVQADataset(ds_dir) as ds:
        assert ds[0]["meta"]["target_motion"] is None
    with h5py.File(ds_dir / line["shard"], "r") as f:
        assert f[line["group"]].attrs["target_motion"] == ""
    counts = json.loads((ds_dir / "dataset.json").read_text())["splits"]["test"]
    assert counts["target_motion"] == {"n/a": 2}

    text = " ".join(RECIPES_DOC.split())
    assert "`null` in `samples.jsonl`" in text
    assert "the empty string `''` in its shard group's `target_motion` attribute" in text
    assert "read with h5py, `''` means none" in text
    assert '`"n/a"` in `dataset.json`\'s `target_motion` counts' in text


def test_collate_batches_are_numpy_and_the_docs_say_so(built):
    """pin_memory=True pinned nothing and .to(device) failed: neither doc said the batch holds
    numpy arrays."""
    with EventVQADataset(built) as ds:
        batch = collate_event_vqa([ds[0], ds[1]])
    assert isinstance(batch["image"], np.ndarray) and batch["image"].dtype == np.uint8
    assert isinstance(batch["answer_index"], np.ndarray)
    assert batch["answer_index"].dtype == np.int64
    assert isinstance(batch["events"], list)
    doc = " ".join(inspect.getdoc(collate_event_vqa).split())
    assert "pin_memory=True`` pins none" in doc and "torch.from_numpy" in doc
    readme = " ".join(README.split())
    assert "`pin_memory=True` pins none of them" in readme
    assert "`torch.from_numpy(...)` before `.to(device)`" in readme


def test_readme_says_ids_are_read_when_the_dataset_is_opened(built):
    readme = " ".join(README.split())
    assert "on the first lookup" not in readme
    assert "the split's ids are read once, when the dataset is opened" in readme
    with EventVQADataset(built) as ds:
        ids, _ = ds._ids
        assert len(ids) == len(ds)


def test_n_choices_is_documented_as_at_most():
    """Count questions get 2 or 3 choices when the scenes can have no other counts; the field
    said "answer choices per question"."""
    description = SOURCE_FIELDS["shapes"]["n_choices"].doc
    assert description.startswith("answer choices per question, at most")
    assert "count question" in description
    row = next(ln for ln in recipe_fields_markdown().splitlines() if "`source.n_choices`" in ln)
    assert row in RECIPES_DOC


@pytest.mark.parametrize(
    ("index", "span"),
    [(slice(0, 3), "0, 3"), (slice(-2, None), "2, 4"), (slice(None, None, 2), "0, 4, 2")],
)
def test_a_slice_index_says_how_to_read_several(built, index, span):
    with EventVQADataset(built) as ds:
        with pytest.raises(TypeError) as err:
            ds[index]
    text = str(err.value)
    assert text.startswith("index must be an integer, got slice: "), text
    assert f"[ds[i] for i in range({span})]" in text, text
    assert f"torch.utils.data.Subset(ds, range({span}))" in text, text


def test_a_slice_of_no_integers_gets_no_range(built):
    with EventVQADataset(built) as ds:
        with pytest.raises(TypeError, match="got slice: samples are read one at a time, by an"):
            ds["a":"b"]
        with pytest.raises(TypeError, match="by an integer position"):
            ds[0:3:0]


def test_a_rebuild_under_an_open_dataset_is_found_when_a_shard_is_opened(
    tmp_path, capsys, shapes_recipe
):
    """The docstring said a rebuild while the dataset is open "is reported as such": a shard
    already open keeps serving the old build's samples until it is opened again."""
    doc = " ".join(inspect.getdoc(EventVQADataset).split())
    assert "is reported as such" not in doc
    assert "A rebuild after the dataset was opened is found when a shard is opened" in doc
    assert "a shard already open keeps serving the old build's samples" in doc

    ds_dir = tmp_path / "ds"
    first = shapes_recipe(tmp_path / "a.toml", test=4, seed=5)
    other = shapes_recipe(tmp_path / "b.toml", test=4, seed=6)
    assert _run(capsys, "build", first, "-o", ds_dir, "--no-progress", "--no-preview")[0] == 0
    ds = EventVQADataset(ds_dir)
    before = ds[0]
    assert (
        _run(capsys, "build", other, "-o", ds_dir, "--no-progress", "--no-preview", "--force")[0]
        == 0
    )
    again = ds[0]  # the shard's open handle: the old build's sample, with its labels
    assert again["question"] == before["question"]
    assert np.array_equal(again["events"], before["events"])
    ds.close()
    with pytest.raises(DatasetError, match="was rebuilt after it was opened"):
        ds[0]
