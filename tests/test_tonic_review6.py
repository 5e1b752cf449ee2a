"""Sixth review of the tonic adapter: tonic's transforms on our dtype against tonic's own, windows
that start late, empty samples, workers, PadTensors and the disk cache, and what a tonic user
expects of a dataset object (``~`` in the root, ``location_on_system``, class attributes)."""

import copy
import json
import operator
import pickle
import re

import numpy as np
import pytest

tonic = pytest.importorskip("tonic")
torch = pytest.importorskip("torch")
T = tonic.transforms

from eventsim.datasets import TonicEventVQA, build_dataset  # noqa: E402
from eventsim.datasets import tonic_adapter as adapter  # noqa: E402
from eventsim.events import EVENT_DTYPE  # noqa: E402

RECIPE = {
    "dataset": {"name": "tonic6", "seed": 3},
    "source": {"kind": "shapes", "mode": "vqa", "object_size_px": [7, 10], "motion_px": [3, 6]},
    "camera": {"width": 48, "height": 32},
    "events": {"window_ms": 20},
    "splits": {"test": 4},
    "build": {"shard_size": 2},
}
SENSOR = (48, 32, 2)
# tonic's datasets' dtype: every field a platform int
TONIC_DTYPE = tonic.datasets.NMNIST.dtype


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("tonic6") / "ds"
    build_dataset(RECIPE, out, progress=False)
    return out


@pytest.fixture(scope="module")
def silent(tmp_path_factory):
    """Two samples without events (thresholds no brightness change reaches)."""
    recipe = copy.deepcopy(RECIPE)
    recipe["splits"] = {"test": 2}
    recipe["simulator"] = {"params": {"pos_threshold": 50.0, "neg_threshold": 50.0}}
    out = tmp_path_factory.mktemp("tonic6-silent") / "ds"
    build_dataset(recipe, out, progress=False)
    return out


def _as_tonics(events):
    out = np.empty(len(events), TONIC_DTYPE)
    for name in TONIC_DTYPE.names:
        out[name] = events[name]
    return out


TRANSFORMS = {
    "frames by time_window": T.ToFrame(SENSOR, time_window=3000),
    "frames by time_window, overlap, incomplete": T.ToFrame(
        SENSOR, time_window=3000, overlap=1000, include_incomplete=True
    ),
    "frames by event_count": T.ToFrame(SENSOR, event_count=40),
    "frames by n_time_bins": T.ToFrame(SENSOR, n_time_bins=4),
    "frames by n_event_bins": T.ToFrame(SENSOR, n_event_bins=4, overlap=0.2),
    "voxel grid": T.ToVoxelGrid(SENSOR, n_time_bins=5),
    "time surface": T.ToTimesurface(SENSOR, dt=2000, tau=5000),
    "denoise": T.Denoise(filter_time=2000),
    "refractory period": T.RefractoryPeriod(delta=1000),
    "downsample": T.Downsample(spatial_factor=0.5, time_factor=0.001),
    "downsample to a size": T.Downsample(sensor_size=SENSOR, target_size=(12, 8)),
    "center crop": T.CenterCrop(SENSOR, size=(20, 10)),
    "center crop, padded": T.CenterCrop(SENSOR, size=(60, 40)),
    "flip polarity": T.RandomFlipPolarity(p=1.0),
    "flip left-right": T.RandomFlipLR(SENSOR, p=1.0),
    "drop events": T.DropEvent(p=0.5),
    "uniform noise": T.UniformNoise(SENSOR, n=50),
    "spatial jitter": T.SpatialJitter(SENSOR, var_x=2, var_y=2, clip_outliers=True),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_tonics_transforms_give_on_our_events_what_they_give_on_tonics_dtype(built, name):
    transform = TRANSFORMS[name]
    ds = TonicEventVQA(built)
    for i in range(len(ds)):
        events, _ = ds[i]
        # a window late in a video: absolute µs far from 0
        for shift in (0, 123_456_789):
            ours = events.copy()
            ours["t"] += shift
            # tonic's random transforms draw from numpy's global generator
            np.random.seed(i)  # noqa: NPY002
            got = transform(ours.copy())
            np.random.seed(i)  # noqa: NPY002
            want = transform(_as_tonics(ours))
            if got.dtype.names:
                assert got.dtype == EVENT_DTYPE, name  # our widths kept
                assert len(got) == len(want)
                for field in EVENT_DTYPE.names:
                    assert np.array_equal(got[field], want[field]), (name, field)
                assert set(np.unique(got["p"])) <= {0, 1}
            else:
                assert got.dtype == want.dtype and got.shape == want.shape, name
                assert np.array_equal(got, want), name
        if "frames" in name:
            # (T, P, H, W): tonic's sensor_size is (W, H, P)
            assert got.shape[1:] == (2, 32, 48)


def test_the_documented_window_frames_hold_for_a_window_far_from_0():
    recipe = re.search(
        r"``(ToFrame\(sensor_size=ds\.sensor_size, time_window=[^`]*\))``", adapter.__doc__
    )
    assert recipe is not None

    class Ds:
        sensor_size = SENSOR

    rng = np.random.default_rng(0)
    for w0 in (0, 1_480_000, 123_456_789):
        for span in (20_000, 50_000, 33_333):
            w1 = w0 + span
            events = np.zeros(300, EVENT_DTYPE)
            events["t"] = np.sort(rng.integers(w0, w1 + 1, 300))
            events["t"][[0, -1]] = w0, w1 - 1
            events["x"] = rng.integers(0, 48, 300)
            events["y"] = rng.integers(0, 32, 300)
            events["p"] = rng.integers(0, 2, 300)
            for k in (1, 3, 4, 7, 11):
                scope = {"ToFrame": T.ToFrame, "ds": Ds, "w0": w0, "w1": w1, "k": k}
                frames = eval(recipe.group(1), scope)(events)
                # k bins of the window itself, not of 0 or of the first event
                b = (events["t"] - w0) * k // (w1 - w0)
                want = np.zeros((k, 2, 32, 48), np.int64)
                inside = b < k
                ev = events[inside]
                np.add.at(want, (b[inside], ev["p"].astype(int), ev["y"], ev["x"]), 1)
                assert np.array_equal(frames, want), (w0, span, k)


def test_a_root_with_a_tilde_is_the_users_home(built, monkeypatch):
    # tonic.Dataset expands "~" in save_to, so scripts for tonic's datasets pass "~/data/..."
    monkeypatch.setenv("HOME", str(built.parent))
    ds = TonicEventVQA("~/ds")
    assert len(ds) == 4 and ds._data.root == built
    assert ds[0][1]["id"] == "test-000000"


def test_location_on_system_is_the_dataset_folder(built):
    # was <root>/TonicEventVQA (tonic.Dataset's download folder), which does not exist
    ds = TonicEventVQA(built)
    assert ds.location_on_system == str(built)
    assert ds._check_exists()


def test_the_dataset_has_what_tonic_datasets_have(built):
    ds = TonicEventVQA(built)
    assert isinstance(ds, tonic.Dataset)
    assert TonicEventVQA.dtype == EVENT_DTYPE and TonicEventVQA.ordering == EVENT_DTYPE.names
    assert ds.sensor_size == SENSOR and all(type(n) is int for n in ds.sensor_size)
    assert len(ds) == len(ds.records) == 4
    events, target = ds[-1]
    assert events.dtype == ds.dtype and target["meta"]["sensor_size"] == SENSOR[:2]
    # as the adapter says: no class labels, so targets and data stay empty as in tonic's DSEC
    assert ds.targets == [] and ds.data == []
    assert [r["answer_index"] for r in ds.records] == [
        ds[i][1]["answer_index"] for i in range(len(ds))
    ]


def test_workers_padtensors_and_the_disk_cache(built, tmp_path):
    pick = operator.itemgetter("answer_index")
    framed = TonicEventVQA(
        built, transform=T.ToFrame(SENSOR, time_window=3000), target_transform=pick
    )
    want = [framed[i] for i in range(len(framed))]
    loader = torch.utils.data.DataLoader(
        framed, batch_size=2, num_workers=2, collate_fn=tonic.collation.PadTensors()
    )
    for b, (x, y) in enumerate(loader):
        assert y.tolist() == [want[2 * b][1], want[2 * b + 1][1]]
        for j in range(2):
            frames = want[2 * b + j][0]
            assert torch.equal(x[j, : len(frames)], torch.from_numpy(frames).float())
            assert not x[j, len(frames) :].any()  # padding

    raw = TonicEventVQA(built, target_transform=pick)
    cached = tonic.DiskCachedDataset(raw, cache_path=str(tmp_path / "cache"))
    for i in range(len(raw)):
        for _ in range(2):  # written, then read back
            events, label = cached[i]
            assert events.dtype == EVENT_DTYPE
            assert np.array_equal(events, raw[i][0]) and label == raw[i][1]
    # the adapter's word: the whole target dict cannot be cached
    whole = tonic.DiskCachedDataset(TonicEventVQA(built), cache_path=str(tmp_path / "whole"))
    with pytest.raises(TypeError):
        whole[0]


def test_what_the_adapter_says_of_padding_raw_events_holds(built):
    late = T.TimeSkew(coefficient=1, offset=100_000_001)  # a window 100 s into a video
    pick = operator.itemgetter("answer_index")
    ds = TonicEventVQA(built, target_transform=pick)
    want = late(ds[0][0].copy())["t"].copy()
    for dtype, exact in ((int, False), (np.float64, True)):
        ds.transform = T.Compose([late, T.NumpyAsType(dtype)])
        x, _ = tonic.collation.PadTensors()([ds[0], ds[1]])
        t = x[0, : len(want), EVENT_DTYPE.names.index("t")].double()
        assert torch.equal(t, torch.from_numpy(want).double()) is exact, dtype
    assert "``NumpyAsType(np.float64)``" in adapter.__doc__


def test_what_the_adapter_says_of_samples_without_events_holds(silent):
    ds = TonicEventVQA(silent)
    events, target = ds[0]
    assert len(events) == 0 and events.dtype == EVENT_DTYPE
    for transform in (
        T.ToVoxelGrid(SENSOR, n_time_bins=3),
        T.ToTimesurface(SENSOR, dt=1000, tau=1000),
        T.Denoise(filter_time=1000),
        T.RefractoryPeriod(delta=1000),
    ):
        with pytest.raises((IndexError, ValueError)):
            transform(events.copy())
    frames = T.ToFrame(SENSOR, n_time_bins=3)(events)
    assert frames.dtype == np.float64 and frames.shape == (3, 2, 48, 32)  # (T, P, W, H)
    w0, w1 = target["meta"]["window_us"]
    window = T.ToFrame(SENSOR, time_window=(w1 - w0) / 4, start_time=w0, end_time=w1 + 1)
    assert window(events).shape[0] == 1  # not 4
    # the documented way round: leave them out
    kept = torch.utils.data.Subset(ds, [i for i, r in enumerate(ds.records) if r["n_events"]])
    assert len(kept) == 0
    for name in ("ToVoxelGrid``, ``ToTimesurface``, ``Denoise`` and ``RefractoryPeriod", "float64"):
        assert name in adapter.__doc__


def test_what_the_adapter_says_of_voxel_grids_of_one_instant_holds():
    one = np.zeros(1, EVENT_DTYPE)
    one[0] = (3, 4, 5000, 1)
    same = np.zeros(2, EVENT_DTYPE)
    same[:] = [(3, 4, 5000, 1), (5, 6, 5000, 0)]
    two = np.zeros(2, EVENT_DTYPE)
    two[:] = [(3, 4, 5000, 1), (5, 6, 5001, 0)]
    grid = T.ToVoxelGrid(SENSOR, n_time_bins=3)
    with np.errstate(all="ignore"):
        assert np.isnan(grid(one)).any() and np.isnan(grid(same)).any()
    assert not np.isnan(grid(two)).any()


def test_caching_the_whole_target_says_to_pick_a_label(built, tmp_path):
    """tonic.DiskCachedDataset of the target dict failed in h5py's words: "Object dtype
    dtype('O') has no native HDF5 equivalent"."""
    whole = tonic.DiskCachedDataset(TonicEventVQA(built), cache_path=str(tmp_path / "whole"))
    with pytest.raises(TypeError, match=r"target_transform .*lambda t: t\['answer_index'\]"):
        whole[0]
    # the meta stays a dict: compared, serialised and pickled as one
    target = TonicEventVQA(built)[0][1]
    assert isinstance(target["meta"], dict)
    assert json.loads(json.dumps(target["meta"]))["seed"] == target["meta"]["seed"]
    assert pickle.loads(pickle.dumps(target))["meta"] == target["meta"]
    assert "found <class 'NoneType'>" in TonicEventVQA.__doc__


def test_metas_go_into_object_arrays_as_dicts_do(built):
    """The meta that refuses an array form for tonic.DiskCachedDataset also refused
    np.array(metas, dtype=object) and filling an object array (pandas' columns), which hold a
    plain dict."""
    metas = [TonicEventVQA(built)[i][1]["meta"] for i in range(2)]
    held = np.array(metas, dtype=object)
    assert held.shape == (2,) and held[1] == metas[1]
    column = np.empty(2, dtype=object)
    column[:] = metas
    assert column[0] is metas[0]
    assert np.asarray(metas[0], dtype=object)[()] is metas[0]
    # an array numpy infers the type of is refused, saying what to do
    with pytest.raises(TypeError, match=r"target_transform.*dtype=object"):
        np.array(metas)
