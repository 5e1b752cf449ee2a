"""Final review of the later EP-VLM changes (helper 356).

1. ``epvlm flops --config qwen2-vl-2bb`` (and `epvlm.flops.load_dims`) named the presets but
   guessed none, where run and eval guess a misspelt --selector.
2. ``--config DIR/dataset.json`` (flops) and ``--model DIR/dataset.json`` (run, eval) were not
   said to be a dataset's, as the dataset's folder is.
3. ``epvlm run --overlay`` of a selector that scores nothing (dense, random, downsample, center)
   drew a heat map of its kept mask: dense tinted every block 45 % black beside a one-value
   colour bar reading "1"; the legend now names the outlines only, and the image is not tinted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from epvlm.cli import main

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"


def _error(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ------------------------------------------------------------------ 1. a misspelt preset


def test_load_dims_guesses_a_misspelt_preset():
    from epvlm.errors import ModelDirError
    from epvlm.flops import load_dims

    with pytest.raises(ModelDirError, match=r"; did you mean qwen2-vl-2b\?$"):
        load_dims("qwen2-vl-2bb")
    with pytest.raises(ModelDirError) as info:
        load_dims("/no/such/folder")
    assert "did you mean" not in str(info.value)


def test_flops_config_guesses_a_misspelt_preset(capsys):
    rc, err = _error(capsys, "flops", "--config", "Qwen2.5-VL-3b")
    assert rc == 1 and err.count("\n") == 1
    assert "is neither a preset" in err and err.rstrip().endswith("did you mean qwen2.5-vl-3b?")


# ------------------------------------------------------------------ 2. a dataset's dataset.json


@pytest.fixture
def manifest(tmp_path) -> Path:
    path = tmp_path / "data" / "dataset.json"
    path.parent.mkdir()
    path.write_text("{}")
    return path


def test_flops_config_of_a_datasets_manifest_says_so(capsys, manifest):
    rc, err = _error(capsys, "flops", "--config", manifest)
    assert rc == 1 and err.count("\n") == 1
    assert err.rstrip().endswith("; it is the dataset.json of a dataset built by 'eventsim build'")


def test_eval_model_of_a_datasets_manifest_says_to_pass_it_as_dataset(capsys, manifest):
    rc, err = _error(capsys, "eval", "--model", manifest, "--dataset", manifest.parent)
    assert rc == 1 and err.count("\n") == 1
    assert "is a file" in err
    assert err.rstrip().endswith(
        "it is the dataset.json of a dataset built by 'eventsim build': pass it as --dataset, "
        "and a checkpoint as --model"
    )


# ------------------------------------------------------------------ 3. overlays without scores

# inferno's bottom colour: the flat ramp of equal scores, and the tint of the lowest score
RAMP_BOTTOM = (0, 0, 4)


def _has_color(image: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool((image.reshape(-1, 3) == color).all(axis=1).any())


def test_patch_grid_overlay_without_scores_draws_no_heat_map_and_no_ramp():
    from eventsim.render import patch_grid_legend, patch_grid_overlay
    from eventsim.render.colors import apply_colormap

    assert tuple(apply_colormap(np.zeros((1, 1)), "inferno")[0, 0]) == RAMP_BOTTOM
    image = np.full((48, 48, 3), 200, np.uint8)
    keep = np.ones((4, 4), bool)
    drawn = patch_grid_overlay(image, None, keep, legend="blocks")
    # a block's inside is the image itself (outlines aside), not tinted
    assert (drawn[4:8, 4:8] == 200).all()
    legend = drawn[48:]
    assert not _has_color(legend, RAMP_BOTTOM)
    assert (legend == patch_grid_legend(48, 0.0, 0.0, label="blocks", ramp=False)).all()
    # a ramp is what ramp=False leaves out
    assert _has_color(patch_grid_legend(48, 1.0, 1.0, label="blocks"), RAMP_BOTTOM)
    # dropped blocks are dimmed as with scores
    keep[0, 0] = False
    scored = patch_grid_overlay(image, np.zeros((4, 4)), keep, alpha=0.0)
    assert (patch_grid_overlay(image, None, keep) == scored).all()


def test_patch_grid_overlay_without_scores_checks_the_mask():
    from eventsim.errors import ParameterError
    from eventsim.render import patch_grid_overlay

    image = np.zeros((24, 24, 3), np.uint8)
    with pytest.raises(ParameterError, match=r"keep mask has shape \(4,\); expected"):
        patch_grid_overlay(image, None, np.ones(4, bool))
    with pytest.raises(ParameterError, match="boolean"):
        patch_grid_overlay(image, None, np.full((2, 2), 2))


@pytest.mark.parametrize("selector", ["dense", "random"])
def test_run_overlay_of_a_selector_without_scores_is_not_tinted(tmp_path, capsys, selector):
    from PIL import Image

    image = tmp_path / "frame.png"
    Image.fromarray(np.full((112, 112, 3), 180, np.uint8)).save(image)
    overlay = tmp_path / "overlay.png"
    argv = ["run", "--model", TINY, "--image", image, "--question", "what colour is it"]
    rc = main([str(a) for a in [*argv, "--selector", selector, "--overlay", overlay]])
    assert rc == 0, capsys.readouterr().err
    drawn = np.asarray(Image.open(overlay).convert("RGB"))
    grid, legend = drawn[: drawn.shape[1]], drawn[drawn.shape[1] :]
    # kept blocks show the image as it is (dense's were 45 % black), dropped ones dimmed
    assert (grid == 180).all(axis=2).mean() > 0.3
    assert not _has_color(legend, RAMP_BOTTOM)
