"""`eventsim.options`: one Literal type per option, and every user of a choice list derives it."""

from __future__ import annotations

from typing import get_args

import pytest

from eventsim import options
from eventsim.datasets.recipe import RECIPE_FIELDS, SOURCE_FIELDS, _camera_names, _preset_names
from eventsim.errors import ParameterError
from eventsim.simulator.params import CAMERAS, PRESETS, DVSParams

PAIRS = [
    ("LogCurve", "LOG_CURVES"),
    ("PresetName", "PRESET_NAMES"),
    ("CameraName", "CAMERA_NAMES"),
    ("UpsampleMode", "UPSAMPLE_MODES"),
    ("FlowMethod", "FLOW_METHODS"),
    ("Codec", "CODECS"),
    ("Motion", "MOTIONS"),
    ("Fit", "FITS"),
    ("SyntheticClip", "SYNTHETIC_CLIPS"),
    ("SourceKind", "SOURCE_KINDS"),
    ("ImageFormat", "IMAGE_FORMATS"),
    ("SceneMode", "SCENE_MODES"),
    ("Executor", "EXECUTORS"),
    ("RenderMode", "RENDER_MODES"),
    ("Background", "BACKGROUNDS"),
    ("ColorBy", "COLOR_BY"),
    ("HeatmapScale", "HEATMAP_SCALES"),
    ("OverlayFrame", "OVERLAY_FRAMES"),
]


@pytest.mark.parametrize(("literal", "choices"), PAIRS)
def test_choices_are_the_literal_args(literal, choices):
    values = getattr(options, choices)
    assert values == get_args(getattr(options, literal)) and len(set(values)) == len(values) > 0


def test_every_option_is_listed():
    literals = {n for n in options.__all__ if n[0].isupper() and not n.isupper()}
    assert literals == {lit for lit, _ in PAIRS}


def test_named_tables_match_their_literals():
    assert options.PRESET_NAMES == tuple(PRESETS)
    assert options.CAMERA_NAMES == tuple(CAMERAS)


def test_recipe_validation_uses_the_option_tuples():
    assert RECIPE_FIELDS["simulator"]["upsample"].choices is options.UPSAMPLE_MODES
    assert SOURCE_FIELDS["image"]["motion"].choices is options.MOTIONS
    assert SOURCE_FIELDS["image"]["format"].choices is options.IMAGE_FORMATS
    assert SOURCE_FIELDS["image"]["resize"].choices is options.FITS
    assert SOURCE_FIELDS["video"]["resize"].choices is options.FITS
    assert _camera_names() == ("", *options.CAMERA_NAMES)
    assert _preset_names() == options.PRESET_NAMES


def _choices(parser, dest):
    return tuple(next(a for a in parser._actions if a.dest == dest).choices)


def test_cli_choices_use_the_option_tuples():
    from eventsim.cli.build import build_parser as build
    from eventsim.cli.render import build_parser as render
    from eventsim.cli.simulate import build_parser as simulate

    sim = simulate()
    assert _choices(sim, "motion") == options.MOTIONS
    assert _choices(sim, "upsample") == options.UPSAMPLE_MODES
    assert _choices(sim, "flow_method") == options.FLOW_METHODS
    assert _choices(sim, "preset") == options.PRESET_NAMES
    assert _choices(sim, "synthetic") == options.SYNTHETIC_CLIPS
    assert _choices(render(), "mode") == options.RENDER_MODES
    assert _choices(build(), "executor") == options.EXECUTORS


def test_epvlm_selector_choices():
    from epvlm.cli import build_run_parser
    from epvlm.prior import SELECTORS, Selector

    assert SELECTORS == get_args(Selector)
    assert _choices(build_run_parser(), "selector") == SELECTORS


def test_library_validation_names_the_choices():
    with pytest.raises(ParameterError, match="linlog"):
        DVSParams(log_curve="log10")
