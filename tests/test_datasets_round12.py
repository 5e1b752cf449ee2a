"""Round 12 of the dataset side, from a newcomer's walkthrough: a DataLoader without
collate_event_vqa, a recipe refusal whose limit comes from the camera, a second build into a
busy folder, and the note of a dataset extended past its --limit."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset, build_dataset, collate_event_vqa, engine
from eventsim.datasets.recipe import load_recipe
from eventsim.datasets.scenes import SceneConfig
from eventsim.errors import DatasetError, ParameterError, RecipeError

RECIPE = {
    "dataset": {"name": "round12", "seed": 3},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [7, 10], "motion_px": [3, 6]},
    "camera": {"width": 48, "height": 32},
    "events": {"window_ms": 20},
    "splits": {"test": 3},
    "build": {"shard_size": 2},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("round12") / "ds"
    build_dataset(RECIPE, out, progress=False)
    return out


# ----------------------------------------------------------------- the default collate


@pytest.mark.parametrize("subset", [False, True])
def test_the_default_collate_names_collate_event_vqa(built, subset):
    # torch failed with "can't convert np.ndarray of type numpy.void", naming no remedy
    ds = EventVQADataset(built)
    data = Subset(ds, [2, 0]) if subset else ds
    with pytest.raises(
        TypeError, match=r"'events' .*collate_fn=eventsim\.datasets\.collate_event_vqa"
    ):
        next(iter(DataLoader(data, batch_size=2)))


def test_what_the_default_collate_can_batch_is_batched_and_samples_are_unchanged(built):
    def tensors(sample):
        return {"events": torch.as_tensor(len(sample["events"])), "image": sample["image"]}

    got = next(iter(DataLoader(EventVQADataset(built, transform=tensors), batch_size=2)))
    assert got["image"].shape == (2, 32, 48, 3)
    ds = EventVQADataset(built)
    # read directly, in a batch of its own or through collate_event_vqa: plain numpy arrays
    assert type(ds[0]["events"]) is np.ndarray
    assert [s["id"] for s in ds.__getitems__([1, 0])] == [ds[1]["id"], ds[0]["id"]]
    batch = next(iter(DataLoader(ds, batch_size=2, collate_fn=collate_event_vqa)))
    assert [type(ev) for ev in batch["events"]] == [np.ndarray, np.ndarray]


# ----------------------------------------------------------------- limits from the camera


def test_a_size_limit_names_the_camera_side_it_comes_from():
    shapes = {"kind": "shapes", "mode": "vqa", "object_size_px": [30, 46]}
    with pytest.raises(RecipeError) as exc:
        load_recipe({**RECIPE, "source": shapes, "camera": {"width": 100, "height": 224}})
    assert str(exc.value) == (
        "recipe: source.object_size_px = [30, 46]; expected 6 <= low <= high <= 33.33 (a third of "
        "camera.width=100, its smaller side)"
    )
    with pytest.raises(RecipeError, match=r"<= 20 \(half of camera\.height=40, its smaller"):
        load_recipe(RECIPE, {"camera.height": 40, "source.motion_px": [3, 30]})
    with pytest.raises(RecipeError, match=r"<= 16 \(a third of camera\.width=48 and camera\."):
        load_recipe(RECIPE, {"camera.height": 48, "source.target_size_px": [8, 20]})
    with pytest.raises(RecipeError) as exc:
        load_recipe({**RECIPE, "source": shapes, "camera": {"preset": "dvs128"}})
    assert str(exc.value).endswith(
        '<= 42.66 (a third of the side of camera.preset = "dvs128" (128x128))'
    )
    with pytest.raises(ParameterError, match=r"<= 33\.33 \(a third of sensor_size width=100, "):
        SceneConfig(sensor_size=(100, 224))


# ----------------------------------------------------------------- a busy folder


def test_a_second_build_names_the_pid_of_the_one_writing(tmp_path):
    out = tmp_path / "ds"
    with engine._build_lock(out):
        with pytest.raises(DatasetError) as exc:
            build_dataset(RECIPE, out, progress=False)
    assert f"another build is writing to {str(out)!r} (pid {os.getpid()}); wait" in str(exc.value)


# ----------------------------------------------------------------- extending a --limit build


def _build(argv: list[str]) -> int:
    return eventsim_main(["build", *argv, "--no-progress", "--no-preview", "--workers", "1"])


def test_extending_a_limit_build_counts_the_shards_it_reuses(tmp_path, capsys, shapes_recipe):
    # it said "reusing its full shards" where the --limit build's only shard was part-full
    recipe = shapes_recipe(tmp_path / "r.toml", test=3, shard=4)
    out = tmp_path / "ds"
    assert _build([str(recipe), "-o", str(out), "--limit", "2"]) == 0
    capsys.readouterr()
    assert _build([str(recipe), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "shards: 1 built, 0 reused" in said
    assert "reusing" not in said
    assert (
        "note: extended the dataset built with --limit 2 (2 samples) to no --limit (3 "
        "samples); none of its shards was reused"
    ) in said


def test_extending_names_how_many_shards_are_reused(tmp_path, capsys, shapes_recipe):
    recipe = shapes_recipe(tmp_path / "r.toml", test=5, shard=2)
    out = tmp_path / "ds"
    assert _build([str(recipe), "-o", str(out), "--limit", "4"]) == 0
    capsys.readouterr()
    assert _build([str(recipe), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "shards: 1 built, 2 reused" in said
    assert "(5 samples), reusing 2 of its shards" in said
