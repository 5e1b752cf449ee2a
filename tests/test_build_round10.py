"""`eventsim build` as a newcomer meets it (round 10): a camera preset given with --set over a
recipe's size, the example recipes' missing split files, a build finished with --limit after
an interrupted one (and extended later), and a built-in name given with its .toml suffix."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset, build_dataset, engine, verify_dataset
from eventsim.datasets.recipe import load_recipe
from eventsim.errors import DatasetError, RecipeError

from user_media import small_recipe, textured

ROOT = Path(__file__).resolve().parents[1]


def _build(argv: list[str]) -> int:
    return eventsim_main(["build", *argv, "--no-progress", "--no-preview", "--workers", "1"])


def _camera(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())["recipe"]["camera"]


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.h5"))}


# ----------------------------------------------------------------------------- camera preset


def test_a_camera_preset_given_with_set_replaces_the_recipe_files_size(tmp_path, capsys):
    # it was refused, advising to set camera.preset = "": the opposite of what was asked
    out = tmp_path / "l4"
    argv = ["shapes-demo", "-o", str(out), "--set", "splits.test=1"]
    assert _build([*argv, "--set", "camera.preset=dvs128"]) == 0
    assert _camera(out) == {"preset": "dvs128", "width": 128, "height": 128}
    assert "camera.preset" not in capsys.readouterr().err


def test_a_camera_size_given_with_set_replaces_the_recipe_files_preset():
    # the other side keeps the preset's size (the file sets none of its own)
    recipe = load_recipe("video-qa.example", {"camera.width": "128"})
    assert recipe.sensor_size == (128, 260) and recipe.data["camera"]["preset"] == ""
    # the same size as the preset's keeps the preset
    assert load_recipe("video-qa.example", {"camera.width": "346"}).data["camera"] == {
        "preset": "davis346",
        "width": 346,
        "height": 260,
    }
    # the same recipe as a file that says it so
    same = load_recipe(
        load_recipe("video-qa.example"),
        {"camera.preset": "", "camera.width": "128", "camera.height": "260"},
    )
    assert same.fingerprint == recipe.fingerprint


def test_a_preset_and_a_size_that_differ_both_given_with_set_are_refused():
    with pytest.raises(
        RecipeError,
        match=r"^--set camera\.width=300 but --set camera\.preset=dvs128 is 128x128; give the "
        "preset or the size, not both$",
    ):
        load_recipe("shapes-demo", {"camera.preset": "dvs128", "camera.width": "300"})


def test_a_preset_and_a_size_that_differ_in_the_file_stay_refused(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        '[dataset]\nname = "r"\n[camera]\npreset = "dvs128"\nwidth = 300\n[splits]\ntest = 1\n'
    )
    with pytest.raises(RecipeError, match=r'camera\.width = 300 but camera\.preset = "dvs128"'):
        load_recipe(path)
    # a --set of the other side does not hide the file's own conflict
    with pytest.raises(RecipeError, match=r'camera\.width = 300 but camera\.preset = "dvs128"'):
        load_recipe(path, {"camera.height": "100"})
    # a --set preset is the latest word on the size
    assert load_recipe(path, {"camera.preset": "davis346"}).sensor_size == (346, 260)


# ----------------------------------------------------------------------------- split files


def test_a_missing_split_file_of_an_example_recipe_says_how_to_give_ones_own(tmp_path, capsys):
    for name in ("image-vqa.example", "video-qa.example"):
        assert _build([name, "-o", str(tmp_path / "b4")]) == 1
        err = capsys.readouterr().err
        assert "cannot read split file" in err and "No such file or directory" in err
        folder = str(ROOT / "datasets")
        assert (
            f"; give your split file with --set splits.test=PATH (a relative PATH starts at "
            f"the recipe's folder, {folder!r})"
        ) in err
        assert not (tmp_path / "b4").exists()


def test_the_docs_list_the_image_jsonl_keys_with_an_example():
    text = (ROOT / "docs" / "recipes.md").read_text()
    section = text.split("### Split files", 1)[1].split("\n## ", 1)[0]
    for key in ("image", "question", "choices", "answer", "id", "question_type", "video"):
        assert f"`{key}`" in section
    lines = [x for x in section.splitlines() if x.startswith('{"image"')]
    assert len(lines) == 2 and all(json.loads(x)["answer"] for x in lines)


# ----------------------------------------------------------------------------- --limit


def _interrupted_build(monkeypatch, recipe: Path, out: Path, stop_at: int) -> None:
    """Build ``recipe`` into ``out`` with a Ctrl-C as shard ``stop_at`` starts."""
    real = engine.run_shard

    def run(task, *args, **kwargs):
        if task.shard == stop_at:
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", run)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe, out, progress=False)
    monkeypatch.undo()


def test_finishing_an_interrupted_build_with_a_limit_says_what_it_deletes(
    tmp_path, monkeypatch, capsys, shapes_recipe
):
    recipe = shapes_recipe(tmp_path / "r.toml", test=10, shard=2)
    out = tmp_path / "ds"
    _interrupted_build(monkeypatch, recipe, out, stop_at=4)
    assert len(_shard_bytes(out)) == 4
    assert _build([str(recipe), "-o", str(out), "--limit", "4"]) == 0
    said = capsys.readouterr().out
    # two shards were kept, and the two past the limit deleted without a word
    assert "shards: 0 built, 2 reused" in said
    assert (
        "note: deleted 2 shards an earlier build had finished past --limit 4 "
        "(test-00002.h5 to test-00003.h5): the dataset holds only the samples asked for; the "
        "same command without --limit builds them again and extends it"
    ) in said
    assert sorted(_shard_bytes(out)) == ["test-00000.h5", "test-00001.h5"]


def test_a_dataset_built_with_a_limit_is_extended_by_a_build_without_it(
    tmp_path, capsys, shapes_recipe
):
    # it was refused ("built with --limit 3 ... pass --force"), and --force built it all again
    recipe = shapes_recipe(tmp_path / "r.toml", test=7, shard=2)
    full = tmp_path / "full"
    assert _build([str(recipe), "-o", str(full)]) == 0
    out = tmp_path / "ds"
    assert _build([str(recipe), "-o", str(out), "--limit", "3"]) == 0
    small = _shard_bytes(out)
    capsys.readouterr()
    assert _build([str(recipe), "-o", str(out), "--limit", "5"]) == 0
    said = capsys.readouterr().out
    # the full shard kept as it was; the last, half-full one built again
    assert "shards: 2 built, 1 reused" in said
    assert (
        "note: extended the dataset built with --limit 3 (3 samples) to --limit 5 (5 samples), "
        "reusing 1 of its shards"
    ) in said
    assert _shard_bytes(out)["test-00000.h5"] == small["test-00000.h5"]
    assert _build([str(recipe), "-o", str(out)]) == 0
    assert "shards: 2 built, 2 reused" in capsys.readouterr().out
    # byte for byte the dataset a build without --limit makes
    assert _shard_bytes(out) == _shard_bytes(full)
    for name in ("samples.jsonl", "errors.jsonl"):
        assert (out / name).read_bytes() == (full / name).read_bytes()
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["limit"] is None and manifest["samples"] == {"train": 0, "test": 7}
    assert not (out / engine.STATE_FILE).exists() and verify_dataset(out).ok


def test_a_dataset_is_not_cut_down_by_a_smaller_limit(tmp_path, capsys, shapes_recipe):
    recipe = shapes_recipe(tmp_path / "r.toml", test=5, shard=2)
    out = tmp_path / "ds"
    assert _build([str(recipe), "-o", str(out), "--limit", "3"]) == 0
    before = _shard_bytes(out)
    capsys.readouterr()
    assert _build([str(recipe), "-o", str(out), "--limit", "2"]) == 1
    err = capsys.readouterr().err
    assert (
        "holds a finished dataset built with --limit 3 (3 samples), asked for --limit 2 "
        "(2 samples); a build with a smaller --limit does not cut it down: build into another "
        "folder; pass --force to replace it"
    ) in err
    assert _shard_bytes(out) == before and (out / "dataset.json").is_file()


def test_a_ctrl_c_while_a_dataset_is_extended_keeps_its_shards_to_finish(
    tmp_path, monkeypatch, capsys, shapes_recipe
):
    recipe = shapes_recipe(tmp_path / "r.toml", test=7, shard=2)
    out = tmp_path / "ds"
    argv = [str(recipe), "-o", str(out)]
    assert _build([*argv, "--limit", "3"]) == 0
    real = engine.run_shard

    def run(task, *args, **kwargs):
        if task.shard == 2:
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", run)
    capsys.readouterr()
    assert _build(argv) == 130
    err = capsys.readouterr().err
    # the limited dataset's manifest would list its half-full shard, rebuilt by now
    assert not (out / "dataset.json").exists()
    assert f"2 finished shards kept in {str(out)!r}; rerun the same command" in err
    monkeypatch.undo()
    assert _build(argv) == 0
    assert "shards: 2 built, 2 reused" in capsys.readouterr().out
    assert verify_dataset(out).ok


def _full_build_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a built dataset (shards, samples.jsonl, errors.jsonl, dataset.json...)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _extend_with_pool(recipe: Path, out: Path, **kwargs):
    return build_dataset(recipe, out, workers=2, exact_workers=True, progress=False, **kwargs)


def test_an_extension_by_a_pool_stopped_and_finished_is_the_full_build(
    tmp_path, monkeypatch, shapes_recipe
):
    # every file, dataset.json included (it records no time, and the limit of the last build)
    recipe = shapes_recipe(tmp_path / "r.toml", train=3, test=7, shard=2)
    full = tmp_path / "full"
    _extend_with_pool(recipe, full)
    out = tmp_path / "ds"
    build_dataset(recipe, out, limit=3, progress=False)
    real = engine._execute

    def stop_after_one(*args, **kwargs):
        runs = real(*args, **kwargs)
        yield next(runs)
        runs.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "_execute", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        _extend_with_pool(recipe, out)
    monkeypatch.undo()
    assert not (out / "dataset.json").exists() and (out / engine.STATE_FILE).is_file()
    summary = _extend_with_pool(recipe, out)
    # the pool's other worker may finish its shard before the stop lands: then one shard is
    # left, built in this process (CI saw it), so only a floor on the reused shards holds
    assert summary.shards_reused >= 4
    assert _full_build_bytes(out) == _full_build_bytes(full)
    assert verify_dataset(out).ok


def _image_recipe(tmp_path: Path, lines: list[str]) -> Path:
    cv2.imwrite(str(tmp_path / "a.png"), textured(1, 64, 48))
    (tmp_path / "qa.jsonl").write_text("".join(f"{line}\n" for line in lines))
    return small_recipe(tmp_path, "image", "qa.jsonl", shard_size=2, name="r10")


_GOOD = json.dumps({"image": "a.png", "question": "Q", "answer": "a"})
_MISSING = json.dumps({"image": "missing.png", "question": "Q", "answer": "a"})


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        # a sample the limited build skipped, in a full shard it reuses
        ([_GOOD, _MISSING, _GOOD, _GOOD, _GOOD], r"sample test-000001 .*skipped by an earlier"),
        # a malformed line past the limit, in a shard still to build
        ([_GOOD, _GOOD, _GOOD, _GOOD, "{"], r"sample test-000004 .*malformed JSONL line 5"),
    ],
    ids=["skipped-in-a-reused-shard", "malformed-past-the-limit"],
)
def test_a_strict_build_sure_to_stop_leaves_the_dataset_it_would_extend(tmp_path, lines, named):
    # its dataset.json was deleted (the finished dataset an unfinished build) before it stopped
    recipe = _image_recipe(tmp_path, lines)
    out = tmp_path / "ds"
    build_dataset(recipe, out, limit=3, progress=False)
    before = _full_build_bytes(out)
    with pytest.raises(DatasetError, match=named):
        build_dataset(recipe, out, strict=True, progress=False)
    assert _full_build_bytes(out) == before and verify_dataset(out).ok


def test_a_dataset_opened_while_it_is_extended(tmp_path, monkeypatch, shapes_recipe):
    recipe = shapes_recipe(tmp_path / "r.toml", test=7, shard=2)
    out = tmp_path / "ds"
    build_dataset(recipe, out, limit=3, progress=False)
    opened = EventVQADataset(out, split="test")
    seen: list[str] = []
    real = engine.run_shard

    def run(task, *args, **kwargs):
        with pytest.raises(DatasetError) as exc:
            EventVQADataset(out, split="test")
        seen.append(str(exc.value))
        return real(task, *args, **kwargs)

    monkeypatch.setattr(engine, "run_shard", run)
    build_dataset(recipe, out, workers=1, progress=False)
    # while it is built, an unfinished build, never the limited dataset's manifest
    assert len(seen) == 3 and all("unfinished build" in said for said in seen)
    # one opened before: its full shard is read as it was, its rebuilt one is said to be
    assert opened[1]["question"]
    with pytest.raises(DatasetError, match="was rebuilt after it was opened"):
        opened[2]
    assert len(EventVQADataset(out, split="test")) == 7


# ----------------------------------------------------------------------------- recipe names


def test_a_built_in_name_with_its_toml_suffix_is_the_built_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_recipe("shapes-demo.toml").path == ROOT / "datasets" / "shapes-demo.toml"
    assert load_recipe("image-vqa.example.toml").name == "image-vqa-example"
    # a file of that name in the current folder comes first
    (tmp_path / "shapes-demo.toml").write_text('[dataset]\nname = "mine"\n[splits]\ntest = 1\n')
    assert load_recipe("shapes-demo.toml").name == "mine"


def test_a_path_to_a_built_in_recipe_not_found_names_the_built_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        RecipeError,
        match=r"recipe 'datasets/shapes-demo\.toml' not found \(expected a \.toml file; the "
        r"built-in recipe of that name is 'shapes-demo' \(eventsim build shapes-demo\)\)",
    ):
        load_recipe("datasets/shapes-demo.toml")
