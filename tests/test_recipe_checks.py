"""A recipe's fingerprint covers its split files' bytes, so a build never mixes samples of an
edited split file with shards of the old one; recipe values are checked by their TOML type."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from eventsim._version import __version__
from eventsim.datasets import build_dataset, engine, verify_dataset
from eventsim.datasets import recipe as recipe_module
from eventsim.datasets.recipe import load_recipe
from eventsim.errors import OutputExistsError, RecipeError

ROOT = Path(__file__).resolve().parents[1]

IMAGE_RECIPE = """
[dataset]
name = "split-files"
[source]
kind = "image"
amplitude_px = 3.0
[camera]
width = 64
height = 48
[events]
window_ms = 20
[splits]
test = "data/test.jsonl"
[build]
shard_size = 2
"""


def _image_recipe(tmp_path: Path, n: int = 6) -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    cv2.imwrite(str(data / "a.png"), cv2.resize(small, (80, 60), interpolation=cv2.INTER_NEAREST))
    lines = [
        {"image": "a.png", "question": f"Q{i}?", "choices": ["yes", "no"], "answer": "yes"}
        for i in range(n)
    ]
    split = data / "test.jsonl"
    split.write_text("".join(json.dumps(x) + "\n" for x in lines))
    path = tmp_path / "r.toml"
    path.write_text(IMAGE_RECIPE)
    return path, split


def _edit_answer(split: Path, index: int) -> None:
    lines = split.read_text().splitlines()
    record = json.loads(lines[index])
    record["answer"] = "no"
    lines[index] = json.dumps(record)
    split.write_text("\n".join(lines) + "\n")


def _answers(out: Path) -> list[str]:
    return [json.loads(x)["answer"] for x in (out / "samples.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- split files


def test_the_fingerprint_follows_the_split_files_bytes(tmp_path):
    path, split = _image_recipe(tmp_path)
    before = load_recipe(path).fingerprint
    assert load_recipe(path).fingerprint == before
    _edit_answer(split, 3)
    assert load_recipe(path).fingerprint != before


def test_a_parquet_wildcard_covers_every_matching_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "data"
    data.mkdir()
    for k in range(2):
        table = pa.table(
            {"image": [{"bytes": b"", "path": "x"}], "question": ["Q?"], "answer": ["a"]}
        )
        pq.write_table(table, data / f"test-{k}.parquet")
    r = {
        "dataset": {"name": "pq"},
        "source": {"kind": "image"},
        "splits": {"test": "data/test-*.parquet"},
    }
    before = load_recipe(r, base_dir=tmp_path)
    assert sorted(before.split_file_hashes) == ["data/test-0.parquet", "data/test-1.parquet"]
    fingerprint = before.fingerprint
    (data / "test-1.parquet").write_bytes((data / "test-0.parquet").read_bytes() + b"\0")
    assert load_recipe(r, base_dir=tmp_path).fingerprint != fingerprint


@pytest.mark.parametrize("name", ["shapes-vqa", "shapes-demo"])
def test_recipes_without_split_files_keep_their_fingerprints(name):
    """A shapes recipe reads no file: its fingerprint is what it was before split files counted,
    so its partly built datasets stay resumable."""
    r = load_recipe(name)
    assert r.split_file_hashes == {}
    payload = {"recipe": r.data, "eventsim": __version__}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert r.fingerprint == hashlib.sha256(text.encode()).hexdigest()


def test_a_finished_dataset_is_refused_after_its_split_file_changed(tmp_path):
    path, split = _image_recipe(tmp_path)
    out = tmp_path / "ds"
    first = build_dataset(path, out, progress=False)
    assert first.shards_built == 3 and set(_answers(out)) == {"yes"}
    _edit_answer(split, 3)
    with pytest.raises(OutputExistsError) as err:
        build_dataset(path, out, progress=False)
    msg = str(err.value)
    assert "its split file 'data/test.jsonl' changed" in msg and "eventsim version" not in msg
    assert set(_answers(out)) == {"yes"} and verify_dataset(out).ok
    again = build_dataset(path, out, force=True, progress=False)
    assert again.shards_reused == 0 and _answers(out)[3] == "no"


def test_an_unfinished_build_does_not_reuse_shards_of_the_old_split_file(tmp_path, monkeypatch):
    path, split = _image_recipe(tmp_path)
    out = tmp_path / "ds"

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(engine, "_finalise", stop)
        with pytest.raises(KeyboardInterrupt):
            build_dataset(path, out, progress=False)
    assert len(list((out / "shards").glob("*.h5"))) == 3
    _edit_answer(split, 0)
    with pytest.raises(OutputExistsError, match=r"unfinished build .*split file 'data/test\.jsonl"):
        build_dataset(path, out, progress=False)
    s = build_dataset(path, out, force=True, progress=False)
    assert s.shards_reused == 0 and _answers(out)[0] == "no" and verify_dataset(out).ok


def test_split_files_are_hashed_once_per_build(tmp_path, monkeypatch):
    path, _ = _image_recipe(tmp_path)
    calls: list[Path] = []
    real = recipe_module._sha256_file

    def counting(file: Path) -> str:
        calls.append(file)
        return real(file)

    monkeypatch.setattr(recipe_module, "_sha256_file", counting)
    s = build_dataset(path, tmp_path / "ds", progress=False)
    assert s.shards_built == 3 and len(calls) == 1


# ----------------------------------------------------------------------------- value types


def _minimal(**tables):
    return {"dataset": {"name": "t"}, "splits": {"test": 3}, **tables}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            {**_minimal(), "source": {"kind": "image", "amplitude_px": "4"}, "splits": {"t": "x"}},
            'source.amplitude_px: expected a number, got "4" (a string)',
        ),
        (
            _minimal(dataset={"name": "t", "seed": "1"}),
            'dataset.seed: expected an integer, got "1"',
        ),
        (
            _minimal(camera={"width": 160.0}),
            "camera.width: expected an integer, got 160.0 (a float)",
        ),
        (_minimal(source={"textured": "true"}), 'got "true" (a string)'),
        (_minimal(source={"n_objects": [2.0, 3.0]}), "pair of integers, got [2.0, 3.0]"),
        (_minimal(source={"question_types": "color"}), 'list of strings, got "color" (a string)'),
        (_minimal(splits={"test": "5"}), 'splits.test: expected an integer, got "5" (a string)'),
        (_minimal(simulator={"params": {"pos_threshold": "0.3"}}), '"0.3" (a string)'),
        (
            _minimal(simulator={"params": {"refractory_period_us": 100.0}}),
            "expected an integer, got 100.0 (a float)",
        ),
    ],
)
def test_a_string_or_float_where_the_recipe_wants_another_type_is_refused(data, needle):
    with pytest.raises(RecipeError) as err:
        load_recipe(data)
    assert needle in str(err.value)


def test_a_toml_file_with_quoted_numbers_is_refused(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[dataset]\nname = "t"\nseed = "1"\n[splits]\ntest = 3\n')
    with pytest.raises(
        RecipeError, match=r'dataset\.seed: expected an integer, got "1" \(a string'
    ):
        load_recipe(path)


def test_values_are_shown_as_toml_writes_them():
    with pytest.raises(RecipeError) as err:
        load_recipe(_minimal(source={"mode": True}))
    assert "got true (a boolean)" in str(err.value) and "True" not in str(err.value)
    with pytest.raises(RecipeError, match=r'source\.mode = "maze"; allowed values'):
        load_recipe(_minimal(source={"mode": "maze"}))


def test_set_values_are_text_and_still_parsed():
    r = load_recipe(
        _minimal(),
        {
            "seed": "1",
            "camera.width": "160",
            "source.textured": "true",
            "source.n_objects": "[2, 3]",
            "splits.test": "5",
            "simulator.params.refractory_period_us": "100",
        },
    )
    assert r.seed == 1 and r.sensor_size == (160, 224) and r.source["textured"] is True
    assert r.source["n_objects"] == [2, 3] and r.splits["test"] == 5
    assert r.dvs_params().refractory_period_us == 100
    assert (
        r.fingerprint
        == load_recipe(
            _minimal(
                dataset={"name": "t", "seed": 1},
                camera={"width": 160},
                source={"textured": True, "n_objects": [2, 3]},
                splits={"test": 5},
                simulator={"params": {"refractory_period_us": 100}},
            )
        ).fingerprint
    )
    with pytest.raises(RecipeError, match=r"^--set camera\.width=160\.5; expected an integer$"):
        load_recipe(_minimal(), {"camera.width": "160.5"})
    with pytest.raises(RecipeError, match=r"^--set camera\.width=160\.0; expected an integer$"):
        load_recipe(_minimal(), {"camera.width": "160.0"})
