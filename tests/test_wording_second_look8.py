"""Second look at the recipe and ``--set`` wording of 551cd7b, fbb78b6 and ee0e998.

- ``eventsim build shapes-demo --set splits.test=0`` was refused as
  "…/shapes-demo.toml: every split has 0 samples (splits.test = 0)": the file blamed, in its
  words, for what the command line gave. Every other refused ``--set`` names itself as typed and
  not the file (fbb78b6); so does this one now.
- ``--set pos_treshold=0.2`` (a misspelt pixel parameter without its table) got no suggestion,
  while ``--set pos_threshold=0.2`` is answered "did you mean simulator.params.pos_threshold?".
- A name far from every valid one got a guess that had nothing to do with it: ``--set id=1``
  "did you mean source.kind?", ``--set frames=1`` "did you mean dataset.name?", ``duration`` in
  [dataset] "did you mean description?". A guess now needs a closer match (or the name to be the
  start of exactly one valid one: ``shard`` -> ``shard_size``, ``cam`` -> ``camera``, which
  0.6 took and 0.7 alone would not).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets.recipe import load_recipe
from eventsim.errors import RecipeError

from cli_checks import one_line

ROOT = Path(__file__).resolve().parents[1]


def _error(recipe, overrides: dict[str, str] | None = None) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, overrides)
    return str(info.value)


def test_all_splits_zeroed_by_set_are_named_as_typed_not_blamed_on_the_file(tmp_path, capsys):
    argv = ["shapes-demo", "-o", str(tmp_path / "out"), "--no-progress", "--no-preview"]
    rc = build_main([*argv, "--set", "splits.test=0"])
    line = one_line(capsys.readouterr().err)
    assert rc == 1
    assert not (tmp_path / "out").exists()
    assert line == (
        "eventsim build: error: every split has 0 samples (--set splits.test=0); give at least "
        "one split a number of samples"
    ), line


def test_all_splits_zero_names_the_sets_and_the_files_zeros():
    message = _error("shapes-vqa", {"splits.train": "0", "splits.val": "0", "splits.test": "0"})
    assert message == (
        "every split has 0 samples (--set splits.train=0, --set splits.val=0, --set "
        "splits.test=0); give at least one split a number of samples"
    )
    data = {"dataset": {"name": "t"}, "splits": {"train": 0, "test": 3}}
    message = _error(data, {"splits.test": "0"})
    assert message == (
        "every split has 0 samples (splits.train = 0 in the recipe, --set splits.test=0); give "
        "at least one split a number of samples"
    )
    # the file's own zeros still name the file
    data = {"dataset": {"name": "t"}, "splits": {"train": 0, "test": 0}}
    assert _error(data).startswith("recipe: every split has 0 samples (splits.train = 0, ")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("pos_treshold", "simulator.params.pos_threshold"),
        ("refractory_us", "simulator.params.refractory_period_us"),
        ("sed", "dataset.seed"),
    ],
)
def test_a_misspelt_name_without_its_table_is_answered(key, suggestion):
    message = _error("shapes-demo", {key: "1"})
    assert message.endswith(f"; did you mean {suggestion}?"), message


@pytest.mark.parametrize("key", ["id", "frames", "n_frames", "duration", "folder"])
def test_a_name_like_no_valid_one_gets_no_guess_without_its_table(key):
    message = _error("shapes-demo", {key: "1"})
    assert "give the table too" in message
    assert "did you mean" not in message, message


@pytest.mark.parametrize(
    ("table", "key"),
    [("dataset", "duration"), ("dataset", "frames"), ("dataset", "image"), ("camera", "test")],
)
def test_a_field_like_no_valid_one_gets_no_guess(table, key):
    data = {"dataset": {"name": "t"}, "splits": {"test": 3}}
    data.setdefault(table, {})[key] = 1
    message = _error(data)
    assert f"unknown field {table}.{key}" in message
    assert "did you mean" not in message, message


def test_the_start_of_one_valid_name_is_still_answered():
    message = _error({"dataset": {"name": "t"}, "splits": {"test": 3}, "build": {"shard": 4}})
    assert message.endswith("; did you mean shard_size?"), message
    assert _error("shapes-demo", {"shard": "4"}).endswith("; did you mean build.shard_size?")
    assert _error("shapes-demo", {"cam.width": "64"}).endswith("; did you mean camera?")
    assert _error("shapes-demo", {"sim.preset": "clean"}).endswith("; did you mean simulator?")
    # the start of several names is no guess
    assert "did you mean" not in _error("shapes-demo", {"simulator.params.leak": "1"})


def test_a_recipe_integer_too_long_for_python_is_refused_as_toml(tmp_path):
    # tomllib reads integers of any size, but Python converts at most 4300 digits: an internal
    # ValueError ("use sys.set_int_max_str_digits()") instead of the recipe's error
    recipe = tmp_path / "big.toml"
    recipe.write_text(f'[dataset]\nname = "t"\nseed = {"9" * 5000}\n[splits]\ntest = 2\n')
    message = _error(recipe)
    assert message.startswith(f"{recipe}: not valid TOML: an integer too long to read"), message
    assert "set_int_max_str_digits" not in message
