"""One axis order per concept, named in the identifier (issue 14 item 5).

``sensor_size`` is always (W, H), as in tonic; a VLM image size is ``image_hw`` (H, W), as in
transformers; any other pair says its order in its name (``frame_wh``, ``out_hw``). Old spellings
fail naming the new one, and a non-square size goes through each API the right way round.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from eventsim.cli.common import add_renamed_option, cli_command, make_parser
from eventsim.errors import OutputExistsError, RecipeError
from eventsim.events import EVENT_DTYPE

ROOT = Path(__file__).resolve().parents[1]
WIDE_W, WIDE_H = 240, 160  # a landscape sensor: W != H, and W > H


# ---------------------------------------------------------------- old spellings name the new


def test_epvlm_flops_image_size_was_renamed_image_hw(capsys):
    from epvlm.cli import main

    assert main(["flops", "--image-size", "448", "224"]) == 2
    err = capsys.readouterr().err
    assert "--image-size was renamed --image-hw (H W)" in err


def test_simulate_size_was_renamed_sensor_size(capsys, tmp_path):
    from eventsim.cli.simulate import main

    out = tmp_path / "s.h5"
    assert main(["--synthetic", "moving-shapes", "-o", str(out), "--size", "64x48"]) == 2
    assert "--size was renamed --sensor-size (WxH)" in capsys.readouterr().err
    assert not out.exists()


def test_bench_epvlm_image_size_was_renamed_image_side(capsys):
    spec = importlib.util.spec_from_file_location("bench_epvlm", ROOT / "tools" / "bench_epvlm.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(SystemExit) as exc:
        bench.main(["--image-size", "448"])
    assert exc.value.code == 2
    assert "--image-size was renamed --image-side" in capsys.readouterr().err


def test_renamed_option_is_hidden_and_fails_without_values(capsys):
    p = make_parser("demo", "test parser")
    p.add_argument("--new-hw", nargs=2, type=int)
    add_renamed_option(p, "--old-size", "--new-hw (H W)")
    assert "--old-size" not in p.format_help()
    assert vars(p.parse_args(["--new-hw", "1", "2"])) == {"new_hw": [1, 2]}

    @cli_command(lambda: p)
    def main(args: argparse.Namespace) -> int:
        return 0

    assert main(["--old-size"]) == 2
    assert "--old-size was renamed --new-hw (H W)" in capsys.readouterr().err


def test_scene_config_image_size_was_renamed_sensor_size():
    from eventsim.datasets.scenes import SceneConfig

    with pytest.raises(TypeError, match=r"image_size=\.\.\.\) was renamed sensor_size \(W, H\)"):
        SceneConfig(image_size=(WIDE_W, WIDE_H))
    with pytest.raises(AttributeError):
        _ = SceneConfig().image_size


@pytest.mark.parametrize("field", ["image_size", "sensor_size"])
def test_recipe_source_size_points_at_the_camera_table(field):
    from eventsim.datasets import load_recipe

    with pytest.raises(RecipeError, match=rf"source\.{field} .*camera\.width and camera\.height"):
        load_recipe("shapes-vqa", {f"source.{field}": [WIDE_W, WIDE_H]})


def test_event_map_out_size_was_renamed_out_hw():
    from epvlm.prior import event_map

    ev = np.zeros(0, EVENT_DTYPE)
    with pytest.raises(TypeError, match="out_size"):
        event_map(ev, (WIDE_W, WIDE_H), out_size=(56, 28))


def test_render_result_frame_size_was_renamed_frame_wh():
    from eventsim.render.pipeline import RenderResult

    names = {f for f in RenderResult.__dataclass_fields__}
    assert "frame_wh" in names and "frame_size" not in names


def test_every_sensor_size_option_is_spelled_the_same():
    """Each eventsim command that takes a sensor size spells it ``--sensor-size WxH``."""
    from eventsim.cli import convert, info, plot, render, simulate

    for module in (convert, info, plot, render, simulate):
        parser = module.build_parser()
        actions = {o: a for a in parser._actions for o in a.option_strings}
        assert actions["--sensor-size"].metavar == "WxH", module.__name__
        assert "--sensor-size" in parser.format_help(), module.__name__
        for old in ("--size", "--image-size"):
            assert old not in actions or actions[old].help == argparse.SUPPRESS, module.__name__


# ---------------------------------------------------------- force=True in Python, --force in CLI


def test_library_errors_say_force_true_and_the_cli_says_force(capsys, tmp_path):
    from eventsim.io import write_events

    out = tmp_path / "e.npy"
    write_events(out, np.zeros(0, EVENT_DTYPE), (WIDE_W, WIDE_H))
    with pytest.raises(OutputExistsError, match="force=True"):
        write_events(out, np.zeros(0, EVENT_DTYPE), (WIDE_W, WIDE_H))

    p = make_parser("demo", "test parser")

    @cli_command(lambda: p)
    def main(args: argparse.Namespace) -> int:
        write_events(out, np.zeros(0, EVENT_DTYPE), (WIDE_W, WIDE_H))
        return 0

    assert main([]) == 1
    err = capsys.readouterr().err
    assert "pass --force to" in err and "force=True" not in err


def test_no_library_module_tells_python_callers_to_pass_the_cli_flag():
    library = [
        p
        for pkg in ("eventsim", "epvlm")
        for p in (ROOT / pkg).rglob("*.py")
        if "cli" not in p.relative_to(ROOT / pkg).parts and p.name != "cli.py"
    ]
    assert len(library) > 20
    offenders = [str(p.relative_to(ROOT)) for p in library if "pass --force" in p.read_text()]
    assert offenders == []


# ------------------------------------------------------------- non-square sizes, right way round


@pytest.mark.parametrize(("hw", "grid"), [((448, 224), [16, 8]), ((224, 448), [8, 16])])
def test_flops_token_grid_follows_image_hw(capsys, hw, grid):
    from epvlm.cli import main

    assert main(["flops", "--image-hw", str(hw[0]), str(hw[1]), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["image_hw"] == list(hw) and res["token_grid"] == grid
    assert res["total_tokens"] == grid[0] * grid[1]


def test_event_map_out_hw_is_the_map_shape():
    from epvlm.prior import event_map

    ev = np.zeros(1, EVENT_DTYPE)
    ev["x"], ev["y"] = WIDE_W - 1, 0  # top-right pixel of the sensor
    emap = event_map(ev, (WIDE_W, WIDE_H), out_hw=(28, 56))
    assert emap.shape == (28, 56)
    assert emap[0, 55] == 1 and emap.sum() == 1
    assert event_map(ev, (WIDE_W, WIDE_H)).shape == (WIDE_H, WIDE_W)


def test_scene_generator_draws_sensor_size_as_width_by_height():
    from eventsim.datasets.scenes import SceneConfig, draw_sample, simulate_scene

    cfg = SceneConfig(mode="vqa", sensor_size=(WIDE_W, WIDE_H))
    sample = draw_sample(cfg, seed=3)
    assert sample.image.shape == (WIDE_H, WIDE_W, 3)
    assert sample.frames.shape[1:] == (WIDE_H, WIDE_W, 3)
    events = simulate_scene(sample, seed=3)
    assert events.size > 0
    assert events["x"].max() < WIDE_W and events["y"].max() < WIDE_H
    assert events["x"].max() >= WIDE_H  # x runs along the longer side


def test_recipe_camera_becomes_the_scene_sensor_size():
    from eventsim.datasets import load_recipe

    rec = load_recipe(
        "shapes-vqa", {"camera.preset": "", "camera.width": WIDE_W, "camera.height": WIDE_H}
    )
    assert rec.sensor_size == (WIDE_W, WIDE_H)
    assert rec.scene_config().sensor_size == (WIDE_W, WIDE_H)


def test_simulate_sensor_size_is_width_by_height(tmp_path):
    from eventsim.cli.simulate import main
    from eventsim.io import EventReader

    out = tmp_path / "s.h5"
    argv = ["--synthetic", "moving-shapes", "--duration-ms", "100", "-o", str(out), "-q"]
    assert main([*argv, "--sensor-size", "64x40"]) == 0
    with EventReader(out) as r:
        ev = r.read()
        assert r.sensor_size == (64, 40)
    assert ev["x"].max() < 64 and ev["y"].max() < 40 and ev["x"].max() >= 40


def test_rendered_frame_wh_matches_the_frame_array():
    from eventsim.render.renderer import FrameRenderer, RenderParams

    renderer = FrameRenderer(RenderParams(scale=2), (WIDE_W, WIDE_H))
    assert renderer.frame_wh == (2 * WIDE_W, 2 * WIDE_H)
    frame = renderer.render(np.zeros(0, EVENT_DTYPE), 0, 1000)
    assert frame.shape[:2] == (2 * WIDE_H, 2 * WIDE_W)
