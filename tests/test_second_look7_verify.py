"""Second look at `eventsim verify` and the dataset loader after review 7: datasets that
older builds, interrupted and resumed builds, --limit builds and empty splits wrote verify
clean; shard paths in dataset.json that leave the dataset folder are refused; a folder in
place of samples.jsonl is named alike by the loader and verify; dataset.json's event totals
are checked against the shards."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from eventsim.cli.verify import main as verify_main
from eventsim.datasets import EventVQADataset, build_dataset, engine, verify_dataset
from eventsim.datasets.loader import read_manifest, read_samples
from eventsim.errors import DatasetError

from user_media import textured, write_jsonl


@pytest.fixture(scope="module")
def built(build_shapes) -> Path:
    """4 test samples in two shards of 2."""
    return build_shapes(4)


def _image_recipe(src: Path) -> Path:
    """An image recipe whose build skips a sample of test and train and the only one of val
    (an image that is not there), in shards of 2."""
    (src / "imgs").mkdir(parents=True)
    cv2.imwrite(str(src / "imgs" / "a.png"), textured(1, 64, 48))
    good = {"image": "imgs/a.png", "question": "Q", "answer": "a"}
    bad = {"image": "imgs/missing.png", "question": "Q", "answer": "a"}
    write_jsonl(src / "test.jsonl", [good, bad, good, good, bad])
    write_jsonl(src / "train.jsonl", [bad, good])
    write_jsonl(src / "val.jsonl", [bad])
    recipe = src / "img.toml"
    recipe.write_text(
        '[dataset]\nname = "img"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "test.jsonl"\n'
        'train = "train.jsonl"\nval = "val.jsonl"\n[build]\nshard_size = 2\n'
    )
    return recipe


@pytest.fixture(scope="module")
def skipping(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("skipping")
    summary = build_dataset(_image_recipe(src), src / "ds", progress=False)
    assert summary.errors == {"test": 2, "train": 1, "val": 1}
    return src / "ds"


def _copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "ds"))


def _edit_manifest(root: Path, edit: Callable[[dict], object]) -> None:
    path = root / "dataset.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _verify(root: Path, capsys) -> tuple[int, list[str]]:
    """verify's exit status and the lines it printed (what was printed before left out)."""
    capsys.readouterr()
    status = verify_main([str(root), "--no-progress"])
    out = capsys.readouterr()
    return status, (out.out + out.err).splitlines()


# ----------------------------------------------------------------------------- older builds


def _as_older_builds_wrote(m: dict) -> None:
    """dataset.json as the first releases wrote it: no checksums, fingerprint of split files,
    limit or versions; a samples' missing target motion written 'None' (it is 'n/a')."""
    for key in ("samples_sha256", "recipe_fingerprint", "split_files", "limit", "versions"):
        m.pop(key, None)
    for entry in m["shards"]:
        entry.pop("sha256")
    for split in m["splits"].values():
        motions = split["target_motion"]
        if "n/a" in motions:
            motions["None"] = motions.pop("n/a")


@pytest.mark.parametrize("which", ["built", "skipping"])
def test_a_manifest_as_older_builds_wrote_it_verifies_clean(which, request, tmp_path, capsys):
    root = _copy(request.getfixturevalue(which), tmp_path)
    _edit_manifest(root, _as_older_builds_wrote)
    status, lines = _verify(root, capsys)
    assert status == 0, lines
    assert lines[0].startswith("ok: ")
    with EventVQADataset(root, "test") as ds:
        assert len(ds) and ds[0]["image"].shape[:2] == (ds.sensor_size[1], ds.sensor_size[0])


def test_limit_builds_and_empty_splits_verify_clean(shapes_recipe, tmp_path, capsys):
    recipe = shapes_recipe(tmp_path / "r.toml", train=3, test=5)
    for limit in (1, 3):
        out = tmp_path / f"limit{limit}"
        build_dataset(recipe, out, limit=limit, progress=False)
        status, lines = _verify(out, capsys)
        assert status == 0, lines
    # a split of 0 samples in the recipe
    out = tmp_path / "no-train"
    build_dataset(shapes_recipe(tmp_path / "r0.toml", train=0, test=2), out, progress=False)
    assert _verify(out, capsys)[0] == 0


def test_a_split_whose_samples_were_all_skipped_verifies_clean(skipping, capsys):
    status, lines = _verify(skipping, capsys)
    assert status == 0 and lines[0] == f"ok: 4 samples in 5 shards verified ({skipping})"
    assert lines[1].startswith("  note: split val has no samples: its 1 record was skipped")


# ----------------------------------------------------------------------------- resumed builds


def _skips(root: Path) -> list[tuple]:
    """The skipped samples errors.jsonl lists (the reasons name the build's own folder)."""
    lines = (root / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]
    assert all("missing.png' does not exist" in r["reason"] for r in records)
    return [(r["id"], r["split"], r["index"]) for r in records]


def test_an_interrupted_build_resumed_verifies_clean_with_every_skipped_sample(
    skipping, tmp_path, monkeypatch, capsys
):
    """An interrupted build leaves no errors.jsonl (it is written with dataset.json); the
    resumed build lists the skipped samples of the shards it reused and of those it built."""
    src = tmp_path / "src"
    recipe = _image_recipe(src)
    out = src / "ds"
    real = engine.run_shard
    calls: list[str] = []

    def interrupted(task, on_sample=None):
        calls.append(task.path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task, on_sample)

    with monkeypatch.context() as m:
        m.setattr(engine, "run_shard", interrupted)
        with pytest.raises(engine.BuildInterrupted) as info:
            build_dataset(recipe, out, progress=False, workers=1)
    assert info.value.shards_kept == 2
    assert not (out / "errors.jsonl").exists() and not (out / "dataset.json").exists()
    status, lines = _verify(out, capsys)
    assert status == 1 and "unfinished build" in lines[0]

    summary = build_dataset(recipe, out, progress=False, workers=1)
    assert summary.shards_reused == 2 and summary.errors == {"test": 2, "train": 1, "val": 1}
    status, lines = _verify(out, capsys)
    assert status == 0, lines
    assert _skips(out) == _skips(skipping)

    # stopped after every shard, before dataset.json: finished from the shards alone
    (out / "dataset.json").unlink()
    (out / "errors.jsonl").unlink()
    with monkeypatch.context() as m:

        def stop(*args, **kwargs):
            raise KeyboardInterrupt

        m.setattr(engine, "_finalise", stop)
        with pytest.raises(KeyboardInterrupt):
            build_dataset(recipe, out, progress=False, workers=1)
    summary = build_dataset(recipe, out, progress=False, workers=1)
    assert summary.shards_built == 0
    assert _verify(out, capsys)[0] == 0


# ----------------------------------------------------------------------------- shard paths


def _point_first_shard_at(root: Path, name: str) -> None:
    _edit_manifest(root, lambda m: m["shards"][0].update(file=name))


@pytest.mark.parametrize(
    "name",
    [
        "../outside/test-00000.h5",
        "shards/../../outside/test-00000.h5",
        "ABSOLUTE",
        "C:/outside/test-00000.h5",
        "..\\outside\\test-00000.h5",
        "shards/test-00000.h5\x00",
    ],
)
def test_a_shard_path_outside_the_dataset_is_refused(built, tmp_path, capsys, name):
    """dataset.json may name any file as a shard: verify hashed it and the loader opened it
    (a copy of a real shard outside the folder passed its sha256). Such a path is refused by
    everything that reads dataset.json, naming the entry."""
    root = _copy(built, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(root / "shards" / "test-00000.h5", outside / "test-00000.h5")
    if name == "ABSOLUTE":
        name = str(outside / "test-00000.h5")
    _point_first_shard_at(root, name)
    manifest = root / "dataset.json"
    expected = (
        f"{str(manifest)!r} is refused: shard entry 0 names {name!r}, a path outside the "
        "dataset folder (absolute, or with a '..' part); a build writes its shards inside it, "
        "as 'shards/NAME.h5': restore the file or rebuild the dataset"
    )
    with pytest.raises(DatasetError) as info:
        EventVQADataset(root)
    assert str(info.value) == expected
    with pytest.raises(DatasetError) as info:
        verify_dataset(root)
    assert str(info.value) == expected
    status, lines = _verify(root, capsys)
    assert status == 1 and lines == [f"eventsim verify: error: {expected}"]


def test_shard_paths_inside_the_dataset_are_read_as_before(built, tmp_path):
    """'..' only as part of a name, and a path through a link to another disk, stay inside."""
    root = _copy(built, tmp_path)
    elsewhere = tmp_path / "disk2"
    shutil.move(root / "shards", elsewhere)
    (root / "shards").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "test-00000.h5").rename(elsewhere / "..test-00000.h5")

    def rename(m: dict) -> None:
        m["shards"][0]["file"] = "shards/..test-00000.h5"

    _edit_manifest(root, rename)
    manifest = read_manifest(root)
    assert manifest["shards"][0]["file"] == "shards/..test-00000.h5"
    # samples.jsonl still names the old file: reported as such, not refused
    problems = verify_dataset(root).problems
    assert problems[0] == (
        "samples.jsonl refers to shards/test-00000.h5, which the manifest does not list"
    )
    with EventVQADataset(root) as ds:
        assert ds[2]["id"] == "test-000002"


# ----------------------------------------------------------------------------- samples.jsonl


def test_the_loader_names_a_folder_in_place_of_samples_jsonl_as_verify_does(built, tmp_path):
    """The loader said the file was missing and the labels gone; verify says it cannot read
    it, a folder."""
    root = _copy(built, tmp_path)
    path = root / "samples.jsonl"
    path.unlink()
    path.mkdir()
    expected = f"cannot read {str(path)!r}: Is a directory"
    assert verify_dataset(root).problems == [expected]
    with pytest.raises(DatasetError) as info:
        EventVQADataset(root)
    assert str(info.value) == expected
    with pytest.raises(DatasetError) as info:
        read_samples(root, read_manifest(root))
    assert str(info.value) == expected
    # a missing file is still missing
    path.rmdir()
    with pytest.raises(DatasetError, match="is missing; the dataset's labels are gone"):
        EventVQADataset(root)


def test_a_link_to_nothing_in_place_of_errors_jsonl_cannot_be_read(built, tmp_path):
    root = _copy(built, tmp_path)
    (root / "errors.jsonl").unlink()
    (root / "errors.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    assert verify_dataset(root).problems == ["cannot read errors.jsonl: No such file or directory"]


# ----------------------------------------------------------------------------- event totals


def test_a_manifest_whose_event_total_differs_from_the_shards_is_a_problem(skipping, tmp_path):
    root = _copy(skipping, tmp_path)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    events = manifest["splits"]["test"]["events"]
    assert events > 0
    _edit_manifest(root, lambda m: m["splits"]["test"].update(events=events + 1))
    assert verify_dataset(root).problems == [
        f"split test: its shards hold {events} events, dataset.json says {events + 1}"
    ]
    # an empty split too
    _edit_manifest(root, lambda m: m["splits"]["test"].update(events=events))
    _edit_manifest(root, lambda m: m["splits"]["val"].update(events=1))
    assert verify_dataset(root).problems == [
        "split val: its shards hold 0 events, dataset.json says 1"
    ]


def test_a_split_with_a_shard_verify_cannot_read_is_not_counted(built, tmp_path):
    root = _copy(built, tmp_path)
    (root / "shards" / "test-00001.h5").unlink()
    assert verify_dataset(root).problems == ["shards/test-00001.h5: missing"]
    root2 = Path(shutil.copytree(built, tmp_path / "ds2"))
    shard = root2 / "shards" / "test-00000.h5"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert verify_dataset(root2).problems == [
        "shards/test-00000.h5: checksum mismatch (file changed or damaged)"
    ]
