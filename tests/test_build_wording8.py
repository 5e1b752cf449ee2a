"""Build wording 8: `eventsim build` names a refused ``--set`` as typed; ``--device`` likewise.

- ``eventsim build RECIPE --set simulator.params.pos_threshold=0`` said
  "…/shapes-demo.toml: simulator.params: pos_threshold = 0.0; expected ...": it blamed the recipe
  file for a value the command line gave, in Python's spelling (``--set
  simulator.params.refractory_period_us=1e300`` printed a 301-digit integer). ``--set
  splits.test=-1`` likewise ("…/shapes-demo.toml: splits.test = -1; ..."). Now "--set
  simulator.params.pos_threshold=0; expected ...", and the file is not named.
- A value the file gives is still named with the file and its key, as written: ``window_ms =
  0`` in the file read "events.window_ms = 0.0", and ``pos_threshold = 0`` "simulator.params:
  pos_threshold = 0.0".
- ``eventsim simulate --device foo`` said "device 'foo' is not a torch device"; now "--device
  foo ...", while `EventSimulator(device='foo')` reads "device='foo' ..." (an
  `ArgumentValueError`). ``--device cuda:9`` on a machine with fewer GPUs failed inside torch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets.recipe import load_recipe
from eventsim.errors import ArgumentValueError, RecipeError

from cli_checks import one_line

SHAPES_DEMO = Path(__file__).resolve().parents[1] / "datasets" / "shapes-demo.toml"


def _build_error(tmp_path, capsys, recipe: str | Path, *sets: str) -> str:
    argv = [str(recipe), "-o", str(tmp_path / "out"), "--no-progress", "--no-preview"]
    rc = build_main([*argv, *(w for s in sets for w in ("--set", s))])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert not (tmp_path / "out").exists()
    line = one_line(err)
    assert line.startswith("eventsim build: error: "), line
    return line.removeprefix("eventsim build: error: ")


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        (
            "simulator.params.pos_threshold=0",
            "--set simulator.params.pos_threshold=0; expected a finite value > 0",
        ),
        ("splits.test=-1", "--set splits.test=-1; expected 0 <= value <= 1000000000"),
        ("seed=-1", "--set seed=-1; expected 0 <= value <= 9223372036854775807"),
        ("events.window_ms=0", "--set events.window_ms=0; expected 1 <= value <= 10000"),
        ("camera.width=abc", "--set camera.width=abc; expected an integer"),
        ("splits.test=1e3", "--set splits.test=1e3; expected an integer"),
        ("events.window_ms=nan", "--set events.window_ms=nan; expected a finite number"),
        (
            "simulator.params.refractory_period_us=1e300",
            "--set simulator.params.refractory_period_us=1e300; expected at most 3600000000 "
            "(an hour)",
        ),
        ("simulator.params.pos_threshold=0 x", "--set 'simulator.params.pos_threshold=0 x'; "
         "expected a number"),
        ("source.motion_px=5,1", "--set source.motion_px=5,1; expected [low, high] with "
         "low <= high"),
        ("source.n_objects=9,20", "--set source.n_objects=9,20; expected 1 <= low <= high <= 7"),
        ("simulator.preset=foo", "--set simulator.preset=foo; allowed values: ideal, clean, "
         "noisy, v2e-default"),
    ],
)  # fmt: skip
def test_a_refused_set_is_named_as_typed_not_blamed_on_the_file(
    tmp_path, capsys, assignment, expected
):
    assert _build_error(tmp_path, capsys, "shapes-demo", assignment) == expected


def test_an_unknown_field_of_a_set_is_named_as_typed(tmp_path, capsys):
    line = _build_error(tmp_path, capsys, "shapes-demo", "simulator.params.pos_treshold=0.2")
    assert line.startswith(
        "--set simulator.params.pos_treshold=0.2: DVSParams has no field pos_treshold; valid "
        "fields: log_curve, "
    ), line
    assert line.endswith("; did you mean pos_threshold?"), line
    line = _build_error(tmp_path, capsys, "shapes-demo", "dataset.bogus=1")
    assert line.startswith("--set dataset.bogus=1: unknown field dataset.bogus; "), line


def test_a_set_without_its_table_is_named_as_typed(tmp_path, capsys):
    # a DVSParams field is under simulator.params: the hint says so
    line = _build_error(tmp_path, capsys, "shapes-demo", "pos_threshold=0.2")
    assert str(SHAPES_DEMO) not in line
    assert line.startswith("--set pos_threshold=0.2: give the table too"), line
    assert line.endswith("; did you mean simulator.params.pos_threshold?"), line


def _recipe(tmp_path, body: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text('[dataset]\nname = "x"\n[splits]\ntest = 1\n' + body)
    return path


def test_a_refused_value_of_the_file_names_the_file_and_the_value_as_written(tmp_path, capsys):
    path = _recipe(tmp_path, "[simulator.params]\npos_threshold = 0\n")
    # a --set of another field does not take the blame
    line = _build_error(tmp_path, capsys, path, "dataset.seed=3")
    assert line == f"{path}: simulator.params.pos_threshold = 0; expected a finite value > 0"
    path = _recipe(tmp_path, "[events]\nwindow_ms = 0\n")
    line = _build_error(tmp_path, capsys, path)
    assert line == f"{path}: events.window_ms = 0; expected 1 <= value <= 10000"
    path = _recipe(tmp_path, "[simulator.params]\nbogus = 1\n")
    line = _build_error(tmp_path, capsys, path)
    assert line.startswith(f"{path}: unknown field simulator.params.bogus; valid fields: "), line
    # the file's value, overridden by a valid --set, is no error
    path = _recipe(tmp_path, "[simulator.params]\npos_threshold = 0\n")
    recipe = load_recipe(path, {"simulator.params.pos_threshold": "0.3"})
    assert recipe.dvs_params().pos_threshold == 0.3


def test_load_recipe_names_an_override_as_set_gives_it():
    # `load_recipe`'s overrides are what --set gives (its docstring): named the same way
    with pytest.raises(RecipeError) as info:
        load_recipe("shapes-demo", {"splits.test": -1})
    assert str(info.value) == "--set splits.test=-1; expected 0 <= value <= 1000000000"
    assert type(info.value) is RecipeError
    with pytest.raises(RecipeError) as info:
        load_recipe("shapes-demo", {"source.motion_px": [5, 1]})
    assert (
        str(info.value) == "--set 'source.motion_px=[5, 1]'; expected [low, high] with low <= high"
    )


# ------------------------------------------------------------------------------------ --device


def test_the_library_names_a_bad_device_as_python_passes_it():
    pytest.importorskip("torch")
    from eventsim.simulator import DVSParams, EventSimulator

    with pytest.raises(ArgumentValueError) as info:
        EventSimulator(DVSParams.from_preset("ideal"), (32, 32), device="foo")
    assert str(info.value).startswith("device='foo' is not a torch device; expected "), info.value
    assert info.value.parameter == "device" and info.value.value == "foo"


def _simulate_error(tmp_path, capsys, *argv: str) -> str:
    from eventsim.cli.simulate import main as simulate_main

    out = tmp_path / "x.h5"
    rc = simulate_main(["--synthetic", "moving-shapes", "-o", str(out), "-q", *argv])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert not out.exists()
    return one_line(err).removeprefix("eventsim simulate: error: ")


def test_simulate_names_a_bad_device_as_typed(tmp_path, capsys):
    pytest.importorskip("torch")
    line = _simulate_error(tmp_path, capsys, "--device", "foo")
    assert line.startswith("--device foo is not a torch device; expected "), line
    line = _simulate_error(tmp_path, capsys, "--device", "mps")
    assert line.startswith("--device mps is not supported; expected "), line


def test_a_gpu_this_machine_lacks_is_refused_naming_the_ones_it_has(tmp_path, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    line = _simulate_error(tmp_path, capsys, "--device", "cuda:9")
    assert line == (
        "--device cuda:9 names a GPU this machine lacks; it has 2 (cuda:0 to cuda:1)"
    ), line
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _simulate_error(tmp_path, capsys, "--device", "cuda")
    assert line == "--device cuda requested but CUDA is not available here", line
