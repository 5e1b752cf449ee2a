"""Preset names in any case: ``--preset Noisy``, ``DVSParams.from_preset("Noisy")`` and a
recipe's ``[simulator] preset = "Noisy"`` were refused ("did you mean 'noisy'?") where
``--layout`` / ``--to`` take names in any case. They are taken now, and what a file or a
dataset records is the canonical lower-case name: its bytes and fingerprint are those of
``noisy``."""

import h5py
import numpy as np
import pytest

from eventsim.cli import main as eventsim_main
from eventsim.datasets.recipe import load_recipe
from eventsim.errors import ParameterError, RecipeError
from eventsim.options import PRESET_NAMES
from eventsim.simulator import DVSParams


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", ["Noisy", "NOISY", " noisy ", "\tNoisy\n"])
def test_from_preset_takes_any_case_and_surrounding_space(name):
    assert DVSParams.from_preset(name) == DVSParams.from_preset("noisy")


def test_from_preset_takes_v2e_default_in_upper_case():
    assert DVSParams.from_preset("V2E-Default") == DVSParams.from_preset("v2e-default")


@pytest.mark.parametrize("name", ["nosy", "", "no isy", 3])
def test_from_preset_still_refuses_unknown_names(name):
    with pytest.raises(ParameterError, match="unknown preset"):
        DVSParams.from_preset(name)


def test_from_preset_hint_names_the_canonical_spelling():
    with pytest.raises(ParameterError, match="did you mean 'noisy'"):
        DVSParams.from_preset("Nosy")


def _simulate(capsys, out, preset: str) -> None:
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--duration-ms", "200", "--fps", "20",
        "--sensor-size", "32x24", "--preset", preset, "-o", out, "--no-progress",
    )  # fmt: skip
    assert rc == 0, err


def test_cli_preset_in_any_case_writes_the_file_of_the_lower_case_name(tmp_path, capsys):
    lower, mixed = tmp_path / "lower.h5", tmp_path / "mixed.h5"
    _simulate(capsys, lower, "noisy")
    _simulate(capsys, mixed, " Noisy ")
    with h5py.File(lower) as a, h5py.File(mixed) as b:
        assert b.attrs["preset"] == "noisy"
        assert dict(a.attrs) == dict(b.attrs)
        for key in ("x", "y", "t", "p"):
            np.testing.assert_array_equal(a["events"][key][()], b["events"][key][()])


def test_cli_unknown_preset_is_still_refused(tmp_path, capsys):
    out = tmp_path / "x.h5"
    rc, _, err = run(
        capsys, "simulate", "--synthetic", "moving-shapes", "--preset", "Nosy", "-o", out,
        "--no-progress",
    )  # fmt: skip
    assert rc != 0 and not out.exists()
    assert "Nosy" in err and "'noisy'" in err


def test_cli_help_lists_the_canonical_names(capsys):
    rc, out, _ = run(capsys, "simulate", "--help")
    assert rc == 0
    assert "{" + ",".join(PRESET_NAMES) + "}" in out.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize("name", ["Noisy", " NOISY "])
def test_recipe_preset_in_any_case_gives_the_fingerprint_of_the_lower_case_name(
    tmp_path, shapes_recipe, name
):
    path = shapes_recipe(tmp_path / "r.toml")
    lower = load_recipe(path, {"simulator.preset": "noisy"})
    mixed = load_recipe(path, {"simulator.preset": name})
    assert mixed.data["simulator"]["preset"] == "noisy"
    assert mixed.fingerprint == lower.fingerprint
    assert mixed.dvs_params() == lower.dvs_params()


def test_recipe_file_preset_in_any_case(tmp_path, shapes_recipe):
    path = shapes_recipe(tmp_path / "r.toml")
    lower = load_recipe(path, {"simulator.preset": "noisy"})
    text = path.read_text().replace('preset = "clean"', 'preset = "Noisy"')
    path.write_text(text)
    mixed = load_recipe(path)
    assert mixed.data["simulator"]["preset"] == "noisy"
    assert mixed.fingerprint == lower.fingerprint


def test_recipe_unknown_preset_is_still_refused(tmp_path, shapes_recipe):
    path = shapes_recipe(tmp_path / "r.toml")
    with pytest.raises(RecipeError, match=r"simulator\.preset=Nosy; allowed values"):
        load_recipe(path, {"simulator.preset": "Nosy"})
