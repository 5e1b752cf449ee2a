"""`eventsim build`, round 11b: the inputs log reads only the records `_file_record` writes (a
line of another shape has its shard rebuilt; a dataset of eventsim 0.2.6 is refused by its
fingerprint before its log is read); `epvlm demo` reuses its dataset only when its fingerprint,
which covers the eventsim version, is this one's; an enumerated recipe value that is misspelt
gets a did-you-mean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import pytest

from eventsim.datasets import build_dataset, engine, load_recipe, verify_dataset
from eventsim.errors import OutputExistsError, RecipeError

from user_media import small_recipe, textured, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def _images(folder: Path) -> Path:
    """An image recipe: samples of a.png, b.png, a.png, a shard each."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, seed in (("a.png", 1), ("b.png", 2)):
        cv2.imwrite(str(folder / name), textured(seed, 64, 48))
    rows = [{"image": x, "question": "Q?", "answer": "a"} for x in ("a.png", "b.png", "a.png")]
    write_jsonl(folder / "qa.jsonl", rows)
    return small_recipe(folder, "image", "qa.jsonl", shard_size=1, name="r11b")


def _build(recipe: Path, out: Path):
    return build_dataset(recipe, out, progress=False)


def _touch(path: Path) -> None:
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))


def test_a_log_line_of_size_and_mtime_alone_has_its_shard_rebuilt(tmp_path):
    # the form eventsim 0.2.6 wrote, which no dataset this eventsim resumes can hold (its
    # fingerprint differs): it was still compared by size and mtime, and a touched image by
    # the sha256 its samples recorded
    recipe = _images(tmp_path / "src")
    out = tmp_path / "ds"
    _build(recipe, out)
    log = out / engine.INPUTS_FILE
    lines = log.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["inputs"] = {k: v[:2] for k, v in entry["inputs"].items()}
    lines[1] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    summary = _build(recipe, out)
    assert (summary.shards_reused, summary.shards_built) == (2, 1)
    assert verify_dataset(out).ok


def test_a_touched_image_that_could_not_be_hashed_when_built_is_refused(tmp_path, monkeypatch):
    recipe = _images(tmp_path / "src")
    out = tmp_path / "ds"
    # read, but not hashed (a file that could not be opened a second time)
    monkeypatch.setattr(engine, "_file_sha256", lambda path: None)
    _build(recipe, out)
    monkeypatch.undo()
    assert _build(recipe, out).shards_reused == 3
    _touch(tmp_path / "src" / "b.png")
    with pytest.raises(OutputExistsError) as err:
        _build(recipe, out)
    text = str(err.value)
    assert "b.png" in text and "test-00001.h5" in text
    assert "could not be read when it was built to compare its bytes" in text


def test_a_dataset_of_eventsim_026_is_refused_before_its_inputs_log_is_read(tmp_path):
    # what 0.2.6 left: its fingerprint covered the recipe's folder, and its log [size, mtime]
    recipe = _images(tmp_path / "src")
    out = tmp_path / "ds"
    _build(recipe, out)
    manifest = json.loads((out / "dataset.json").read_text())
    manifest["recipe_fingerprint"] = "0" * 64
    manifest.pop("locations", None)
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n")
    lines = []
    for text in (out / engine.INPUTS_FILE).read_text().splitlines():
        entry = json.loads(text)
        entry["inputs"] = {k: v[:2] for k, v in entry["inputs"].items()}
        lines.append(json.dumps(entry) + "\n")
    (out / engine.INPUTS_FILE).write_text("".join(lines))
    _touch(tmp_path / "src" / "b.png")
    with pytest.raises(OutputExistsError, match=r"of another recipe .*force"):
        _build(recipe, out)


# ----------------------------------------------------------------------------- epvlm demo


def test_the_demo_rebuilds_a_dataset_of_another_eventsim_that_recorded_a_limit(
    tmp_path, monkeypatch
):
    # eventsim 0.2.6 recorded a --limit at or above the split's size as given; the demo reuses
    # a dataset with every sample only when its fingerprint is this eventsim's, so such a
    # dataset is built again and records none
    from epvlm.demo.pipeline import prepare_dataset

    text = (ROOT / "datasets" / "shapes-demo.toml").read_text()
    recipe = tmp_path / "demo.toml"
    recipe.write_text(
        text.replace("\ntest = 600\n", "\ntest = 2\n").replace(
            "\nshard_size = 100\n", "\nshard_size = 1\n"
        )
    )
    assert load_recipe(recipe).splits["test"] == 2
    data = tmp_path / "data"
    monkeypatch.setattr("eventsim._version.__version__", "0.0.1")
    assert prepare_dataset(data, recipe=recipe, limit=5, progress=False) == (data, False)
    manifest = json.loads((data / "dataset.json").read_text())
    manifest["limit"] = 5
    (data / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert prepare_dataset(data, recipe=recipe, progress=False) == (data, True)
    monkeypatch.undo()
    assert prepare_dataset(data, recipe=recipe, progress=False) == (data, False)
    assert json.loads((data / "dataset.json").read_text())["limit"] is None


# ----------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("override", "guess"),
    [
        ("camera.preset=davis", "davis346"),
        ("camera.preset=DAVIS346", "davis346"),
        ("simulator.preset=noise", "noisy"),
        ("source.mode=targt", "target"),
        ("source.question_types=colour,count", "color"),
    ],
)
def test_a_misspelt_enumerated_value_gets_a_did_you_mean(tmp_path, override, guess):
    recipe = small_recipe(tmp_path, "shapes", "4", name="dym")
    key, value = override.split("=")
    if key == "source.question_types":
        recipe.write_text(
            recipe.read_text().replace(
                '[source]\nkind = "shapes"\n',
                f'[source]\nkind = "shapes"\nquestion_types = {json.dumps(value.split(","))}\n',
            )
        )
        with pytest.raises(RecipeError, match=f"; did you mean {guess}\\?$"):
            load_recipe(recipe)
        return
    with pytest.raises(RecipeError, match=f"allowed values: .*; did you mean {guess}\\?$"):
        load_recipe(recipe, {key: value})


def test_an_enumerated_value_like_none_of_them_gets_no_guess(tmp_path):
    recipe = small_recipe(tmp_path, "shapes", "4", name="dym")
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe, {"camera.preset": "xyz"})
    assert "allowed values" in str(err.value) and "did you mean" not in str(err.value)
