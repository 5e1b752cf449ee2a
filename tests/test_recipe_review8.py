"""A researcher writing a recipe of their own (review 8): what validation tells them.

- A misspelt table, field, ``--set`` name or ``simulator.params`` field named the valid ones but
  not the one meant: the message now ends ``did you mean ...?``; a source field of another kind
  says which kind has it, and a field written above every table header (``seed = 3`` before
  ``[dataset]``) says which table it belongs to instead of calling it an unknown table.
- A table given as another value (``source = "image"``, ``splits = [...]``) was refused as
  ``[source] must be a table, got str``, in Python's words and without the value.
- A shapes recipe whose splits are all 0 built an empty dataset and exited 0 (an empty dataset
  is never what was meant, as ``--limit 0`` is refused).
- A split file path of only spaces passed validation and failed at build time as a missing file.
- A question type of the other scene mode (``pattern`` in mode ``vqa``) was refused as not
  allowed, with no word of the mode, while the docs list it as allowed.
- ``source.root`` did not say what a relative root starts from (the recipe file's folder).
- Every recipe in ``datasets/`` and every build command in its comments validates.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from eventsim.cli.common import parse_assignments
from eventsim.datasets.recipe import load_recipe
from eventsim.errors import RecipeError

ROOT = Path(__file__).resolve().parents[1]


def _recipe(**tables: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"dataset": {"name": "t"}, "splits": {"test": 3}}
    data.update(tables)
    return data


def _error(data: Any, overrides: dict[str, str] | None = None) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(data, overrides)
    return str(info.value)


@pytest.mark.parametrize(
    ("data", "overrides", "suggestion"),
    [
        (_recipe(dataset={"name": "t", "seeed": 3}), None, "did you mean seed?"),
        (_recipe(source={"kind": "shapes", "n_object": [1, 2]}), None, "did you mean n_objects?"),
        (_recipe(source={"kind": "image", "amplitude": 3.0}), None, "did you mean amplitude_px?"),
        (_recipe(camera={"Width": 256}), None, "did you mean width?"),
        (_recipe(sorce={"kind": "shapes"}), None, "did you mean source?"),
        (_recipe(), {"dataset.sed": "3"}, "did you mean seed?"),
        (_recipe(), {"datset.seed": "3"}, "did you mean dataset?"),
        (_recipe(), {"sed": "3"}, "did you mean dataset.seed?"),
        (
            _recipe(simulator={"params": {"pos_thresh": 0.2}}),
            None,
            "did you mean pos_threshold?",
        ),
        (_recipe(), {"simulator.params.refractory_us": "10"}, "did you mean refractory_period_us?"),
    ],
)
def test_a_misspelt_name_is_answered_with_the_close_valid_one(data, overrides, suggestion):
    message = _error(data, overrides)
    assert message.endswith(suggestion), message
    # the valid names are still listed (an unqualified --set name asks for its table instead)
    assert "valid" in message or "give the table too" in message


def test_a_misspelt_name_keeps_the_list_of_valid_ones():
    message = _error(_recipe(dataset={"name": "t", "seeed": 3}))
    assert (
        "valid fields: description, homepage, license, name, provenance, seed, version" in message
    )
    message = _error(_recipe(simulator={"params": {"pos_thresh": 0.2}}))
    assert "unknown field simulator.params.pos_thresh; valid fields: log_curve" in message


def test_a_name_far_from_every_valid_one_gets_no_guess():
    message = _error(_recipe(dataset={"name": "t", "colour_depth": 3}))
    assert "did you mean" not in message
    assert "valid fields:" in message


def test_a_source_field_of_another_kind_names_that_kind():
    data = _recipe(source={"kind": "video", "fps": 30.0}, splits={"test": "a.jsonl"})
    message = _error(data)
    assert "unknown field source.fps for source kind 'video'" in message
    assert "a field of source kind 'image'" in message


def test_a_field_above_every_table_header_names_its_table():
    data = _recipe()
    data["seed"] = 3  # `seed = 3` written before the [dataset] line
    message = _error(data)
    assert "seed = 3 is outside every table" in message
    assert "[dataset]" in message
    assert "unknown table" not in message


@pytest.mark.parametrize(
    ("table", "value", "shown"),
    [
        ("source", "image", '"image" (a string)'),
        ("splits", ["train", "test"], '["train", "test"] (an array)'),
        ("simulator", [1, 2], "[1, 2] (an array)"),
        ("dataset", 3, "3 (an integer)"),
    ],
)
def test_a_table_given_as_another_value_is_named_in_toml_words(table, value, shown):
    data = _recipe()
    data[table] = value
    message = _error(data)
    assert f"[{table}] must be a table" in message
    assert f"got {shown}" in message


def test_a_shapes_recipe_whose_splits_are_all_zero_is_refused():
    message = _error(_recipe(splits={"train": 0, "test": 0}))
    assert "every split has 0 samples" in message
    assert "splits.train" in message and "splits.test" in message
    message = _error("shapes-vqa", {"splits.train": "0", "splits.val": "0", "splits.test": "0"})
    assert "every split has 0 samples" in message
    # a split set to 0 beside one with samples is fine (docs/recipes.md's test-only build)
    load_recipe(_recipe(splits={"train": 0, "test": 2}))


@pytest.mark.parametrize("kind", ["image", "video"])
def test_a_split_path_of_only_spaces_is_refused(kind):
    message = _error(_recipe(source={"kind": kind}, splits={"test": "   "}))
    assert 'splits.test = "   "' in message
    assert "expected the path of a JSONL" in message


def test_a_question_type_of_the_other_mode_names_the_mode():
    message = _error(_recipe(source={"kind": "shapes", "question_types": ["pattern"]}))
    assert "source.question_types" in message
    assert "'pattern'" in message or '"pattern"' in message
    assert "mode 'vqa'" in message or 'mode "vqa"' in message
    assert "mode 'target'" in message or 'mode "target"' in message


def test_the_docs_say_where_a_relative_source_root_starts():
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `source.root`")]
    assert len(rows) == 2
    assert all("relative to the recipe file" in row for row in rows)


def test_unicode_text_in_a_recipe_is_kept(tmp_path):
    path = tmp_path / "données.toml"
    path.write_text(
        '[dataset]\nname = "événements-数据"\ndescription = "Fragen über Bewegung 🚗"\n'
        "[splits]\ntest = 2\n",
        encoding="utf-8",
    )
    recipe = load_recipe(path)
    assert recipe.name == "événements-数据"
    assert recipe.data["dataset"]["description"] == "Fragen über Bewegung 🚗"


@pytest.mark.parametrize("path", sorted((ROOT / "datasets").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_recipe_and_the_builds_its_comments_show_validate(path):
    load_recipe(path)
    text = path.read_text(encoding="utf-8")
    # "# Build:   eventsim build datasets/x.toml -o DIR \" continued on "#   --set ..." lines
    lines = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    commands = re.findall(r"(eventsim build .*?)(?=$|\n(?!\s*--))", "\n".join(lines), re.S)
    if path.stem != "shapes-demo":
        assert commands, f"{path.name} shows no build command"
    for command in commands:
        words = shlex.split(command.replace("\\\n", " "))
        assigns = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
        load_recipe(path, parse_assignments(assigns))
