"""What commands print: `eventsim info DATASET --json` is JSON, and a reader that leaves early
(`| head -1`) ends a command quietly with the shell's SIGPIPE status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventsim.cli import main as eventsim_main


def test_info_json_on_a_dataset_prints_its_summary(build_shapes, capsys):
    root = build_shapes(2)
    capsys.readouterr()
    assert eventsim_main(["info", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 2 and out["splits"]["test"]["samples"] == 2
    assert out["sensor_size"] == [64, 64] and out["damaged_shards"] == []
    assert sum(out["splits"]["test"]["question_types"].values()) == 2


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_reader_that_leaves_early_ends_the_command_quietly(events_npy, tmp_path, unbuffered):
    """Unbuffered, the write fails while the command runs; buffered, at the final flush: either
    way no error line, and the status a shell gives a program that SIGPIPE ended."""
    h5 = tmp_path / "ev.h5"
    assert eventsim_main(["convert", str(events_npy), str(h5), "--sensor-size", "32x24"]) == 0
    script = Path(sys.executable).parent / "eventsim"
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen(
        [str(script), "info", str(h5)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    # the reading end is closed before the command writes anything
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141, err
    assert err == "", err


def test_build_help_lists_every_built_in_recipe(capsys):
    from eventsim.datasets.recipe import builtin_recipe_dir

    assert eventsim_main(["build", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    names = sorted(p.stem for p in builtin_recipe_dir().glob("*.toml"))
    assert len(names) >= 3
    # argparse may break a long name at its hyphen
    assert all(n in shown.replace("- ", "-") for n in names), shown


def test_an_interrupted_build_says_what_it_kept(tmp_path):
    from eventsim.cli.build import _report_kept_shards
    from eventsim.datasets.engine import STATE_FILE
    from eventsim.outputs import KeptInterrupt

    out = tmp_path / "ds"
    (out / "shards").mkdir(parents=True)
    _report_kept_shards(out, force=False)  # no plan to resume from: nothing to say
    (out / STATE_FILE).write_text("{}")
    with pytest.raises(KeptInterrupt, match="no shard was finished yet; rerun the same command"):
        _report_kept_shards(out, force=False)
    for name in ("test-00000.h5", "test-00001.h5", ".test-00002.h5.1-abcdef01.tmp.h5"):
        (out / "shards" / name).write_bytes(b"")
    with pytest.raises(KeptInterrupt, match=r"2 finished shards kept .* without --force"):
        _report_kept_shards(out, force=True)
    (out / "dataset.json").write_text("{}")
    _report_kept_shards(out, force=False)  # finished: Ctrl-C came after the build
