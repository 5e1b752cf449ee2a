"""Second look at dataset round 12: `EventVQADataset.__getitems__` refused batches torch's
default collate batches (a wrapper dataset of the user's that makes the events tensors in its
own ``__getitems__``; an array collate added to torch's ``default_collate_fn_map``, the way
torch documents extending it), and the note of an extended --limit build blamed --limit for
shards not reused because they had changed."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, StackDataset, Subset
from torch.utils.data._utils import collate as torch_collate

from eventsim.cli import main as eventsim_main
from eventsim.datasets import EventVQADataset, build_dataset, collate_event_vqa

RECIPE = {
    "dataset": {"name": "second12", "seed": 3},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [7, 10], "motion_px": [3, 6]},
    "camera": {"width": 48, "height": 32},
    "events": {"window_ms": 20},
    "splits": {"test": 3},
    "build": {"shard_size": 2},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("second12") / "ds"
    build_dataset(RECIPE, out, progress=False)
    return out


def _trainable(sample):
    # what a training loop keeps: the default collate batches these, not meta's ragged lists
    return {"events": torch.as_tensor(len(sample["events"])), "label": sample["answer_index"]}


class _Tensors(Dataset):
    """A wrapper that reads its batches with the wrapped dataset's __getitems__."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return _trainable(self.data[i])

    def __getitems__(self, indices):
        return [_trainable(s) for s in self.data.__getitems__(indices)]


def test_a_wrapper_making_tensors_in_its_getitems_batches_with_the_default_collate(built):
    # refused with "torch's default collate cannot batch 'events'": the stack walk took the
    # wrapper for a pass-through like Subset
    batch = next(iter(DataLoader(_Tensors(EventVQADataset(built)), batch_size=2)))
    assert batch["label"].shape == (2,)


def test_an_array_collate_added_to_torchs_map_is_used(built, monkeypatch):
    torchs = torch_collate.default_collate_fn_map[np.ndarray]

    def arrays(batch, *, collate_fn_map=None):
        if batch[0].dtype.names is None:
            return torchs(batch, collate_fn_map=collate_fn_map)
        return [torch.as_tensor(np.ascontiguousarray(b["t"])) for b in batch]

    monkeypatch.setitem(torch_collate.default_collate_fn_map, np.ndarray, arrays)
    ds = EventVQADataset(
        built, transform=lambda s: {"events": s["events"], "label": s["answer_index"]}
    )
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert [len(t) for t in batch["events"]] == [len(ds[0]["events"]), len(ds[1]["events"])]


@pytest.mark.parametrize("wrap", [Subset, StackDataset])
def test_torchs_wrappers_are_still_refused_with_the_remedy(built, wrap):
    ds = EventVQADataset(built)
    data = Subset(ds, [1, 0]) if wrap is Subset else StackDataset(ds, ds)
    with pytest.raises(TypeError, match=r"collate_fn=eventsim\.datasets\.collate_event_vqa"):
        next(iter(DataLoader(data, batch_size=2)))


class _Ids:
    def __call__(self, batch):
        return batch["id"] if isinstance(batch, dict) else [s["id"] for s in batch]


@pytest.mark.parametrize(
    "collate",
    [
        lambda batch: [s["id"] for s in batch],
        functools.partial(lambda batch, key: [s[key] for s in batch], key="id"),
        _Ids(),
    ],
)
def test_a_collate_of_ones_own_gets_the_samples_as_read(built, collate):
    ds = EventVQADataset(built)
    loader = DataLoader(ds, batch_size=2, batch_sampler=None, collate_fn=collate)
    assert next(iter(loader)) == [ds[0]["id"], ds[1]["id"]]
    assert len(next(iter(DataLoader(ds, batch_size=2, collate_fn=collate_event_vqa)))["id"]) == 2
    # unbatched: the DataLoader reads ds[i], not __getitems__
    assert next(iter(DataLoader(ds, batch_size=None, collate_fn=_Ids()))) == ds[0]["id"]


def _build(argv: list[str]) -> int:
    return eventsim_main(["build", *argv, "--no-progress", "--no-preview", "--workers", "1"])


def test_a_full_shard_changed_since_is_not_blamed_on_the_limit(tmp_path, capsys, shapes_recipe):
    # --limit 2 with shards of 2 leaves a full shard; one changed since is built again, and the
    # note said "--limit leaves each split's last shard part-full"
    recipe = shapes_recipe(tmp_path / "r.toml", test=3, shard=2)
    out = tmp_path / "ds"
    assert _build([str(recipe), "-o", str(out), "--limit", "2"]) == 0
    (shard,) = out.rglob("*.h5")
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    assert _build([str(recipe), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "shards: 2 built, 0 reused" in said
    assert "part-full" not in said
    assert (
        "none of its shards was reused, so all its samples were built again (a shard is reused "
        "only where it holds all the samples this build puts in it and neither it nor the files "
        "it was built from changed since"
    ) in said
