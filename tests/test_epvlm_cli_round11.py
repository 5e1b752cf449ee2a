"""epvlm command line, round-11 newcomer walkthrough:

1. ``epvlm eval`` refused an existing results.json, a --window-ms longer than the dataset's,
   a split without samples, an output folder that cannot be created and --prompt-format chat
   on a checkpoint without a chat template only once transformers had loaded (4-10 s); what
   dataset.json, the output folder and the model folder's files settle is now refused before
   torch and transformers load, in the same words and with the same exit status.
2. A file of a dataset (a shard, samples.jsonl) given as the dataset says which dataset it is
   in, as its shards/ folder did.
3. A folder holding a dataset (``epvlm demo``'s output, whose dataset is its data/) given as
   the dataset names that dataset.
4. ``epvlm flops --keep 50%`` said "keep list ... is not comma-separated numbers"; flops takes
   one fraction, and says so.
5. ``epvlm demo``'s last line says its time is the whole command's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import build_eval_dataset

from epvlm.cli import main
from eventsim.errors import OutputExistsError

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
N_SAMPLES = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_eval_dataset(tmp_path_factory.mktemp("round11"), N_SAMPLES)


def _error(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ---------------------------------------------------------------- 1. refused before the import

_LIGHT = """
import contextlib
import io
import json
import sys
from epvlm import cli

said = []
for words in {runs!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli.main(words)
    said.append([rc, err.getvalue().strip()])
print(json.dumps([sorted(m for m in ("torch", "transformers") if m in sys.modules), said]))
"""


def test_what_the_files_settle_is_refused_before_torch_and_transformers_load(dataset, tmp_path):
    import cv2
    import numpy as np

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("[]\n")
    (tmp_path / "a-file").write_text("")
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.full((56, 56, 3), 128, np.uint8))
    fresh = str(tmp_path / "fresh")
    evaluate = ["eval", "--model", str(TINY), "--dataset", str(dataset), "--no-progress"]
    runs = {
        "exists": [*evaluate, "-o", str(out)],
        "exists, with threads": [*evaluate, "-o", str(out), "--threads", "1"],
        "window": [*evaluate, "-o", fresh, "--window-ms", "200"],
        "window not a number": [*evaluate, "-o", fresh, "--window-ms", "-5"],
        "no samples": [*evaluate, "-o", fresh, "--split", "val"],
        "into the dataset": [*evaluate, "-o", str(dataset), "--force"],
        "cannot be created": [*evaluate, "-o", str(tmp_path / "a-file" / "out")],
        "chat": [*evaluate, "-o", fresh, "--prompt-format", "chat"],
        "run chat": ["run", "--model", str(TINY), "--image", str(image), "--question", "q",
                     "--selector", "dense", "--prompt-format", "chat"],
    }  # fmt: skip
    code = _LIGHT.format(runs=list(runs.values()))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    heavy, said = json.loads(done.stdout.splitlines()[-1])
    said = dict(zip(runs, said, strict=True))
    chat = (
        "prompt format 'chat' needs a chat template, but the checkpoint's processor and "
        "tokenizer have none; use 'plain'"
    )
    expected = {
        "exists": f"{str(out / 'results.json')!r} exists; pass --force to overwrite",
        "exists, with threads": f"{str(out / 'results.json')!r} exists; pass --force",
        "window": f"event window 200 ms is longer than the 50 ms of events {str(dataset)!r} "
        "stores before each question",
        "window not a number": "argument --window-ms: -5 must be > 0 and finite (ms)",
        "no samples": f"split 'val' of {str(dataset)!r} has no samples (test has {N_SAMPLES})",
        "into the dataset": f"output folder {str(dataset)!r} holds a dataset",
        "cannot be created": "cannot be created (",
        "chat": chat,
        "run chat": chat,
    }
    for name, (rc, err) in said.items():
        # a usage error, as --keep 0's (tests/test_epvlm_cli_walk348.py)
        status = 2 if name == "window not a number" else 1
        assert rc == status and len(err.splitlines()) == 1 and expected[name] in err, (name, err)
    assert heavy == []
    assert not Path(fresh).exists()


def test_the_early_refusals_say_what_the_evaluation_says(dataset, tmp_path):
    """The words said before the import are the evaluation's own, where it refuses the same."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from epvlm.evaluate import evaluate_dataset
    from eventsim.errors import ParameterError

    early = {}
    for name, extra in (("split", ["--split", "val"]), ("chat", ["--prompt-format", "chat"])):
        argv = ["eval", "--model", TINY, "--dataset", dataset, "-o", tmp_path / name, *extra]
        early[name] = main([str(a) for a in argv])
    kwargs = {"selectors": ("dense",), "keeps": (0.5,), "progress": False}
    with pytest.raises(ParameterError) as split:
        evaluate_dataset(TINY, str(dataset), split="val", **kwargs)
    with pytest.raises(ParameterError) as chat:
        evaluate_dataset(TINY, str(dataset), prompt="chat", **kwargs)
    assert early == {"split": 1, "chat": 1}
    from epvlm.cli import _check_dataset, _check_prompt_format

    args = argparse.Namespace(dataset=str(dataset), split="val", limit=None, window_ms=None)
    with pytest.raises(ParameterError) as split_early:
        _check_dataset(args)
    with pytest.raises(ParameterError) as chat_early:
        _check_prompt_format(str(TINY), "chat")
    assert str(split_early.value) == str(split.value)
    assert str(chat_early.value) == str(chat.value)


@pytest.mark.parametrize(
    "where",
    ["chat_template.jinja", "chat_template.json", "additional_chat_templates", "tokenizer_config"],
)
def test_a_checkpoint_that_may_hold_a_chat_template_is_left_to_the_load(tmp_path, where):
    """Only a folder whose files certainly hold no template is refused early."""
    from epvlm.cli import _check_prompt_format

    model = tmp_path / "model"
    shutil.copytree(TINY, model, ignore=shutil.ignore_patterns("*.safetensors"))
    if where == "tokenizer_config":
        config = json.loads((model / "tokenizer_config.json").read_text())
        config["chat_template"] = "{{ messages }}"
        (model / "tokenizer_config.json").write_text(json.dumps(config))
    elif where == "additional_chat_templates":
        (model / where).mkdir()
    else:
        (model / where).write_text("{}")
    _check_prompt_format(str(model), "chat")
    # a folder without its tokenizer_config.json is no checkpoint to judge
    bare = tmp_path / "bare"
    bare.mkdir()
    _check_prompt_format(str(bare), "chat")


def test_an_unfinished_evaluation_is_left_to_the_evaluation_to_judge(dataset, tmp_path):
    """Whether a folder's kept answers resume depends on the run's settings (torch's version
    and dtype among them): such a folder is not refused early, results and all."""
    from epvlm.cli import _check_results_folder
    from epvlm.results import PARTIAL_STATE

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("[]\n")
    args = argparse.Namespace(output=str(out), dataset=str(dataset), force=False)
    with pytest.raises(OutputExistsError, match=r"results\.json' exists"):
        _check_results_folder(args)
    (out / PARTIAL_STATE).write_text("{}\n")
    _check_results_folder(args)
    assert sorted(p.name for p in out.iterdir()) == [PARTIAL_STATE, "results.json"]


# ------------------------------------------------------------- 2 and 3. what the dataset is


def test_a_file_of_a_dataset_names_the_dataset(dataset, tmp_path, capsys):
    shard = next((dataset / "shards").glob("*.h5"))
    for given in (shard, dataset / "samples.jsonl"):
        rc, err = _error(capsys, "eval", "--model", TINY, "--dataset", given, "-o", tmp_path / "o")
        assert rc == 1
        assert err.strip() == (
            f"epvlm eval: error: {str(given)!r} is a file, not a dataset folder; pass the "
            f"folder that holds dataset.json: the dataset it is in, {str(dataset)!r}"
        )


def test_a_folder_holding_a_dataset_names_it(dataset, tmp_path, capsys):
    demo_out = tmp_path / "demo-out"
    shutil.copytree(dataset, demo_out / "data")
    (demo_out / "report.md").write_text("")
    said = (
        f"{str(demo_out)!r} is not a built dataset (no dataset.json), but holds one: pass "
        f"{str(demo_out / 'data')!r}"
    )
    rc, err = _error(capsys, "eval", "--model", TINY, "--dataset", demo_out, "-o", tmp_path / "o")
    assert rc == 1 and err.strip() == f"epvlm eval: error: {said}"
    rc, err = _error(capsys, "demo", "--dataset", demo_out, "-o", tmp_path / "d", "--no-progress")
    assert rc == 1 and err.strip() == f"epvlm demo: error: {said}"
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------------ 4. flops --keep


def test_flops_keep_says_it_takes_one_fraction(capsys):
    for given, said in (
        ("50%", "expected a fraction in (0, 1], 0.5 for 50%"),
        ("half", "expected a fraction in (0, 1], e.g. 0.5"),
    ):
        rc, err = _error(capsys, "flops", "--keep", given)
        assert rc == 2
        assert f"keep fraction {given!r} is not a number; {said}" in err
        assert "list" not in err and "comma" not in err
    rc, err = _error(capsys, "flops", "--keep", "0.5,0.25")
    assert rc == 2 and "--keep takes one fraction, got '0.5,0.25'" in err
    rc, err = _error(capsys, "flops", "--keep", "1.5")
    assert rc == 2 and "keep fraction '1.5' must lie in (0, 1]" in err


# ---------------------------------------------------------------------- 5. the demo's time


def test_the_demo_line_says_its_time_is_the_whole_commands(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    import epvlm.demo

    def fake_demo(out, **kwargs):
        summary = {"scenarios": {"moving": 2}, "scenario_field": "target_motion",
                   "n_questions": 2, "rows": [{}] * 10}  # fmt: skip
        return SimpleNamespace(summary=summary, elapsed_s=15.2, report="r", results_json="j")

    monkeypatch.setattr(epvlm.demo, "run_demo", fake_demo)
    assert main(["demo", "-o", str(tmp_path / "demo"), "--device", "cpu"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        "answered 2 questions (target_motion: 2 moving) x 10 configurations in 15 s in all "
        "(start-up, dataset, answers and report: the report's Time line splits it)"
    )
