"""epvlm command line, round-10 newcomer walkthrough:

1. A hub id as ``--model`` / ``--config`` (``Qwen/Qwen2-VL-2B-Instruct``) was called a missing
   model directory (run, eval), a folder without config.json (demo) or neither a preset nor a
   model directory (flops); it is now said to be a hub id that epvlm never downloads, naming
   a snapshot of it in the local Hugging Face cache when there is one.
2. Building the run and eval parsers imported torch and transformers (``DTYPES``,
   ``PROMPT_FORMATS``), so ``--help``, usage errors and bad paths took 10 s; they no longer
   load either.
3. ``--limit 0``, ``--batch-size 0``, ``--max-new-tokens 0`` and ``--threads 0`` exited 1 naming
   the Python parameter (``batch_size 0 must be >= 1``); they are usage errors naming the
   option (exit 2), as ``--keep 0`` is.
4. ``epvlm run --rule quantile`` with a content-blind selector and no --events says precisely
   how many tokens it keeps.
5. ``epvlm eval --limit N`` above the split's size says it evaluates the whole split.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epvlm.cli import main

TINY = Path(__file__).resolve().parents[1] / "epvlm" / "assets" / "shapes-demo-tiny"
HUB_ID = "Qwen/Qwen2-VL-2B-Instruct"
SAID = (
    f"{HUB_ID!r} does not exist as a folder here and looks like a Hugging Face hub id; epvlm "
    "never downloads models: pass a local checkpoint directory (e.g. one `huggingface-cli "
    f"download {HUB_ID} --local-dir DIR` wrote)"
)


def _error(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


# ------------------------------------------------------------------------ 1. hub ids


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face hub cache under HF_HOME, with the working directory elsewhere so
    that the hub id names no folder."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "hf" / "hub"


def _snapshot(cache: Path, revision: str, *, config: bool = True, main: bool = False) -> Path:
    repo = cache / ("models--" + HUB_ID.replace("/", "--"))
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True)
    if config:
        (snap / "config.json").write_text('{"model_type": "qwen2_vl"}')
    if main:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(revision)
    return snap


COMMANDS = {
    "run": ["run", "--model", HUB_ID, "--image", "x.png", "--question", "q", "--selector", "dense"],
    "eval": ["eval", "--model", HUB_ID, "--dataset", "ds"],
    "demo": ["demo", "--model", HUB_ID, "-o", "out"],
    "flops": ["flops", "--config", HUB_ID],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_hub_id_is_said_to_be_one(hf_cache, capsys, command):
    rc, err = _error(capsys, *COMMANDS[command])
    assert rc == 1
    assert err == f"epvlm {command}: error: {SAID}\n"
    assert not Path("out").exists()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_hub_id_names_its_cached_snapshot(hf_cache, capsys, command):
    snap = _snapshot(hf_cache, "abc123", main=True)
    rc, err = _error(capsys, *COMMANDS[command])
    assert rc == 1
    assert err == f"epvlm {command}: error: {SAID}; a cached copy is at {str(snap)!r}\n"


def test_a_hub_id_lists_several_snapshots_and_skips_unfinished_ones(hf_cache):
    from epvlm.errors import ModelDirError
    from epvlm.loading import check_model_type, hub_id_message

    old = _snapshot(hf_cache, "aaa")
    new = _snapshot(hf_cache, "bbb", main=True)
    _snapshot(hf_cache, "ccc", config=False)
    assert hub_id_message(HUB_ID) == (
        f"{SAID}; cached copies are at {str(old)!r}, {str(new)!r} (refs/main)"
    )
    # the library's own check says it too
    with pytest.raises(ModelDirError) as info:
        check_model_type(HUB_ID)
    assert str(info.value) == hub_id_message(HUB_ID)


def test_a_hub_id_whose_cache_holds_no_whole_snapshot(hf_cache):
    from epvlm.loading import hub_id_message

    _snapshot(hf_cache, "ccc", config=False)
    repo = hf_cache / "models--Qwen--Qwen2-VL-2B-Instruct"
    assert hub_id_message(HUB_ID) == (
        f"{SAID}; the Hugging Face cache folder {str(repo)!r} holds no snapshot with a "
        "config.json (an unfinished download?)"
    )


def test_the_cache_is_found_as_huggingface_hub_finds_it(tmp_path, monkeypatch):
    from epvlm.loading import hub_cache_dir

    for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", "~/hf")
    assert hub_cache_dir() == tmp_path / "home" / "hf" / "hub"
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", str(tmp_path / "old"))
    assert hub_cache_dir() == tmp_path / "old"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "new"))
    assert hub_cache_dir() == tmp_path / "new"


@pytest.mark.parametrize(
    "env", [{}, {"XDG_CACHE_HOME": "xdg"}, {"HF_HOME": "~/hf"}, {"HF_HUB_CACHE": "~/c"}]
)
def test_the_cache_is_the_one_huggingface_hub_uses(tmp_path, env):
    """Checked against huggingface_hub itself, which reads the settings as it is imported."""
    import os

    import huggingface_hub  # noqa: F401  (a dev dependency: transformers needs it)

    names = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")
    environ = {k: v for k, v in os.environ.items() if k not in names}
    environ.update(HOME=str(tmp_path), **env)
    code = (
        "import huggingface_hub.constants as c; from epvlm.loading import hub_cache_dir; "
        "print(c.HF_HUB_CACHE); print(hub_cache_dir())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    theirs, ours = done.stdout.splitlines()
    assert Path(theirs) == Path(ours)


@pytest.mark.parametrize("given", ["models/qwen2", "./Qwen/X", "/abs/Qwen/X", "a/b/c", "Qwen"])
def test_other_missing_paths_are_not_called_hub_ids(hf_cache, capsys, given):
    from epvlm.loading import hub_id_message

    expected = None if given != "models/qwen2" else SAID.replace(HUB_ID, given)
    # ORG/NAME alone reads as a hub id; a path with more parts or a leading ./ or / does not
    assert hub_id_message(given) == expected
    if expected is None:
        rc, err = _error(capsys, *COMMANDS["run"][:2], given, *COMMANDS["run"][3:])
        assert rc == 1 and "does not exist" in err and "hub id" not in err


def test_a_two_part_path_whose_first_folder_is_here_is_a_mistyped_path(hf_cache, capsys):
    """Second look: ``models/qwen2`` with a ``models`` folder here (holding ``qwen2-vl``) was
    called a hub id; it is a path naming no folder, said as any other is. Where neither part
    is here, the hub-id message says first that it names no folder."""
    from epvlm.loading import hub_id_message

    Path("models/qwen2-vl").mkdir(parents=True)
    assert hub_id_message("models/qwen2") is None
    rc, err = _error(capsys, *COMMANDS["run"][:2], "models/qwen2", *COMMANDS["run"][3:])
    assert rc == 1
    assert err == (
        "epvlm run: error: model directory 'models/qwen2' does not exist; expected the folder "
        "holding config.json and the weights\n"
    )
    rc, err = _error(capsys, "flops", "--config", "models/qwen2")
    assert rc == 1 and "hub id" not in err and "'models/qwen2'" in err, err
    assert hub_id_message("elsewhere/qwen2").startswith(
        "'elsewhere/qwen2' does not exist as a folder here and looks like a Hugging Face hub id"
    )


def test_an_existing_folder_named_like_a_hub_id_is_used(hf_cache, capsys):
    import shutil

    from epvlm.loading import check_model_type, hub_id_message

    shutil.copytree(TINY, Path(HUB_ID))
    assert hub_id_message(HUB_ID) is None
    assert check_model_type(HUB_ID) == "qwen2_vl"
    rc, err = _error(capsys, "flops", "--config", HUB_ID, "--json")
    assert rc == 0, err


# ---------------------------------------------------------------- 2. no torch to say "no"

_LIGHT = """
import json
import sys
from epvlm import cli

argv = {argv!r}
for build, words in (
    (cli.build_run_parser, argv["run"]),
    (cli.build_eval_parser, argv["eval"]),
    (cli.build_flops_parser, argv["flops"]),
    (cli.build_demo_parser, argv["demo"]),
):
    build().parse_args(words)
statuses = [cli.main(words) for words, _ in {errors!r}]
print(json.dumps([sorted(m for m in ("torch", "transformers") if m in sys.modules), statuses]))
"""


def test_parsers_and_path_errors_load_neither_torch_nor_transformers(tmp_path):
    image = tmp_path / "i.png"
    image.write_bytes(b"")
    argv = {
        "run": ["--model", str(TINY), "--image", str(image), "--question", "q",
                "--selector", "random", "--keep", "0.3", "--dtype", "bfloat16",
                "--prompt-format", "plain", "--max-new-tokens", "4"],
        "eval": ["--model", str(TINY), "--dataset", "ds", "--limit", "3", "--threads", "1",
                 "--batch-size", "2", "--dtype", "float16", "--rule", "quantile"],
        "flops": ["--config", "qwen2-vl-7b", "--keep", "0.25"],
        "demo": ["--limit", "2", "--workers", "1", "--threads", "1", "--dtype", "float32"],
    }  # fmt: skip
    missing = str(tmp_path / "none")
    errors = [
        (["run", "--model", missing, "--image", str(image), "--question", "q",
          "--selector", "dense"], 1),
        (["run", "--model", str(TINY), "--image", missing, "--question", "q",
          "--selector", "dense"], 1),
        (["run", "--model", HUB_ID, "--image", missing, "--question", "q"], 1),
        (["eval", "--model", missing, "--dataset", missing], 1),
        (["eval", "--model", str(TINY), "--dataset", missing], 1),
        (["eval", "--model", str(TINY), "--dataset", missing, "--batch-size", "0"], 2),
        (["demo", "--model", missing, "-o", str(tmp_path / "d")], 1),
        (["flops", "--config", missing], 1),
        (["run", "--help"], 0),
    ]  # fmt: skip
    code = _LIGHT.format(argv=argv, errors=errors)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    loaded, statuses = json.loads(done.stdout.splitlines()[-1])
    assert loaded == [], done.stderr
    assert statuses == [status for _, status in errors], done.stderr


# ------------------------------------------------------------------- 3. counts as usage errors

_RUN = ["run", "--model", TINY, "--image", "x.png", "--question", "q"]
_EVAL = ["eval", "--model", TINY, "--dataset", "ds"]


@pytest.mark.parametrize(
    ("argv", "option", "value", "message"),
    [
        (_RUN, "--max-new-tokens", "0", "0 must be >= 1"),
        (_EVAL, "--limit", "0", "0 must be >= 1"),
        (_EVAL, "--limit", "-3", "-3 must be >= 1"),
        (_EVAL, "--batch-size", "0", "0 must be >= 1"),
        (_EVAL, "--max-new-tokens", "0", "0 must be >= 1"),
        (_EVAL, "--batch-size", "2.5", "'2.5' is not a whole number; expected one >= 1"),
        (["demo"], "--limit", "0", "0 must be >= 1"),
        (["demo"], "--workers", "0", "0 must be >= 1"),
        (["flops"], "--text-tokens", "-1", "-1 must be >= 0"),
        (
            ["flops"],
            "--new-tokens",
            "-1",
            "-1 must be >= 1 (an answer has at least one token, which the prefill's LM head makes)",
        ),
    ],
)
def test_counts_out_of_range_are_usage_errors_naming_the_option(
    tmp_path, monkeypatch, capsys, argv, option, value, message
):
    monkeypatch.chdir(tmp_path)
    rc, err = _error(capsys, *argv, option, value)
    command = argv[0]
    assert rc == 2
    assert err.splitlines()[-1] == f"epvlm {command}: error: argument {option}: {message}"
    assert "_" not in err.splitlines()[-1].split("error: ")[1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["eval", "demo"])
@pytest.mark.parametrize("value", ["0", "100000"])
def test_threads_out_of_range_are_usage_errors(tmp_path, monkeypatch, capsys, command, value):
    from eventsim._system import usable_cores

    monkeypatch.chdir(tmp_path)
    argv = _EVAL if command == "eval" else ["demo"]
    rc, err = _error(capsys, *argv, "--threads", value)
    assert rc == 2
    assert err.splitlines()[-1] == (
        f"epvlm {command}: error: argument --threads: {value} must be 1..{usable_cores()}, the "
        "CPU cores this process may use (more threads than cores only slow torch down)"
    )
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------- 4. quantile without --events


def test_run_says_what_a_baseline_keeps_under_quantile_without_events(
    tmp_path, monkeypatch, capsys
):
    import cv2
    import numpy as np

    import epvlm.evaluate

    image = tmp_path / "i.png"
    cv2.imwrite(str(image), np.zeros((112, 112, 3), np.uint8))

    def no_load(*args, **kwargs):
        raise epvlm.evaluate.ParameterError("stopped before the model loads")

    monkeypatch.setattr(epvlm.evaluate, "load_model", no_load)
    argv = ["run", "--model", TINY, "--image", image, "--question", "q", "--rule", "quantile"]
    rc, err = _error(capsys, *argv, "--keep", "0.25", "--selector", "random")
    assert rc == 1
    notes = [line for line in err.splitlines() if "note:" in line]
    assert notes == [
        "epvlm run: note: without --events, random keeps --keep of the tokens (0.25 of them, "
        "rounded half up: the top-k count, as under --rule topk); under --rule quantile epvlm "
        "eval gives it as many as the event prior kept for the question (pass --events for "
        "that count)"
    ]


# ------------------------------------------------------------- 5. --limit above the split


@pytest.fixture(scope="module")
def setup(eval_setup, tmp_path_factory):
    return eval_setup(tmp_path_factory.mktemp("epvlm-limit"), 3)


def test_eval_says_when_limit_is_more_than_the_split(setup, tmp_path, capsys):
    _, ds, model, _ = setup
    argv = ["eval", "--model", model, "--dataset", ds, "--selector", "dense", "--no-progress"]
    rc, err = _error(capsys, *argv, "-o", tmp_path / "a", "--limit", "100", "--keep", "0.5")
    assert rc == 0, err
    assert err.splitlines()[0] == (
        "epvlm eval: note: --limit 100 is more than the split's 3 samples: evaluating all 3"
    )
    rows = json.loads((tmp_path / "a" / "results.json").read_text())
    assert {r["n"] for r in rows} == {3}
    for limit in ("3", "2"):
        rc, err = _error(capsys, *argv, "-o", tmp_path / limit, "--limit", limit)
        assert rc == 0 and "epvlm eval: note:" not in err, err


def test_the_limit_note_reads_the_split_once(tmp_path, monkeypatch, capsys):
    """Second look: the note opened the split before the evaluation opened it again, reading
    and hashing samples.jsonl twice (~0.7 s per 100,000 samples each); it now takes the count
    from dataset.json, and a split the dataset lacks is still refused before anything loads,
    naming the splits there are."""
    from conftest import build_eval_dataset

    import epvlm.evaluate
    import eventsim.datasets.loader as loader

    ds = build_eval_dataset(tmp_path, 3)
    reads = []
    real = loader._read_split_records

    def counted(*args, **kwargs):
        reads.append(args[-1])
        return real(*args, **kwargs)

    def evaluate(model, dataset, *, split, **kwargs):
        loader.EventVQADataset(dataset, split=split).close()
        raise epvlm.evaluate.ParameterError("stopped before the model loads")

    monkeypatch.setattr(loader, "_read_split_records", counted)
    monkeypatch.setattr(epvlm.evaluate, "evaluate_dataset", evaluate)
    argv = ["eval", "--model", TINY, "--dataset", ds, "-o", tmp_path / "out"]
    rc, err = _error(capsys, *argv, "--limit", "100")
    assert rc == 1
    assert err.splitlines() == [
        "epvlm eval: note: --limit 100 is more than the split's 3 samples: evaluating all 3",
        "epvlm eval: error: stopped before the model loads",
    ]
    assert reads == ["test"]
    rc, err = _error(capsys, *argv, "--split", "dev", "--limit", "100")
    assert rc == 1
    assert err.splitlines() == [
        f"epvlm eval: error: split 'dev' is not in {str(ds)!r}; splits: train, val, test"
    ], err


def test_a_cache_that_cannot_be_looked_into_leaves_the_hub_id_message(
    hf_cache, monkeypatch, capsys
):
    """Second look: a hub cache whose folder cannot be looked into (another user's HF_HOME,
    EACCES; here a name too long) made the hub-id message an error about the cache folder."""
    hf_cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache / ("a" * 300)))
    rc, err = _error(capsys, *COMMANDS["flops"])
    assert rc == 1
    assert err == f"epvlm flops: error: {SAID}\n"
