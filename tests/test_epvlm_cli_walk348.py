"""epvlm command line, a walkthrough's findings (helper 348):

1. ``epvlm eval --selector dense --keep 0.5`` ignored --keep without a word; it says so, as
   ``epvlm run`` does.
2. An unknown selector is named quoted with a guess at the one meant (eval said ``selector
   events unknown``, run argparse's bare ``invalid choice``); ``--window-ms 0`` is a usage
   error naming the option and the value typed (eval said ``event window 0.0 ms ...``, exit 1).
3. ``epvlm flops --config DIR`` of a dataset folder says it is neither a preset nor a
   checkpoint folder, and that it is a dataset.
4. ``epvlm run --choices ""`` (an unset shell variable) was a free-answer question; refused.
5. ``epvlm run --overlay`` drew a legend only for the event and edges selectors.
6. Help: the tiny model's path, short placeholders alike across the subcommands;
   ``epvlm flops --new-tokens 0`` dropped the prefill's LM head silently and is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_eval_dataset

from epvlm.cli import main

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"


def _error(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_eval_dataset(tmp_path_factory.mktemp("walk348"), 1)


# ------------------------------------------------------------------- 1. eval's dense and --keep


@pytest.fixture
def stopped_eval(monkeypatch):
    """evaluate_dataset replaced by a refusal: what eval said before it is all that is seen."""
    import epvlm.evaluate
    from eventsim.errors import ParameterError

    def stop(*args, **kwargs):
        raise ParameterError("stopped here")

    monkeypatch.setattr(epvlm.evaluate, "evaluate_dataset", stop)


def _eval(dataset, tmp_path, *extra) -> list[str]:
    return ["eval", "--model", TINY, "--dataset", dataset, "-o", tmp_path / "out", *extra]


def test_eval_of_dense_alone_says_keep_does_not_apply(stopped_eval, dataset, tmp_path, capsys):
    rc, err = _error(capsys, *_eval(dataset, tmp_path, "--selector", "dense", "--keep", "0.5,1"))
    assert rc == 1 and "stopped here" in err
    assert (
        "epvlm eval: note: the dense selector keeps every token; --keep 0.5 does not apply" in err
    )


@pytest.mark.parametrize(
    "extra",
    [
        ("--selector", "dense"),  # no --keep given
        ("--selector", "dense", "--keep", "1"),  # dense's own keep
        ("--selector", "dense,event", "--keep", "0.5"),  # --keep is event's
    ],
)
def test_eval_says_nothing_of_keep_where_it_applies(stopped_eval, dataset, tmp_path, capsys, extra):
    rc, err = _error(capsys, *_eval(dataset, tmp_path, *extra))
    assert rc == 1 and "does not apply" not in err


# ------------------------------------------------------------------- 2. selector and window words


def test_eval_names_an_unknown_selector_quoted_with_a_guess(capsys):
    rc, err = _error(capsys, "eval", "--model", "m", "--dataset", "d", "--selector", "events")
    assert rc == 2
    assert err.rstrip().endswith(
        "argument --selector: selector 'events' unknown; expected a comma list of event, edges, "
        "random, downsample, center, dense; did you mean event?"
    ), err


def test_run_names_an_unknown_selector_with_a_guess(capsys):
    argv = ["run", "--model", "m", "--image", "i.png", "--question", "q", "--selector", "events"]
    rc, err = _error(capsys, *argv)
    assert rc == 2
    assert "argument --selector: invalid choice: 'events' (choose from 'event', 'edges'" in err
    assert err.rstrip().endswith("; did you mean event?"), err
    rc, err = _error(capsys, *argv[:-1], "zzzzzz")
    assert rc == 2 and "invalid choice: 'zzzzzz'" in err and "did you mean" not in err


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "argument --window-ms: 0 must be > 0 and finite (ms)"),
        ("-5", "argument --window-ms: -5 must be > 0 and finite (ms)"),
        ("nan", "argument --window-ms: nan must be > 0 and finite (ms)"),
        ("abc", "argument --window-ms: 'abc' is not a number"),
        ("0.0004", "argument --window-ms: 0.0004 ms is shorter than 1 µs"),
    ],
)
def test_window_ms_refusals_are_usage_errors_naming_the_option(capsys, value, says):
    for argv in (
        ["eval", "--model", "m", "--dataset", "d"],
        ["run", "--model", "m", "--image", "i.png", "--question", "q", "--events", "e.h5"],
    ):
        # exit 2, as --keep 0's refusal
        assert _error(capsys, *argv, "--keep", "0")[0] == 2
        rc, err = _error(capsys, *argv, "--window-ms", value)
        assert rc == 2 and says in err and err.count("\n") == 1, err


def test_a_valid_window_still_reaches_the_dataset_check(dataset, tmp_path, capsys):
    rc, err = _error(capsys, *_eval(dataset, tmp_path, "--window-ms", "5000"))
    assert rc == 1 and "event window 5000 ms is longer than" in err


# ------------------------------------------------------------------------- 3. flops --config


def test_flops_of_a_dataset_folder_says_what_it_is(dataset, capsys):
    rc, err = _error(capsys, "flops", "--config", dataset)
    assert rc == 1 and err.count("\n") == 1
    assert (
        f"config {str(dataset)!r} is neither a preset (qwen2-vl-2b, qwen2-vl-7b, qwen2.5-vl-3b, "
        "qwen2.5-vl-7b) nor a checkpoint folder: it has no config.json; it holds dataset.json, "
        "a dataset built by 'eventsim build'" in err
    ), err


def test_flops_of_another_folder_names_the_presets(tmp_path, capsys):
    rc, err = _error(capsys, "flops", "--config", tmp_path)
    assert rc == 1 and "neither a preset (qwen2-vl-2b," in err and "dataset.json" not in err


# --------------------------------------------------------------------------- 4. empty --choices


@pytest.mark.parametrize("value", ["", "  "])
def test_run_refuses_empty_choices(capsys, value):
    argv = ["run", "--model", "m", "--image", "i.png", "--question", "q", "--choices", value]
    rc, err = _error(capsys, *argv)
    assert rc == 2 and err.count("\n") == 1
    assert f"argument --choices: {value!r} is empty (an unset shell variable?)" in err, err


# ----------------------------------------------------------------------- 5. every overlay's legend


@pytest.mark.parametrize("selector", ["random", "center", "downsample", "dense"])
def test_every_selectors_overlay_has_a_legend(tmp_path, capsys, selector):
    import cv2
    import numpy as np

    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (112, 112, 3), np.uint8))
    overlay = tmp_path / "overlay.png"
    argv = ["run", "--model", TINY, "--image", image, "--question", "what colour is it"]
    rc = main([str(a) for a in [*argv, "--selector", selector, "--overlay", overlay]])
    assert rc == 0, capsys.readouterr().err
    drawn = cv2.imread(str(overlay))
    # the square image's block grid, and the legend strip below it
    assert drawn.shape[0] > drawn.shape[1], drawn.shape


# ------------------------------------------------------------------------------------ 6. help


def test_model_help_names_the_tiny_models_folder(capsys):
    from epvlm.cli import TINY_MODEL
    from epvlm.demo import DEFAULT_MODEL

    assert TINY_MODEL == DEFAULT_MODEL
    for command in ("run", "eval"):
        assert main([command, "--help"]) == 0
        # wrapped anywhere (argparse breaks at the path's hyphens too): compared without spaces,
        # on both sides, so a checkout path holding a space compares as well
        text = "".join(capsys.readouterr().out.split())
        assert "DEFAULT_MODEL" not in text and "".join(str(TINY_MODEL).split()) in text


def test_placeholders_are_short_and_alike(capsys):
    for command in ("run", "eval", "flops", "demo"):
        assert main([command, "--help"]) == 0
        usage = capsys.readouterr().out.split("\n\n")[0]
        for long_name in (
            "BATCH_SIZE",
            "MAX_NEW_TOKENS",
            "THREADS",
            "WORKERS",
            "TEXT_TOKENS",
            "NEW_TOKENS",
            "SEED",
            "OUTPUT",
            "MODEL",
        ):
            assert long_name not in usage, (command, usage)
        for option in ("--threads", "--batch-size", "--max-new-tokens", "--seed", "--workers"):
            if option in usage:
                assert f"{option} N" in usage, (command, option)


def test_flops_refuses_zero_new_tokens(capsys):
    rc, err = _error(capsys, "flops", "--new-tokens", "0")
    assert rc == 2
    assert "argument --new-tokens: 0 must be >= 1 (an answer has at least one token" in err
    assert main(["flops", "--new-tokens", "1", "--json"]) == 0
