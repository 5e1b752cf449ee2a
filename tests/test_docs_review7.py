"""Help texts and docs drift found by following README.md and docs/ from a fresh clone (review 7).

- Help texts named placeholders the usage line does not show: ``eventsim build --force``
  "replace an existing different build in DIR" under ``-o OUTPUT``; ``eventsim convert --force``
  "overwrite OUTPUT" and ``simulate``'s "other inputs (instead of INPUT)" over positionals shown
  as ``output`` and ``[input]``.
- Options in the same unit showed it differently (``--window-ms MS`` beside ``--tau-ms TAU_MS``,
  ``--duration-ms DURATION_MS``, ``epvlm run --window-ms WINDOW_MS``).
- ``eventsim convert --help`` listed v2e, evqa and evt2 as "(--to only)", without the suffix
  their files must carry (a v2e file named ``out.v2e`` is refused).
- ``eventsim simulate --help`` said an image INPUT goes "(with --motion)"; it is moved by the
  default saccade without one.
- README: only ``convert`` took ``--time-unit``/``--columns``; a nanosecond ``.npz`` read by
  ``info`` showed 4961 s instead of 4.96 s with no way there to say so (info, render and plot
  now take them too).
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
from test_docs_review5 import EPVLM_COMMANDS, EVENTSIM_COMMANDS, _options, _parser, _text

COMMANDS = (*EVENTSIM_COMMANDS, *EPVLM_COMMANDS)
# words that stand for a value the user types; a help naming one must show it in its usage
PLACEHOLDERS = {"DIR", "OUT", "OUTPUT", "INPUT", "FILE", "IMG", "PATH", "FMT", "RECIPE"}
UNIT_METAVARS = {"ms": "MS", "s": "S", "us": "US", "px": "PX"}


def _help_texts(command: str) -> list[str]:
    p = _parser(command)
    return [
        p.description or "",
        *(a.help or "" for a in p._actions),
        *(g.title or "" for g in p._action_groups),
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_placeholders_a_help_names_are_those_its_usage_shows(command):
    usage = _parser(command).format_usage()
    # metavars and positionals: the usage without its option strings and choices
    bare = re.sub(r"(?<![\w])--?[\w-]+|\{[^}]*\}", " ", usage.split(":", 1)[1])
    shown = set(re.findall(r"[A-Za-z_]+", bare))
    wrong = []
    for text in _help_texts(command):
        for word in re.findall(r"(?<![\w.'/:-])([A-Z][A-Z0-9_]*)(?![\w'-])", text):
            # in caps in the help but in lower case in the usage (a positional's plain name),
            # or a placeholder the usage does not show at all
            if word not in shown and (word.lower() in shown or word in PLACEHOLDERS):
                wrong.append(word)
    assert wrong == [], f"{command}: {sorted(set(wrong))} not in {usage!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_an_option_in_a_unit_shows_that_unit(command):
    wrong = {}
    for name, action in _options(command).items():
        unit = name.rsplit("-", 1)[-1]
        if action.help == argparse.SUPPRESS:
            # a hidden option (another tool's, or a former name) shows no metavar anywhere
            continue
        if name.startswith("--") and unit in UNIT_METAVARS and action.nargs != 0:
            if action.metavar != UNIT_METAVARS[unit]:
                wrong[name] = action.metavar
    assert wrong == {}


def test_convert_help_names_a_suffix_every_output_format_takes(tmp_path):
    from eventsim.io.formats import FORMATS, format_from_path

    description = " ".join((_parser("convert").description or "").split())
    listed = dict(re.findall(r"(\w+) \(([^()]*)\)", description.split("Output formats:")[1]))
    assert set(listed) == set(FORMATS)
    for name, text in listed.items():
        suffixes = re.findall(r"\.\w+", text)
        assert suffixes, f"{name}: {text!r} names no suffix"
        for suffix in suffixes:
            explicit = name if "--to" in text else None
            assert format_from_path(tmp_path / f"out{suffix}", explicit) == name


@pytest.mark.parametrize("command", ["info", "convert"])
def test_layout_help_lists_every_layout_it_takes(command):
    from eventsim.io.layouts import LAYOUT_CHOICES

    text = _options(command)["--layout"].help or ""
    assert all(name in text for name in LAYOUT_CHOICES)


def test_readme_names_the_commands_that_take_a_time_unit_and_column_order():
    # info, render and plot took neither option (test_cli_review7), as README said
    readme = " ".join(_text("README.md").split())
    assert "`info`, `convert`, `render` and `plot` take `--time-unit` and `--columns`" in readme
    for option in ("--time-unit", "--columns"):
        takers = [c for c in COMMANDS if option in _options(c)]
        assert takers == ["info", "convert", "render", "plot"], option


def test_an_image_input_moves_by_the_default_saccade_without_motion(tmp_path, capsys):
    # simulate --help: INPUT is an image "moved by --motion, default saccade"
    import cv2

    from eventsim.cli import main
    from eventsim.io import EventReader

    assert "default saccade" in (_options("simulate")["--motion"].help or "")
    assert "default saccade" in next(
        a.help for a in _parser("simulate")._actions if a.dest == "input"
    )
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "img.png"), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    out = tmp_path / "img.h5"
    argv = ["simulate", str(tmp_path / "img.png"), "-o", str(out), "--duration-ms", "20"]
    assert main([*argv, "--no-progress"]) == 0
    with EventReader(out) as r:
        assert r.source["motion"] == "saccade" and len(r) > 0
