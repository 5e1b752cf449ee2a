"""A finished dataset is never replaced by another build without force, and a shard whose bytes
changed after the build is refused by the loader (and rebuilt, not reused, by a re-run)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets import (
    DamagedShardError,
    EventVQADataset,
    build_dataset,
    engine,
    loader,
    verify_dataset,
)
from eventsim.errors import DatasetError, OutputExistsError


@pytest.fixture
def recipe(tmp_path, shapes_recipe):
    """Writes the test's recipe (train / test samples, shards of 2) and returns its path."""

    def write(train: int = 3, test: int = 6) -> Path:
        return shapes_recipe(tmp_path / "integrity.toml", name="integrity", train=train, test=test)

    return write


def shard_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "shards").glob("*.h5"))}


def damage_frame(shard: Path, position: int = 0) -> None:
    """Invert bytes in the middle of a sample's stored frame, leaving the HDF5 structure and the
    shard's index readable (as a bad disk block or a stray write would)."""
    with h5py.File(shard, "r") as f:
        chunk = f[f"samples/{position:05d}/frame"].id.get_chunk_info(0)
    data = bytearray(shard.read_bytes())
    n = min(2000, chunk.size // 2)
    start = chunk.byte_offset + (chunk.size - n) // 2
    data[start : start + n] = bytes(b ^ 0xFF for b in data[start : start + n])
    shard.write_bytes(bytes(data))


# ----------------------------------------------------------------------------- rebuilding


def test_a_finished_dataset_is_not_replaced_by_a_build_with_a_smaller_limit(tmp_path, recipe):
    # a larger limit, or none, extends it (tests/test_build_round10.py)
    path, out = recipe(), tmp_path / "ds"
    build_dataset(path, out, limit=3, progress=False)
    before = shard_bytes(out)
    manifest = (out / "dataset.json").read_text()
    with pytest.raises(OutputExistsError) as err:
        build_dataset(path, out, limit=2, progress=False)
    msg = str(err.value)
    assert str(out) in msg and "built with --limit 3 (6 samples)" in msg
    assert "asked for --limit 2 (4 samples)" in msg and "force=True" in msg
    assert shard_bytes(out) == before and (out / "dataset.json").read_text() == manifest
    assert not (out / ".build-state.json").exists()
    s = build_dataset(path, out, limit=2, force=True, progress=False)
    assert s.samples == {"train": 2, "test": 2} and verify_dataset(out).ok


def test_the_cli_refuses_another_limit_in_one_line_naming_folder_and_force(
    tmp_path, capsys, recipe
):
    # 3 a split: a --limit 2 that leaves no sample out is recorded as none
    path, out = recipe(train=3, test=3), tmp_path / "ds"
    argv = [str(path), "-o", str(out), "--no-progress", "--no-preview", "--workers", "1"]
    assert build_main([*argv, "--limit", "2"]) == 0
    capsys.readouterr()
    assert build_main([*argv, "--limit", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(out) in err and "built with --limit 2" in err and "asked for --limit 1" in err
    assert "--force" in err and "force=True" not in err
    assert build_main([*argv, "--limit", "1", "--force"]) == 0
    assert EventVQADataset(out, "test").manifest["limit"] == 1


def test_another_recipe_is_refused_naming_the_field_that_differs(tmp_path, recipe):
    path, out = recipe(train=1, test=1), tmp_path / "ds"
    build_dataset(path, out, progress=False)
    with pytest.raises(OutputExistsError, match=r"dataset\.seed is 5 there, 9 here"):
        build_dataset(path, out, overrides={"seed": 9}, progress=False)


def test_rerunning_the_same_finished_build_reuses_all_its_shards(tmp_path, recipe):
    path, out = recipe(), tmp_path / "ds"
    first = build_dataset(path, out, limit=3, progress=False)
    before = shard_bytes(out)
    again = build_dataset(path, out, limit=3, progress=False)
    assert again.shards_built == 0 and again.shards_reused == first.shards_built
    assert shard_bytes(out) == before and verify_dataset(out).ok
    # a limit beyond every split's size builds the same samples: the same dataset, not another
    full = build_dataset(path, tmp_path / "full", progress=False)
    same = build_dataset(path, tmp_path / "full", limit=100, progress=False)
    assert same.shards_built == 0 and same.shards_reused == full.shards_built


def _interrupt_before_the_manifest(monkeypatch) -> None:
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "_finalise", stop)


def test_an_unfinished_build_resumes_with_another_limit_reusing_its_shards(
    tmp_path, monkeypatch, recipe
):
    path, out = recipe(), tmp_path / "ds"
    with monkeypatch.context() as m:
        _interrupt_before_the_manifest(m)
        with pytest.raises(KeyboardInterrupt):
            build_dataset(path, out, limit=4, progress=False)
    assert not (out / "dataset.json").exists() and (out / ".build-state.json").exists()
    kept = shard_bytes(out)
    # shards are fixed sample ranges: all four (train 0-2, 2-3; test 0-2, 2-4) are reused
    s = build_dataset(path, out, limit=6, progress=False)
    assert s.samples == {"train": 3, "test": 6}
    assert s.shards_reused == 4 and s.shards_built == 1
    now = shard_bytes(out)
    assert sorted(now) == sorted([*kept, "test-00002.h5"])
    assert all(now[name] == data for name, data in kept.items())
    assert verify_dataset(out).ok


def test_a_damaged_shard_of_a_finished_build_is_rebuilt_not_reused(tmp_path, recipe):
    path, out = recipe(train=0, test=4), tmp_path / "ds"
    build_dataset(path, out, progress=False)
    good = shard_bytes(out)
    damage_frame(out / "shards" / "test-00001.h5")
    assert not verify_dataset(out).ok
    s = build_dataset(path, out, progress=False)
    assert s.shards_built == 1 and s.shards_reused == 1
    assert shard_bytes(out) == good and verify_dataset(out).ok


# ----------------------------------------------------------------------------- reading


@pytest.fixture
def built(tmp_path, monkeypatch, recipe):
    """A dataset of 4 test samples in 2 shards, and a fresh per-process digest cache."""
    monkeypatch.setattr(loader, "_DIGESTS", {})
    out = tmp_path / "ds"
    build_dataset(recipe(train=0, test=4), out, progress=False)
    return out


def test_the_loader_refuses_a_shard_whose_bytes_changed(built):
    damage_frame(built / "shards" / "test-00000.h5")
    ds = EventVQADataset(built, "test")
    with pytest.raises(DamagedShardError) as err:
        ds[0]
    msg = str(err.value)
    assert "test-00000.h5" in msg and f"eventsim verify {built}" in msg and "rebuild" in msg
    assert isinstance(err.value, DatasetError) and "\n" not in msg
    # the other shard is intact and still reads
    assert ds[2]["image"].shape == (64, 64, 3)
    with pytest.raises(DamagedShardError):
        ds[1]


def test_the_loader_refuses_a_shard_of_another_size(built):
    shard = built / "shards" / "test-00001.h5"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DamagedShardError, match=r"test-00001\.h5.*bytes, the build wrote"):
        EventVQADataset(built, "test")[3]


def test_each_shard_is_hashed_once_per_process(built, monkeypatch):
    hashed: list[str] = []
    digest = loader.file_digest

    def counting(path):
        hashed.append(Path(path).name)
        return digest(path)

    monkeypatch.setattr(loader, "file_digest", counting)
    with EventVQADataset(built, "test") as ds:
        for _ in range(3):
            for i in range(len(ds)):
                ds[i]
            ds.close()  # reopening does not hash again
    with EventVQADataset(built, "test") as ds:
        ds[0], ds[3]
    assert sorted(hashed) == ["test-00000.h5", "test-00001.h5"]
    # a shard changed after its first check is hashed again, and refused
    damage_frame(built / "shards" / "test-00001.h5")
    with pytest.raises(DamagedShardError):
        EventVQADataset(built, "test")[3]
    assert sorted(hashed) == ["test-00000.h5", "test-00001.h5", "test-00001.h5"]


def test_a_manifest_without_shard_checksums_still_reads(built):
    # builds made before checksums were recorded in the manifest
    manifest = json.loads((built / "dataset.json").read_text())
    for entry in manifest["shards"]:
        del entry["sha256"]
    (built / "dataset.json").write_text(json.dumps(manifest))
    assert EventVQADataset(built, "test")[0]["image"].shape == (64, 64, 3)


def test_epvlm_eval_on_a_damaged_dataset_fails_in_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from epvlm.cli import main as epvlm_main

    model = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
    out = tmp_path / "ds"
    sets = ["splits.train=0", "splits.val=0", "splits.test=2", "build.shard_size=1"]
    argv = ["shapes-vqa", "-o", str(out), "--no-progress", "--no-preview", "--workers", "1"]
    assert build_main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    damage_frame(out / "shards" / "test-00001.h5")
    capsys.readouterr()
    rc = epvlm_main(
        ["eval", "--model", str(model), "--dataset", str(out), "--selector", "event",
         "--keep", "0.5", "--no-progress", "-o", str(tmp_path / "eval")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert "test-00001.h5" in err and "eventsim verify" in err
    assert not (tmp_path / "eval" / "results.json").exists()


def test_verify_finds_a_shard_kept_from_another_build(tmp_path, recipe):
    # what a resumed build could leave before split files were part of the fingerprint: a shard
    # of other labels whose checksum dataset.json recorded
    out = tmp_path / "ds"
    build_dataset(recipe(), out, progress=False)
    assert verify_dataset(out).ok
    shard = out / "shards" / "test-00001.h5"
    with h5py.File(shard, "r+") as f:
        f.attrs["fingerprint"] = "0" * 16
    manifest = json.loads((out / "dataset.json").read_text())
    from eventsim.datasets.shards import file_digest

    for entry in manifest["shards"]:
        if entry["file"].endswith(shard.name):
            entry["sha256"], entry["bytes"] = file_digest(shard)
    (out / "dataset.json").write_text(json.dumps(manifest))
    report = verify_dataset(out)
    assert not report.ok
    assert [p for p in report.problems if "built from another recipe" in p] == [
        f"shards/{shard.name}: built from another recipe or split files than dataset.json "
        "records; rebuild with --force"
    ]
