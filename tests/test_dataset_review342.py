"""Final review of the dataset commands' advice (helper 342): every command a message gives to
copy ends its line and is quoted by one helper (`eventsim._text.shell_command`), so that a
path with spaces pastes as one word. The loader's damaged-shard hints, `eventsim info` of a
shard or of a dataset with damaged shards, and of a folder of frames, put a path unquoted
inside quotes."""

import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from eventsim._text import shell_command
from eventsim.cli import main as eventsim_main


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = eventsim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _ending_command(text: str, after: str) -> list[str]:
    """The command that ends ``text`` after ``after``, as a shell splits it (eventsim left out)."""
    _, sep, tail = text.rstrip().rpartition(after)
    assert sep, text
    argv = shlex.split(tail)
    assert argv[0] == "eventsim", text
    return argv[1:]


@pytest.fixture(scope="module")
def spaced(tmp_path_factory, shapes_recipe) -> Path:
    root = tmp_path_factory.mktemp("review342")
    recipe = shapes_recipe(root / "r.toml", test=4)
    out = root / "a b" / "d s"
    argv = ["build", recipe, "-o", out, "--no-progress", "--no-preview"]
    assert eventsim_main([str(a) for a in argv]) == 0
    return out


@pytest.fixture
def damaged(spaced, tmp_path) -> Path:
    """A copy of ``spaced`` whose first shard has a byte more than the build wrote."""
    ds = Path(shutil.copytree(spaced, tmp_path / "c d" / "ds"))
    shard = sorted((ds / "shards").glob("*.h5"))[0]
    with open(shard, "ab") as fh:
        fh.write(b"\0")
    return ds


def test_shell_command_quotes_each_word_only_where_a_shell_needs_it():
    assert shell_command("eventsim", "verify", Path("/a b/d")) == "eventsim verify '/a b/d'"
    assert shell_command("--set", "name=it's") == """--set 'name=it'"'"'s'"""
    assert shlex.split(shell_command("x", "", "a'b c")) == ["x", "", "a'b c"]


def test_the_loader_names_verify_of_a_damaged_shards_dataset_as_one_command(damaged):
    from eventsim.datasets import EventVQADataset
    from eventsim.errors import DamagedShardError

    with pytest.raises(DamagedShardError) as err:
        EventVQADataset(damaged, "test")[0]
    assert _ending_command(str(err.value), "before rebuilding the dataset: ") == [
        "verify",
        str(damaged),
    ]


def test_info_of_a_damaged_dataset_names_verify_as_one_command(capsys, damaged):
    rc, _, err = _run(capsys, "info", damaged)
    assert rc == 0 and "missing or of the wrong size" in err
    assert _ending_command(err, "check the dataset: ") == ["verify", str(damaged)]


def test_info_of_a_shard_names_info_of_its_dataset_as_one_command(capsys, spaced):
    shard = sorted((spaced / "shards").glob("*.h5"))[0]
    rc, _, err = _run(capsys, "info", shard)
    assert rc == 1 and "is a shard of an eventsim dataset" in err
    assert _ending_command(err, "describe it: ") == ["info", str(spaced)]


def test_info_of_a_folder_of_frames_names_simulate_as_one_command(capsys, tmp_path):
    import cv2

    frames = tmp_path / "my frames"
    frames.mkdir()
    assert cv2.imwrite(str(frames / "a.png"), np.zeros((8, 8, 3), np.uint8))
    rc, _, err = _run(capsys, "info", frames)
    assert rc == 1 and "folder of frames" in err
    argv = _ending_command(err, "it has no timestamps.txt): ")
    assert argv == ["simulate", str(frames), "--fps", "FPS", "-o", "my frames.h5"]
