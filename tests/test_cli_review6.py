"""Review 6: counts that agree with their nouns and the simulator's memory check under a cgroup
memory limit. (Its tests of abbreviations went when the CLI stopped taking abbreviations:
tests/test_cli_round10.py.)"""

from pathlib import Path

import cv2
import pytest

from eventsim.cli.build import main as build_main
from eventsim.datasets import describe_dataset
from eventsim.datasets.engine import _sample_notes, _Share
from eventsim.errors import ParameterError, RecipeError
from eventsim.simulator.params import DVSParams

from user_media import textured, write_jsonl

# ----------------------------------------------------------------------------- plurals


def _image_recipe(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), textured(0))
    write_jsonl(tmp_path / "bad.jsonl", [{"image": "img/a.png", "question": "Q?", "answer": 3}])
    path = tmp_path / "image.toml"
    path.write_text(
        '[dataset]\nname = "one-bad"\n[source]\nkind = "image"\n[camera]\nwidth = 64\n'
        'height = 48\n[splits]\ntest = "bad.jsonl"\n[build]\nshard_size = 8\n'
    )
    return path


def test_one_rejected_record_is_told_in_the_singular(tmp_path, capsys):
    out = tmp_path / "ds"
    args = [str(_image_recipe(tmp_path)), "-o", str(out), "--no-progress", "--workers", "1"]
    assert build_main([*args, "--no-preview"]) == 1
    err = capsys.readouterr().err
    assert "(s)" not in err
    assert "split test: its 1 record was rejected, so it has no samples" in err
    assert "no samples were built: 1 record was rejected; the dataset is still written" in err
    assert "split test has no samples: its 1 record was skipped" in describe_dataset(out)


def test_library_messages_count_in_words_that_agree():
    with pytest.raises(ParameterError, match=r"unknown parameter bogus; valid fields"):
        DVSParams().replace(bogus=1)
    with pytest.raises(ParameterError, match=r"unknown parameters a, b; valid fields"):
        DVSParams().replace(a=1, b=2)
    one_core = _Share(in_process=2, free_cores=1.0).note(4)
    assert "1.0 core free for this build" in one_core
    assert "1 shard built in this process" in _Share(in_process=1, pool_workers=2).note(4)
    assert "3 shards built in this process" in _Share(in_process=3, pool_workers=2).note(4)
    records = [
        {"id": f"s{i}", "meta": {"video": "/v/cut.avi", "decode_problem": "x"}} for i in range(2)
    ]
    (note,) = _sample_notes(records)
    assert note.startswith("2 samples come from a video that stops decoding after their")
    assert "first s0 (cut.avi); each one's meta.decode_problem" in note


def test_an_unknown_recipe_table_is_named_in_the_singular(tmp_path):
    from eventsim.datasets.recipe import load_recipe

    path = tmp_path / "r.toml"
    path.write_text('[dataset]\nname = "x"\n[sourc]\nkind = "shapes"\n')
    with pytest.raises(RecipeError, match=r"unknown table sourc; valid tables"):
        load_recipe(path)


def test_one_event_outside_the_image_is_told_in_the_singular():
    import numpy as np

    from epvlm.errors import EventsOutsideImageError
    from epvlm.prior import event_map
    from eventsim.events import EVENT_DTYPE

    events = np.zeros(2, dtype=EVENT_DTYPE)
    events["x"] = [1, 9]
    with pytest.raises(EventsOutsideImageError, match=r"^1 event lies outside the 8x8 image"):
        event_map(events, (8, 8))


# ----------------------------------------------------------------------------- cgroup memory

GIB = 1 << 30


def _write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)


def test_cgroup_v2_memory_room_is_the_strictest_limit_less_its_usage(tmp_path):
    from eventsim._system import cgroup_memory_room

    text = "0::/user.slice/job\n"
    _write(tmp_path, memory_max="max\n", memory_current=f"{5 * GIB}\n")
    assert cgroup_memory_room(text, tmp_path) is None
    # the parent's limit binds: 4 GiB less 3 GiB in use, of which 0.5 GiB (and 7 bytes) is
    # file cache, inactive and active
    _write(
        tmp_path / "user.slice",
        memory_max=f"{4 * GIB}\n",
        memory_current=f"{3 * GIB}\n",
        memory_stat=f"anon 1\ninactive_file {GIB // 2}\nactive_file 7\n",
    )
    _write(tmp_path / "user.slice" / "job", memory_max=f"{8 * GIB}\n", memory_current="0\n")
    assert cgroup_memory_room(text, tmp_path) == GIB + GIB // 2 + 7
    # a group over its limit (cache counted) has no room, not a negative one
    _write(tmp_path / "user.slice" / "job", memory_max=f"{GIB}\n", memory_current=f"{2 * GIB}\n")
    assert cgroup_memory_room(text, tmp_path) == 0
    # a container with its own cgroup namespace: its group is the mounted root
    _write(tmp_path, memory_max=f"{GIB}\n", memory_current=f"{GIB // 4}\n")
    assert cgroup_memory_room("0::/\n", tmp_path) == 3 * GIB // 4


def test_cgroup_v1_memory_room_and_no_limit(tmp_path):
    from eventsim._system import cgroup_memory_room

    text = "5:cpu,cpuacct:/docker/c1\n4:memory:/docker/c1\n"
    unlimited = "9223372036854771712\n"
    _write(tmp_path / "memory", memory_limit_in_bytes=unlimited, memory_usage_in_bytes="10\n")
    assert cgroup_memory_room(text, tmp_path) is None
    _write(
        tmp_path / "memory" / "docker" / "c1",
        memory_limit_in_bytes=f"{2 * GIB}\n",
        memory_usage_in_bytes=f"{GIB}\n",
        memory_stat=f"inactive_file 5\ntotal_inactive_file {GIB // 4}\n",
    )
    assert cgroup_memory_room(text, tmp_path) == GIB + GIB // 4
    # no memory hierarchy (only cpu), a line that is not cgroup's, unreadable values
    assert cgroup_memory_room("5:cpu:/docker/c1\nbogus\n", tmp_path) is None
    _write(tmp_path / "memory" / "docker" / "c1", memory_usage_in_bytes="x\n")
    assert cgroup_memory_room(text, tmp_path) is None


def test_the_simulator_memory_check_heeds_the_cgroup_limit(tmp_path, monkeypatch):
    from eventsim import _system
    from eventsim.simulator import core

    # the host has 64 GiB free; the container may take 2 GiB, of which 1 GiB is in use
    _write(tmp_path, memory_max=f"{2 * GIB}\n", memory_current=f"{GIB}\n")
    real = _system.cgroup_memory_room
    monkeypatch.setattr(_system, "cgroup_memory_room", lambda: real("0::/\n", tmp_path))
    monkeypatch.setattr(core, "_machine_memory", lambda: 64 * GIB)
    assert core._available_memory() == GIB
    with pytest.raises(ParameterError, match=r"sensor size 4000x4000 .* more than the 1\.0 GiB"):
        core.check_memory((4000, 4000), DVSParams())
    core.check_memory((3000, 3000), DVSParams())
    # the machine's figure when it is the smaller one, and either alone when the other is unknown
    monkeypatch.setattr(core, "_machine_memory", lambda: GIB // 2)
    assert core._available_memory() == GIB // 2
    monkeypatch.setattr(core, "_machine_memory", lambda: None)
    assert core._available_memory() == GIB
    monkeypatch.setattr(_system, "cgroup_memory_room", lambda: None)
    assert core._available_memory() is None


def test_unknown_evaluation_selectors_are_counted_in_words():
    from epvlm.evaluate import _configs

    with pytest.raises(ParameterError, match=r"^selector nope unknown; expected some of "):
        _configs(["nope"], [0.5])
    with pytest.raises(ParameterError, match=r"^selectors a, b unknown; expected some of "):
        _configs(["a", "b", "a"], [0.5])


def test_eval_selector_errors_name_the_unknown_selectors(capsys) -> None:
    from epvlm.cli import main as epvlm_main

    assert epvlm_main(["eval", "--dataset", "ds", "--model", "m", "--selector", "event,nope"]) == 2
    err = capsys.readouterr().err
    assert "selector 'nope' unknown; expected a comma list of" in err
    assert "(s)" not in err and "['nope']" not in err


def test_build_share_note_does_not_say_the_user_asked_for_the_default():
    note = _Share(in_process=2, free_cores=0.6).note(2)
    assert note.endswith(
        "0.6 cores free for this build, too few to use more of the 2 workers allowed"
    )
    assert "asked for" not in note
