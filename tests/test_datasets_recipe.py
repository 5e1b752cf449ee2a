"""Recipe loading and validation: errors name the field and what it accepts."""

from pathlib import Path

import pytest

from eventsim.datasets.recipe import (
    RECIPE_FIELDS,
    SOURCE_FIELDS,
    builtin_recipe_dir,
    load_recipe,
    recipe_fields_markdown,
)
from eventsim.errors import RecipeError

ROOT = Path(__file__).resolve().parents[1]


def _minimal(**tables):
    data = {"dataset": {"name": "t"}, "splits": {"test": 3}}
    data.update(tables)
    return data


@pytest.mark.parametrize("name", ["shapes-vqa", "image-vqa.example", "video-qa.example"])
def test_shipped_recipes_load(name):
    r = load_recipe(ROOT / "datasets" / f"{name}.toml")
    assert r.name
    assert r.splits
    assert r.sensor_size[0] >= 224


def test_builtin_name_and_defaults():
    r = load_recipe("shapes-vqa")
    assert r.path == builtin_recipe_dir() / "shapes-vqa.toml"
    assert r.source_kind == "shapes" and r.sensor_size == (224, 224)
    cfg = r.scene_config()
    assert cfg.sensor_size == (224, 224) and cfg.window_ms == r.window_us / 1000
    # the video example's camera preset sets the size
    assert load_recipe(ROOT / "datasets" / "video-qa.example.toml").sensor_size == (346, 260)


def test_overrides_are_parsed_and_validated():
    r = load_recipe(
        _minimal(),
        {
            "dataset.seed": "7",
            "splits.test": "5",
            "source.n_objects": "2,3",
            "source.question_types": "color,shape",
            "textured": "false",
            "simulator.params.pos_threshold": "0.3",
        },
    )
    assert r.seed == 7 and r.splits["test"] == 5
    assert r.source["n_objects"] == [2, 3] and r.source["question_types"] == ["color", "shape"]
    assert r.source["textured"] is False
    assert r.dvs_params().pos_threshold == 0.3
    # a value given as text on the command line is the same recipe as the number in a file
    as_text = load_recipe(_minimal(), {"simulator.params.pos_threshold": "0.3"})
    as_number = load_recipe({**_minimal(), "simulator": {"params": {"pos_threshold": 0.3}}})
    assert as_text.fingerprint == as_number.fingerprint
    assert load_recipe(_minimal(), {"seed": 4}).seed == 4
    # a different seed is a different dataset
    assert load_recipe(_minimal(), {"seed": 4}).fingerprint != load_recipe(_minimal()).fingerprint


def test_optional_field_without_default_stays_out_of_the_recipe():
    """An unset ``target_size_px`` is absent, not null: recipes written before the field existed
    keep their fingerprints (and their partly built datasets stay resumable)."""
    plain = load_recipe(_minimal())
    assert "target_size_px" not in plain.source
    assert plain.scene_config().target_size_px is None
    sized = load_recipe(_minimal(), {"source.target_size_px": "[8, 12]"})
    assert sized.source["target_size_px"] == [8.0, 12.0]
    assert sized.scene_config().target_size_px == (8.0, 12.0)
    assert sized.fingerprint != plain.fingerprint


@pytest.mark.parametrize(
    ("data", "overrides", "needles"),
    [
        (_minimal(source={"mode": "maze"}), {}, ["source.mode", "vqa, target"]),
        (_minimal(source={"colour": 1}), {}, ["source.colour", "valid fields", "n_objects"]),
        (_minimal(source={"kind": "audio"}), {}, ["source.kind", "shapes, image, video"]),
        (_minimal(camera={"width": "wide"}), {}, ["camera.width", "integer"]),
        (_minimal(camera={"width": 10}), {}, ["camera.width", "32"]),
        (_minimal(camera={"preset": "kinect"}), {}, ["camera.preset", "davis346"]),
        (_minimal(simulator={"preset": "perfect"}), {}, ["simulator.preset", "ideal, clean"]),
        (
            _minimal(simulator={"params": {"threshold": 1}}),
            {},
            ["simulator.params", "pos_threshold"],
        ),
        (_minimal(events={"window_ms": -5}), {}, ["events.window_ms"]),
        (_minimal(), {"dataset.seed": "x"}, ["dataset.seed", "integer"]),
        (_minimal(), {"source.position_grid": "5x5"}, ["source.position_grid", "3x3, 2x2"]),
        (_minimal(), {"nosuch": "1"}, ["nosuch", "dataset.seed"]),
        (_minimal(), {"events.window": "1"}, ["events.window", "window_ms"]),
        ({"dataset": {"name": "t"}, "splits": {}}, {}, ["[splits] is empty"]),
        ({"splits": {"test": 1}}, {}, ["dataset.name"]),
        ({"dataset": {"name": "t"}, "splits": {"te/st": 1}}, {}, ["te/st"]),
        (_minimal(source={"kind": "image"}), {}, ["splits.test", "JSONL"]),
        (_minimal(extra={}), {}, ["extra", "valid tables"]),
        (
            _minimal(
                source={"n_objects": [2, 4], "object_size_px": [80, 90]},
                camera={"width": 96, "height": 96},
            ),
            {},
            ["object_size_px"],
        ),
    ],
)
def test_bad_recipes_raise_recipe_error_naming_the_field(data, overrides, needles):
    with pytest.raises(RecipeError) as info:
        load_recipe(data, overrides)
    for needle in needles:
        assert needle in str(info.value)


def test_toml_errors_and_missing_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset\nname = 'x'\n")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="shapes-vqa"):
        load_recipe("no-such-recipe")


def test_docs_list_every_field():
    text = (ROOT / "docs" / "recipes.md").read_text()
    assert text.endswith(recipe_fields_markdown())
    for table, fields in RECIPE_FIELDS.items():
        for name in fields:
            assert f"`{table}.{name}`" in text
    for fields in SOURCE_FIELDS.values():
        for name in fields:
            assert f"`source.{name}`" in text
