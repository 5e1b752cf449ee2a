"""Messages about one thing read alike wherever they come from: a shard that cannot be
stat'ed names the verify command as the other damaged-shard messages do; a bad recipe copy is
named by its quoted path whether a manifest or a state file holds it; the finished shards of
an unfinished build are counted by one rule; a name as close to two valid names as to either
is given no guess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eventsim._suggest import closest_name, did_you_mean
from eventsim._text import shell_command
from eventsim.cli import build as build_cli
from eventsim.cli import info as info_cli
from eventsim.datasets import _formats, engine
from eventsim.datasets.inspection import finished_shards, shards_finished_told
from eventsim.datasets.loader import check_shard
from eventsim.errors import DatasetError, RecipeError
from eventsim.outputs import KeptInterrupt


def test_a_shard_that_cannot_be_stated_names_the_verify_command(tmp_path):
    entry = {"file": "shards/train-00000.h5", "bytes": 10, "sha256": "0" * 64}
    with pytest.raises(DatasetError) as caught:
        check_shard(tmp_path / entry["file"], entry, tmp_path)
    said = str(caught.value)
    assert "cannot be read (No such file or directory)" in said, said
    assert said.endswith(
        "; see what else is damaged before rebuilding the dataset: "
        + shell_command("eventsim", "verify", tmp_path)
    ), said


def _unfinished(root: Path, shards: list[str]) -> None:
    (root / "shards").mkdir(parents=True)
    for name in shards:
        (root / "shards" / name).write_bytes(b"x")
    (root / _formats.STATE_FILE).write_text("{}", encoding="utf-8")


def test_build_and_info_count_finished_shards_alike(tmp_path):
    # a dot-name is a shard still being written; only .h5 files are shards
    _unfinished(tmp_path, ["train-00000.h5", "train-00001.h5", ".train-00002.h5.tmp", "x.txt"])
    assert finished_shards(tmp_path) == 2
    assert finished_shards(tmp_path / "none") == 0
    with pytest.raises(DatasetError, match=r"it has 2 finished shards \(in shards/\) so far"):
        with shards_finished_told(tmp_path):
            raise DatasetError("no dataset.json")
    with pytest.raises(KeptInterrupt, match=r"^2 finished shards kept in "):
        build_cli._report_kept_shards(tmp_path, force=False)


def test_build_file_names_have_one_home():
    assert engine.STATE_FILE == _formats.STATE_FILE == ".build-state.json"
    assert engine.INPUTS_FILE == _formats.INPUTS_FILE == ".build-inputs.jsonl"
    assert {_formats.STATE_FILE, _formats.INPUTS_FILE} <= set(info_cli._DATASET_FILES)


def test_info_imports_no_build_machinery():
    # `eventsim info FILE` of an event file needs neither cv2 nor the build engine
    code = (
        "import sys, eventsim.cli.info\n"
        "print([m for m in ('cv2', 'torch', 'eventsim.datasets.engine') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


_BAD_COPY = {"dataset": {"name": "x"}, "events": {"window_ms": -1}}


def test_a_bad_recipe_copy_is_named_alike_in_a_manifest_and_a_state_file(tmp_path, monkeypatch):
    manifest = tmp_path / "ds" / "dataset.json"
    manifest.parent.mkdir()
    manifest.write_text("{}", encoding="utf-8")
    from eventsim.datasets import loader

    monkeypatch.setattr(loader, "read_manifest", lambda _: {"recipe": dict(_BAD_COPY)})
    with pytest.raises(RecipeError) as from_manifest:
        build_cli._load(str(manifest), {})

    folder = tmp_path / "unfinished"
    folder.mkdir()
    state = folder / _formats.STATE_FILE
    state.write_text(json.dumps({"recipe": _BAD_COPY, "locations": {}}), encoding="utf-8")
    with pytest.raises(RecipeError) as from_state:
        build_cli._unfinished_copy(folder, {})

    for holder, caught in ((manifest, from_manifest), (state, from_state)):
        assert str(caught.value).startswith(f"{str(holder)!r}: its recipe copy: "), caught.value


def test_a_name_as_close_to_two_names_gets_no_guess():
    presets = ["qwen2-vl-2b", "qwen2-vl-7b", "qwen2.5-vl-3b", "qwen2.5-vl-7b"]
    assert closest_name("qwen2.5", presets) is None
    assert did_you_mean("qwen2.5", presets) == ""
    # in either order of the names
    assert closest_name("qwen2.5", presets[::-1]) is None
    # a nearer one is still guessed
    assert closest_name("qwen2.5-vl-3", presets) == "qwen2.5-vl-3b"
    assert closest_name("qwen2-vl-2", presets) == "qwen2-vl-2b"
