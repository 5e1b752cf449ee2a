"""Round 9 of the dataset messages: a damaged dataset.json, an unfinished build named by its
dataset.json or its shards folder, and a build whose dataset.json is gone said what was wrong
but not what to do (or called the folder no dataset at all)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset
from eventsim.errors import DatasetError


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    return build_shapes(4)


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("damage", ["truncated", "empty", "a list"])
def test_a_damaged_manifest_says_how_to_get_it_back(tmp_path, capsys, built, damage):
    """It was "cannot read '.../dataset.json': Expecting ',' delimiter: ..." and no more."""
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    manifest = ds / "dataset.json"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        {"truncated": text[:300], "empty": "", "a list": "[1, 2]"}[damage], encoding="utf-8"
    )
    for command in ("verify", "info"):
        rc, _, err = _run(capsys, command, ds)
        line = _one_line(err)
        assert rc == 1 and f"{str(manifest)!r}" in line, line
        assert "damaged" in line and "restore it from a copy" in line, line
        assert "delete it and rerun the 'eventsim build RECIPE -o DIR'" in line, line
    with pytest.raises(DatasetError, match="restore it from a copy"):
        EventVQADataset(ds)

    # the advice holds: the same build, dataset.json deleted, finishes it from its shards
    manifest.unlink()
    recipe = built.parent / "r.toml"
    rc, out, _ = _run(capsys, "build", recipe, "-o", ds, "--no-progress")
    assert rc == 0 and "0 built, 2 reused" in out
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0
    assert json.loads(manifest.read_text(encoding="utf-8"))["format"] == "eventsim-vqa"


def test_an_unreadable_manifest_is_not_called_damaged(tmp_path, monkeypatch, built):
    """Permission denied is not damage: no advice to rebuild (tests run as root, so the
    denial is simulated)."""
    ds = Path(shutil.copytree(built, tmp_path / "ds"))

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(DatasetError, match="Permission denied") as err:
        EventVQADataset(ds)
    assert "restore it" not in str(err.value)


@pytest.mark.parametrize("named", ["dataset.json", "shards"])
def test_an_unfinished_build_named_by_its_parts_says_so(tmp_path, capsys, built, named):
    """verify DIR/dataset.json said "dataset folder '.../dataset.json' does not exist", info
    "'.../dataset.json' does not exist", and DIR/shards "is not a built dataset (no
    dataset.json); build one with 'eventsim build RECIPE -o DIR'"."""
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    # what a killed build leaves: the state file, shards, no manifest
    (ds / "dataset.json").unlink()
    (ds / ".build-state.json").write_text("{}", encoding="utf-8")
    for command in ("verify", "info"):
        rc, _, err = _run(capsys, command, ds / named)
        line = _one_line(err)
        assert rc == 1 and "unfinished build" in line and "rerun the same command" in line, line
        assert f"{str(ds)!r}" in line, line
    with pytest.raises(DatasetError, match="unfinished build"):
        EventVQADataset(ds / named)


def test_shards_without_a_manifest_say_to_rerun_the_build(tmp_path, capsys, built):
    """A finished build whose dataset.json was deleted was "not a built dataset (no
    dataset.json); build one with 'eventsim build RECIPE -o DIR'", as an empty folder is; the
    same build finishes it from its shards."""
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    (ds / "dataset.json").unlink()
    rc, _, err = _run(capsys, "verify", ds)
    line = _one_line(err)
    assert rc == 1 and "shards but no dataset.json" in line, line
    assert "rerun the 'eventsim build RECIPE -o DIR' that made this dataset, with" in line, line
    with pytest.raises(DatasetError, match=r"shards but no dataset\.json"):
        EventVQADataset(ds)
    # an empty folder is still told to build one
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"not a built dataset \(no dataset\.json\); build one"):
        EventVQADataset(tmp_path / "empty")


def _remove_shard(ds: Path) -> None:
    (ds / "shards" / "test-00001.h5").unlink()


def _remove_shards_folder(ds: Path) -> None:
    shutil.rmtree(ds / "shards")


def _damage_shard(ds: Path) -> None:
    with open(ds / "shards" / "test-00000.h5", "r+b") as f:
        f.seek(5000)
        f.write(b"\xde\xad\xbe\xef")


@pytest.mark.parametrize("damage", [_remove_shard, _remove_shards_folder, _damage_shard])
def test_verify_says_the_build_repairs_missing_or_damaged_shards(tmp_path, capsys, built, damage):
    """verify listed "shards/test-00001.h5: missing" or "checksum mismatch" and no more; the
    same build rebuilds those shards and reuses the others, which the report now says."""
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    damage(ds)
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1
    last = out.splitlines()[-1]
    assert last.startswith("  to repair: rerun the build that made it"), out
    assert "reuses the sound ones" in last and "restore" in last, out

    recipe = built.parent / "r.toml"
    assert _run(capsys, "build", recipe, "-o", ds, "--no-progress")[0] == 0
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0


def test_verify_of_a_sound_dataset_or_other_problems_gives_no_repair_line(tmp_path, capsys, built):
    assert "to repair" not in _run(capsys, "verify", built, "--no-progress")[1]
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    (ds / "shards" / "stray.h5").write_bytes(b"")
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1 and "to repair" not in out


def test_missing_labels_say_the_same_build_rewrites_them(tmp_path, capsys, built):
    """It said "rebuild it with the same 'eventsim build' command (add --force)": --force is
    not needed, and rebuilds every shard; the same command rewrites samples.jsonl from them."""
    ds = Path(shutil.copytree(built, tmp_path / "ds"))
    (ds / "samples.jsonl").unlink()
    with pytest.raises(DatasetError, match="labels are gone") as err:
        EventVQADataset(ds)
    assert "--force" not in str(err.value)
    # the command verify prints to repair a shard, with the dataset.json as the recipe
    assert str(err.value).endswith(
        f"from the recipe copy in its dataset.json: eventsim build {ds / 'dataset.json'} -o {ds}"
    ), err.value
    rc, out, _ = _run(capsys, "verify", ds, "--no-progress")
    assert rc == 1 and "--force" not in out

    recipe = built.parent / "r.toml"
    rc, out, _ = _run(capsys, "build", recipe, "-o", ds, "--no-progress")
    assert rc == 0 and "0 built, 2 reused" in out
    assert _run(capsys, "verify", ds, "--no-progress")[0] == 0
