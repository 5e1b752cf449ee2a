"""Review 6: counts that agree with their nouns, abbreviations of renamed options, and the
simulator's memory check under a cgroup memory limit."""

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
