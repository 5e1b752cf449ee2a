"""Findings of the third review of `eventsim build` (recipes, resume, strict builds)."""

import json
from pathlib import Path

import cv2
import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets import build_dataset, load_recipe
from eventsim.datasets.recipe import builtin_recipe_dir
from eventsim.errors import DatasetError, RecipeError

from user_media import textured, write_jsonl


def test_a_builtin_recipe_whose_name_has_a_dot_is_found_by_name():
    # `build --help` lists image-vqa.example and video-qa.example as built-in names
    recipe = load_recipe("image-vqa.example")
    assert recipe.path == builtin_recipe_dir() / "image-vqa.example.toml"
    assert load_recipe("video-qa.example").source_kind == "video"


def _minimal(**tables) -> dict:
    return {"dataset": {"name": "x"}, "splits": {"test": 1}, **tables}


def test_simulator_params_that_are_not_a_table_are_a_recipe_error():
    with pytest.raises(RecipeError, match=r"simulator\.params must be a table.*got 3"):
        load_recipe(_minimal(simulator={"params": 3}))


def test_set_simulator_params_without_a_field_is_a_recipe_error():
    with pytest.raises(RecipeError, match=r"^--set simulator\.params=3: give one DVSParams field"):
        load_recipe(_minimal(), {"simulator.params": "3"})


def test_an_empty_set_value_says_nothing_was_given():
    with pytest.raises(
        RecipeError, match=r"^--set camera\.width=; expected an integer, got nothing$"
    ):
        load_recipe(_minimal(), {"camera.width": ""})


def test_an_integer_range_is_written_in_full():
    with pytest.raises(RecipeError, match=r"expected 0 <= value <= 9223372036854775807$"):
        load_recipe(_minimal(dataset={"name": "x", "seed": -1}))


def _image_recipe(tmp_path: Path) -> Path:
    """An image recipe reading ``qa.jsonl`` (written by the caller) with images in imgs/."""
    (tmp_path / "imgs").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), textured(1, 64, 48))
    path = tmp_path / "img.toml"
    path.write_text(
        '[dataset]\nname = "img"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[events]\nwindow_ms = 10\n[splits]\ntest = "qa.jsonl"\n'
        "[build]\nshard_size = 2\n"
    )
    return path


@pytest.fixture
def image_recipe(tmp_path: Path) -> Path:
    """An image recipe of three records, the second naming a missing image."""
    write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"image": "imgs/a.png", "question": "Q1", "choices": ["x", "y"], "answer": "x"},
            {"image": "imgs/missing.png", "question": "Q2", "answer": "a"},
            {"image": "imgs/a.png", "question": "Q3", "answer": "b"},
        ],
    )
    return _image_recipe(tmp_path)


def test_a_strict_rerun_refuses_a_sample_an_earlier_lenient_run_skipped(tmp_path, image_recipe):
    out = tmp_path / "ds"
    summary = build_dataset(image_recipe, out, progress=False)
    assert summary.n_errors == 1
    with pytest.raises(DatasetError, match=r"sample test-000001 \(.*qa\.jsonl line 2\): image"):
        build_dataset(image_recipe, out, progress=False, strict=True)


def test_a_failed_rebuild_of_a_finished_dataset_leaves_no_build_state(
    tmp_path, image_recipe, monkeypatch
):
    from eventsim.datasets import engine

    out = tmp_path / "ds"
    build_dataset(image_recipe, out, progress=False)
    (out / "shards" / "test-00001.h5").unlink()

    def fail(task, on_sample=None):
        raise DatasetError("disk full")

    monkeypatch.setattr(engine, "run_shard", fail)
    with pytest.raises(DatasetError, match="disk full"):
        build_dataset(image_recipe, out, progress=False)
    assert not (out / engine.STATE_FILE).exists()
    assert json.loads((out / "dataset.json").read_text())["counts"]["errors"] == 1


def test_the_cli_strict_rerun_fails_in_one_line(tmp_path, image_recipe, capsys):
    out = tmp_path / "ds"
    assert build_main([str(image_recipe), "-o", str(out), "--no-progress", "--no-preview"]) == 0
    capsys.readouterr()
    args = [str(image_recipe), "-o", str(out), "--no-progress", "--strict"]
    assert build_main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "earlier build without --strict" in err[0]


def _tiny_shapes_args(out: Path) -> list[str]:
    return [
        "shapes-vqa",
        "-o",
        str(out),
        "--limit",
        "1",
        "--set",
        "splits.train=0",
        "--set",
        "splits.val=0",
        "--set",
        "camera.width=64",
        "--set",
        "camera.height=64",
        "--set",
        "source.object_size_px=[10,16]",
        "--no-progress",
        "--no-preview",
    ]


def test_force_into_a_folder_of_ones_own_keeps_files_the_build_did_not_write(tmp_path, capsys):
    out = tmp_path / "project"
    (out / "shards").mkdir(parents=True)
    (out / "shards" / "notes.txt").write_text("mine")
    assert build_main(_tiny_shapes_args(out)) == 1  # not empty: refused without --force
    assert build_main([*_tiny_shapes_args(out), "--force"]) == 0
    assert (out / "shards" / "notes.txt").read_text() == "mine"
    assert build_main([*_tiny_shapes_args(out), "--force", "--set", "dataset.seed=2"]) == 0
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["notes.txt", "test-00000.h5"]


def test_force_removes_the_shards_folder_it_emptied(tmp_path):
    out = tmp_path / "ds"
    assert build_main(_tiny_shapes_args(out)) == 0
    (out / "shards" / ".test-00001.h5.1-ab.tmp.h5").write_bytes(b"x")
    from eventsim.datasets.engine import _remove_build

    _remove_build(out)
    assert not (out / "shards").exists()


def test_the_inspect_hint_quotes_a_folder_with_a_space(tmp_path, capsys):
    out = tmp_path / "my data"
    assert build_main(_tiny_shapes_args(out)) == 0
    assert f"inspect it with: eventsim info '{out}'" in capsys.readouterr().out


def _reasons(out: Path) -> dict[int, str]:
    lines = (out / "errors.jsonl").read_text().splitlines()
    return {e["index"]: e["reason"] for e in map(json.loads, lines)}


def test_record_labels_of_the_wrong_type_are_skipped_not_a_crash(tmp_path):
    img = {"image": "imgs/a.png", "question": "Q", "answer": "a"}
    write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {**img, "target_motion": 3},  # was a TypeError when the manifest was written
            {**img, "question_type": ["x"]},
            {**img, "id": {"x": 1}},
            {**img, "answer": 5},
            {**img, "question": " "},
            {**img, "id": None},
            {**img, "id": None},  # null is no id: not "already used"
            {**img, "id": 7},
        ],
    )
    out = tmp_path / "ds"
    summary = build_dataset(_image_recipe(tmp_path), out, progress=False)
    assert summary.samples == {"test": 3}
    assert _reasons(out) == {
        0: "target_motion must be a string, got 3",
        1: "question_type must be a string, got ['x']",
        2: "id must be a string or an integer, got {'x': 1}",
        3: "answer must be a string, got 5",
        4: "question is empty",
    }
    records = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["source"].get("source_id") for r in records] == [None, None, "7"]


def test_a_split_file_with_a_byte_order_mark_reads_its_first_line(tmp_path):
    line = json.dumps({"image": "imgs/a.png", "question": "Q", "answer": "a"})
    (tmp_path / "qa.jsonl").write_bytes(("\ufeff" + line + "\r\n" + line + "\r\n").encode())
    summary = build_dataset(_image_recipe(tmp_path), tmp_path / "ds", progress=False)
    assert summary.samples == {"test": 2} and summary.n_errors == 0


def test_text_with_unicode_line_separators_is_one_record_and_one_samples_line(tmp_path, capsys):
    from eventsim.cli.verify import main as verify_main
    from eventsim.datasets import EventVQADataset

    question = "Which\u2028one\x85is\u2029it?"
    (tmp_path / "qa.jsonl").write_text(
        json.dumps({"image": "imgs/a.png", "question": question, "answer": "é"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "ds"
    summary = build_dataset(_image_recipe(tmp_path), out, progress=False)
    assert summary.samples == {"test": 1} and summary.n_errors == 0
    assert len((out / "samples.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    assert verify_main([str(out), "--no-progress"]) == 0, capsys.readouterr()
    assert EventVQADataset(out, "test")[0]["question"] == question


def test_ctrl_c_while_a_finished_dataset_is_repaired_says_it_is_kept(tmp_path, monkeypatch, capsys):
    from eventsim.datasets import engine

    out = tmp_path / "ds"
    assert build_main(_tiny_shapes_args(out)) == 0
    (out / "shards" / "test-00000.h5").unlink()

    def interrupt(task, on_sample=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_shard", interrupt)
    capsys.readouterr()
    assert build_main(_tiny_shapes_args(out)) == 130
    err = capsys.readouterr().err
    assert "partial outputs removed" not in err
    assert f"the dataset built earlier in {str(out)!r} is kept; rerun the same command" in err
    assert (out / "dataset.json").is_file()


def test_an_empty_or_non_text_media_path_is_named_as_such(tmp_path):
    write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"image": "", "question": "Q", "answer": "a"},  # was "image '<folder>' is a folder"
            {"image": 5, "question": "Q", "answer": "a"},
            {"image": "imgs/a.png", "question": "Q", "answer": "a"},
        ],
    )
    out = tmp_path / "ds"
    assert build_dataset(_image_recipe(tmp_path), out, progress=False).samples == {"test": 1}
    assert _reasons(out) == {0: "image is an empty path", 1: "image must be a path string, got 5"}


def test_a_parquet_file_with_brackets_in_its_name_is_read_as_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _image_recipe(tmp_path)
    rows = [{"image": {"bytes": None, "path": "imgs/a.png"}, "question": "Q", "answer": "a"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test[v2].parquet")
    recipe = load_recipe(tmp_path / "img.toml", {"splits.test": "test[v2].parquet"})
    summary = build_dataset(recipe, tmp_path / "ds", progress=False)
    assert summary.samples == {"test": 1} and summary.n_errors == 0


def test_a_damaged_manifest_is_named_when_a_rerun_is_refused(tmp_path, capsys):
    out = tmp_path / "ds"
    assert build_main(_tiny_shapes_args(out)) == 0
    (out / "dataset.json").write_text('{"name": ')
    capsys.readouterr()
    assert build_main(_tiny_shapes_args(out)) == 1
    err = capsys.readouterr().err
    assert "whose dataset.json is not a readable JSON object" in err and "--force" in err


def test_split_names_that_differ_only_in_case_are_refused():
    with pytest.raises(RecipeError, match=r"split names 'test' and 'Test' differ only in case"):
        load_recipe({"dataset": {"name": "x"}, "splits": {"test": 1, "Test": 1}})


def test_a_folder_on_a_file_system_without_locks_is_built_unlocked(tmp_path, monkeypatch, capsys):
    import errno

    fcntl = pytest.importorskip("fcntl")
    assert build_main(_tiny_shapes_args(tmp_path / "locked")) == 0
    assert "without the folder lock" not in capsys.readouterr().out

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert build_main(_tiny_shapes_args(tmp_path / "ds")) == 0
    assert (tmp_path / "ds" / "dataset.json").is_file()
    # said, as epvlm eval says it, rather than built unguarded without a word
    assert "note: built without the folder lock" in capsys.readouterr().out


def test_a_camera_size_beside_a_camera_preset_that_differs_is_refused():
    # it was ignored: the dataset came out at the preset's 346x260. A --set size now replaces
    # the file's preset (tests/test_build_round10.py); the file's own conflict is refused
    with pytest.raises(RecipeError, match=r'camera\.width = 128 but camera\.preset = "davis346"'):
        load_recipe(
            {
                "dataset": {"name": "r"},
                "camera": {"preset": "davis346", "width": 128},
                "splits": {"test": 1},
            }
        )
    recipe = load_recipe("video-qa.example", {"camera.width": "128", "camera.preset": ""})
    assert recipe.sensor_size == (128, 224)  # the default height: the file sets none
    assert load_recipe("video-qa.example", {"camera.width": "346"}).sensor_size == (346, 260)
    assert load_recipe(load_recipe("video-qa.example")).sensor_size == (346, 260)


def test_a_folder_given_as_the_recipe_is_named_a_folder(tmp_path):
    with pytest.raises(RecipeError, match=r"is a folder; expected a \.toml file"):
        load_recipe(tmp_path)
