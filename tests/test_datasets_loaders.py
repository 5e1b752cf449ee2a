"""Loaders: the map-style dataset through a torch DataLoader, and the tonic adapter."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eventsim.datasets import EventVQADataset, build_dataset, collate_event_vqa
from eventsim.errors import DatasetError
from eventsim.events import EVENT_DTYPE

RECIPE = {
    "dataset": {"name": "loaders", "seed": 1},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [10, 16], "motion_px": [4, 8]},
    "camera": {"width": 64, "height": 48},
    "events": {"window_ms": 20},
    "splits": {"train": 3, "test": 4},
    "build": {"shard_size": 3},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("loaders") / "ds"
    build_dataset(RECIPE, out, progress=False)
    return out


def test_dataset_contract(built):
    ds = EventVQADataset(built, split="train")
    assert len(ds) == 3 and ds.sensor_size == (64, 48)
    s = ds[-1]
    assert s["id"] == "train-000002"
    assert s["image"].dtype == np.uint8 and s["image"].shape == (48, 64, 3)
    assert s["events"].dtype == EVENT_DTYPE and len(s["events"]) > 0
    assert s["events"]["x"].max() < 64 and s["events"]["y"].max() < 48
    assert isinstance(s["choices"], list) and s["choices"][s["answer_index"]] == s["answer"]
    assert s["meta"]["sensor_size"] == (64, 48) and "target_motion" in s["meta"]
    with pytest.raises(DatasetError, match="train, test"):
        EventVQADataset(built, split="validation")
    seen = EventVQADataset(built, split="test", transform=lambda s: (s["id"], len(s["events"])))
    assert [x[0] for x in seen] == [f"test-00000{i}" for i in range(4)]


def test_torch_dataloader_with_collate(built):
    torch = pytest.importorskip("torch")
    ds = EventVQADataset(built, split="test")
    loader = torch.utils.data.DataLoader(
        ds, batch_size=3, shuffle=False, collate_fn=collate_event_vqa
    )
    batches = list(loader)
    assert [len(b["id"]) for b in batches] == [3, 1]
    b = batches[0]
    assert b["image"].shape == (3, 48, 64, 3)
    assert all(ev.dtype == EVENT_DTYPE for ev in b["events"])
    assert [len(ev) for ev in b["events"]] == [len(ds[i]["events"]) for i in range(3)]
    assert b["answer_index"].tolist() == [ds[i]["answer_index"] for i in range(3)]
    # worker processes open their own shard handles
    parallel = torch.utils.data.DataLoader(
        ds, batch_size=2, num_workers=2, collate_fn=collate_event_vqa
    )
    got = [(i, len(ev)) for batch in parallel for i, ev in zip(batch["id"], batch["events"])]
    assert got == [(ds[i]["id"], len(ds[i]["events"])) for i in range(len(ds))]


def test_import_does_not_pull_torch():
    code = (
        "import sys, eventsim.datasets as d; d.EventVQADataset; d.load_recipe; d.describe_dataset; "
        "import eventsim.datasets.scenes; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tonic_to_frame_works_unchanged(built):
    tonic = pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    ds = TonicEventVQA(built, split="test")
    assert isinstance(ds, tonic.Dataset) and ds.sensor_size == (64, 48, 2) and len(ds) == 4
    events, target = ds[0]
    frames = tonic.transforms.ToFrame(sensor_size=ds.sensor_size, n_event_bins=4)(events)
    assert frames.shape == (4, 2, 48, 64)
    assert int(frames.sum()) == len(events)
    on = events["p"] == 1
    # ON events land in channel 1 at their own pixels
    expected = np.zeros((48, 64), np.int64)
    np.add.at(expected, (events["y"][on], events["x"][on]), 1)
    assert np.array_equal(frames[:, 1].sum(axis=0), expected)
    assert target["question"] and target["image"].shape == (48, 64, 3)

    with_transform = TonicEventVQA(
        built,
        split="test",
        transform=tonic.transforms.ToFrame(sensor_size=(64, 48, 2), n_time_bins=2),
    )
    x, _ = with_transform[1]
    events1, _ = ds[1]
    assert x.shape == (2, 2, 48, 64)
    # tonic's time bins end before the last timestamp, so only events at that instant are left out
    assert int(x.sum()) == int((events1["t"] < events1["t"].max()).sum())


def test_open_shard_handles_are_bounded(built, monkeypatch):
    import eventsim.datasets.loader as loader

    monkeypatch.setattr(loader, "_MAX_OPEN_SHARDS", 1)
    ds = EventVQADataset(built, split="test")  # 4 samples in 2 shards
    ref = [len(EventVQADataset(built, split="test")[i]["events"]) for i in range(4)]
    assert [len(ds[i]["events"]) for i in (0, 3, 1, 2, 0)] == [ref[i] for i in (0, 3, 1, 2, 0)]
    assert len(ds._files) == 1


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_info_reads_the_manifest_once(built, monkeypatch, capsys, json_flag):
    from eventsim.cli import main as eventsim_main

    reads = []
    real = Path.read_text

    def counted(self, *args, **kwargs):
        if self.name == "dataset.json":
            reads.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    assert eventsim_main(["info", str(built), *json_flag]) == 0
    assert len(reads) == 1
    assert "test" in capsys.readouterr().out
