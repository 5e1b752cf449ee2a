"""How a built dataset behaves in a training loop: torch samplers, subsets and workers, transforms
that edit or tensorise samples, closing and pickling, and tonic's transforms on our events."""

import copy
import pickle

import numpy as np
import pytest

from eventsim.datasets import EventVQADataset, build_dataset, collate_event_vqa

RECIPE = {
    "dataset": {"name": "interop", "seed": 3},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [7, 10], "motion_px": [3, 6]},
    "camera": {"width": 48, "height": 32},
    "events": {"window_ms": 20},
    "splits": {"test": 5},
    "build": {"shard_size": 2},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("interop") / "ds"
    build_dataset(RECIPE, out, progress=False)
    return out


def _fingerprint(sample):
    return sample["id"], sample["events"].tobytes(), sample["image"].tobytes()


def test_shuffled_workers_return_every_sample_once_per_epoch(built):
    torch = pytest.importorskip("torch")
    ds = EventVQADataset(built)
    want = sorted(_fingerprint(ds[i]) for i in range(len(ds)))
    assert ds._files  # the parent holds open HDF5 handles when the workers fork
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=2,
        shuffle=True,
        num_workers=2,
        persistent_workers=True,
        collate_fn=collate_event_vqa,
        multiprocessing_context="fork",
    )
    for _ in range(2):
        got = [
            (i, ev.tobytes(), im.tobytes())
            for b in loader
            for i, ev, im in zip(b["id"], b["events"], b["image"])
        ]
        assert sorted(got) == want


def test_subset_with_tensor_indices(built):
    torch = pytest.importorskip("torch")
    ds = EventVQADataset(built)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
    sub = torch.utils.data.Subset(ds, order[:3])
    got = [
        i
        for b in torch.utils.data.DataLoader(sub, batch_size=2, collate_fn=collate_event_vqa)
        for i in b["id"]
    ]
    assert got == [ds[int(k)]["id"] for k in order[:3]]
    with pytest.raises(TypeError, match="index must be an integer, got float"):
        ds[1.0]


def test_a_transform_editing_nested_meta_leaves_later_reads_alone(built):
    def scrub(sample):
        sample["meta"]["source"]["kind"] = "edited"
        for obj in sample["meta"].get("objects", []):
            obj.clear()
        return sample

    plain = EventVQADataset(built)[0]["meta"]
    assert plain["source"]["kind"] == "shapes" and plain["objects"]
    ds = EventVQADataset(built, transform=scrub)
    ds[0]
    ds.transform = None
    again = ds[0]["meta"]
    assert again["source"] == plain["source"] and again["objects"] == plain["objects"]


def test_collate_stacks_only_numpy_images(built):
    torch = pytest.importorskip("torch")
    ds = EventVQADataset(built)
    raw = collate_event_vqa([ds[0], ds[1]])
    assert raw["image"].shape == (2, 32, 48, 3) and raw["image"].dtype == np.uint8

    def tensorise(sample):
        sample["image"] = torch.from_numpy(sample["image"]).permute(2, 0, 1).float()
        return sample

    ds.transform = tensorise
    batch = collate_event_vqa([ds[0], ds[1]])
    assert isinstance(batch["image"], list) and all(torch.is_tensor(im) for im in batch["image"])


def test_close_pickle_and_copy_reopen_their_own_handles(built):
    ds = EventVQADataset(built)
    first = _fingerprint(ds[4])
    clone = pickle.loads(pickle.dumps(ds))
    shallow = copy.copy(ds)
    assert clone._files == {} and shallow._files == {}
    ds.close()
    assert ds._files == {}
    assert _fingerprint(clone[4]) == _fingerprint(shallow[4]) == _fingerprint(ds[4]) == first


def test_samples_without_events(tmp_path):
    torch = pytest.importorskip("torch")
    recipe = copy.deepcopy(RECIPE)
    recipe["splits"] = {"test": 2}
    # thresholds no brightness change reaches: a scene that makes no events
    recipe["simulator"] = {"params": {"pos_threshold": 50.0, "neg_threshold": 50.0}}
    build_dataset(recipe, tmp_path / "ds", progress=False)
    ds = EventVQADataset(tmp_path / "ds")
    assert [r["n_events"] for r in ds.records] == [0, 0]
    (b,) = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_event_vqa)
    assert [ev.shape for ev in b["events"]] == [(0,), (0,)]
    assert b["events"][0].dtype == ds[0]["events"].dtype


def test_tonic_transforms_keep_polarity_sign_and_units(built):
    tonic = pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    with TonicEventVQA(built) as ds:
        events, target = ds[2]
        assert len(ds.records) == len(ds) and ds.records[2]["n_events"] == len(events)
    assert ds._data._files == {}
    events, _ = ds[2]  # reopens after close
    w0, w1 = target["meta"]["window_us"]
    assert w0 <= events["t"].min() and events["t"].max() <= w1  # same µs clock as the window
    grid = tonic.transforms.ToVoxelGrid(sensor_size=ds.sensor_size, n_time_bins=1)(events)
    assert grid.shape == (1, 1, 32, 48)
    # one bin: each event adds its signed polarity, weighted by 1 - its relative time, at its
    # pixel (events at the last instant fall outside the bin); a bool or 0/1 unsigned polarity
    # would make every weight positive
    t0, t1 = events["t"][0], events["t"][-1]
    ev = events[events["t"] < t1]
    assert (ev["p"] == 0).any() and (ev["p"] == 1).any()
    weight = np.where(ev["p"] == 1, 1.0, -1.0) * (1.0 - (ev["t"] - t0) / (t1 - t0))
    expected = np.zeros((32, 48))
    np.add.at(expected, (ev["y"], ev["x"]), weight)
    np.testing.assert_allclose(grid[0, 0], expected, atol=1e-9)
    down = tonic.transforms.Downsample(spatial_factor=0.5)(events)
    assert down["x"].max() < 24 and down["y"].max() < 16 and set(np.unique(down["p"])) <= {0, 1}


def test_tonic_frames_on_the_sample_window_match_a_histogram(built):
    tonic = pytest.importorskip("tonic")
    from eventsim.datasets import TonicEventVQA

    k = 4

    def window_frames(events, target):
        w0, w1 = target["meta"]["window_us"]
        to_frame = tonic.transforms.ToFrame(
            sensor_size=(48, 32, 2), time_window=(w1 - w0) / k, start_time=w0, end_time=w1 + 1
        )
        return to_frame(events), target

    plain = TonicEventVQA(built)
    framed = TonicEventVQA(built, transforms=window_frames)
    for i in range(len(plain)):
        events, target = plain[i]
        frames, _ = framed[i]
        w0, w1 = target["meta"]["window_us"]
        # the docstring's recipe: k equal bins over [w0, w1), (time, polarity, y, x)
        b = np.floor((events["t"] - w0) * k / (w1 - w0)).astype(int)
        inside = b < k
        expected = np.zeros((k, 2, 32, 48), np.int64)
        ev = events[inside]
        np.add.at(expected, (b[inside], ev["p"].astype(int), ev["y"], ev["x"]), 1)
        assert np.array_equal(frames, expected)


def test_threads_share_a_dataset_with_more_shards_than_open_handles(built, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import eventsim.datasets.loader as loader

    ds = EventVQADataset(built)  # 5 samples in 3 shards
    want = [_fingerprint(ds[i]) for i in range(len(ds))]
    ds.close()
    # every other read evicts the handle another thread may be reading through
    monkeypatch.setattr(loader, "_MAX_OPEN_SHARDS", 1)
    order = [i % len(ds) for i in range(600)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: _fingerprint(ds[i]), order))
    assert got == [want[i] for i in order]
    assert len(ds._files) == 1


def test_a_dataset_rebuilt_while_open_is_named_as_rebuilt(tmp_path):
    from eventsim.errors import DatasetError

    out = tmp_path / "ds"
    build_dataset(RECIPE, out, progress=False)
    ds = EventVQADataset(out)
    ds[0]
    ds.close()
    other = {**RECIPE, "dataset": {**RECIPE["dataset"], "seed": 4}}
    build_dataset(other, out, progress=False, force=True)
    # the shards now hold other samples: before, this said the shard was damaged
    with pytest.raises(DatasetError, match="was rebuilt after it was opened"):
        ds[0]
    assert EventVQADataset(out)[0]["id"] == ds.records[0]["id"]
