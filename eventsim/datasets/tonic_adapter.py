"""tonic adapter (extra ``tonic``, GPL-3.0, imported only here).

``TonicEventVQA(root, split)`` is a ``tonic.Dataset`` whose items are ``(events, target)``: the
events array as tonic expects it (fields x, y, t, p; t in µs) and a target dict with the image,
question, choices, answer, answer_index, question_type and meta. ``sensor_size`` is
``(width, height, 2)``, so ``tonic.transforms.ToFrame(sensor_size=ds.sensor_size, ...)`` and the
other transforms work on samples unchanged. Polarity is int8 0/1, so ``ToVoxelGrid`` keeps its
sign (a bool polarity would count every event as ON).

tonic's transforms start from a sample's first event, not from its window or from 0:
``ToFrame(time_window=...)`` cuts from the first event on, ``ToTimesurface`` too, and
``ToFrame(n_time_bins=k)`` and ``ToVoxelGrid`` split the span from the first to the last event,
so bins differ between samples (and tonic 1.7 leaves the last event, and any in the few µs its
whole-µs bins fall short of the span, out of every frame: tonic issue #313). For bins on the
sample's own window (``target["meta"]["window_us"]``, absolute µs), give ``transforms`` a
function of ``(events, target)`` that applies
``ToFrame(sensor_size=ds.sensor_size, time_window=(w1 - w0) / k, start_time=w0, end_time=w1 + 1)``
for ``k`` frames (events at the window's last microsecond may fall outside the last one). The
``+ 1`` is needed: tonic counts the bins in floating point, and with ``end_time=w1`` a third
of a 20 ms window fits only twice.

The target dict holds strings, lists and a nested ``meta``: torch's default collate and
``tonic.DiskCachedDataset`` cannot batch or store it, so give ``target_transform`` (here, not to
the cache) a function that picks what the model trains on, e.g. ``lambda t: t["answer_index"]``.
As in tonic's datasets, ``transforms`` runs after ``target_transform`` and gets its result: with
both window bins and a picked label, pick the label inside ``transforms`` instead. Nor can
torch's default collate batch the events (a structured array): turn them into frames, or into
plain arrays with ``tonic.transforms.NumpyAsType``, and batch with
``tonic.collation.PadTensors()``. That pads with float32 zeros, so a batch of
``NumpyAsType(int)`` events comes out float32, which rounds µs times past 2**24 (16.8 s, a
video's later questions): use ``NumpyAsType(np.float64)`` there. ``ds.targets`` (and
``ds.data``) stay empty, as in tonic's datasets without class labels (DSEC, MVSEC); the labels
of every sample are in ``ds.records``, e.g. ``[r["answer_index"] for r in ds.records]``.

A sample may have no events (a still scene, a high threshold). tonic 1.7 handles an empty array
badly: ``ToVoxelGrid``, ``ToTimesurface``, ``Denoise`` and ``RefractoryPeriod`` raise, and
``ToFrame`` returns float64 zeros shaped (T, P, W, H) instead of int16 (T, P, H, W) (one frame
for the window recipe above, not ``k``), which torch cannot stack with the other frames of a
batch on a non-square sensor. Leave such samples out, e.g.
``Subset(ds, [i for i, r in enumerate(ds.records) if r["n_events"]])``; for ``ToVoxelGrid``
leave out those with one event too (``r["n_events"] > 1``): events that all share one time
put NaN at their pixels (tonic divides by their span, 0), which makes a training loss NaN.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventsim.datasets.loader import EventVQADataset
from eventsim.errors import require
from eventsim.events import EVENT_DTYPE

if TYPE_CHECKING:
    from tonic import Dataset as TonicDataset
else:
    try:
        from tonic import Dataset as TonicDataset
    except ImportError:
        # the module stays importable without tonic: `from eventsim.datasets import *` and
        # hasattr() reach it through __all__; making an adapter raises MissingDependencyError
        TonicDataset = object

_FEATURE = ("tonic", "tonic", "the tonic dataset adapter")


class _Meta(dict):
    """A target's ``meta``: a dict that says, when asked for an array (numpy, h5py: what
    ``tonic.DiskCachedDataset`` stores), what to do instead of h5py's "Object dtype dtype('O')
    has no native HDF5 equivalent". Made once per sample read, as the dict it wraps is. An
    object array (``np.array(metas, dtype=object)``, pandas' columns) holds it as one holds a
    dict: only an array of a type numpy infers is refused."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        if dtype is not None and np.dtype(dtype) == np.dtype(object):
            held = np.empty((), dtype=object)
            held[()] = self
            return held
        raise TypeError(
            "a TonicEventVQA target (a dict of strings, lists and this nested 'meta' dict) has no "
            "array form, so tonic.DiskCachedDataset (HDF5) and torch's default collate cannot "
            "store or batch it: give TonicEventVQA target_transform a function that picks what "
            "the model trains on, e.g. lambda t: t['answer_index'] (see "
            "help(eventsim.datasets.tonic_adapter)); numpy holds it in an array of dtype=object"
        )


class TonicEventVQA(TonicDataset):
    """One split of a built event-VQA dataset as a ``tonic.Dataset``; ``locking`` is
    `EventVQADataset`'s (False opens shards without HDF5 file locks, e.g. on NFS).

    The target is a dict of strings, lists and a nested ``meta`` (with None values): without a
    ``target_transform`` that picks what the model trains on (``lambda t: t["answer_index"]``),
    torch's default collate fails on it (``default_collate: batch must contain tensors, ...;
    found <class 'NoneType'>``, or ``each element in list of batch should be of equal size``)
    and ``tonic.DiskCachedDataset`` cannot store it (a ``TypeError`` that says so). Nor can
    torch's default collate batch the events, a structured array (``can't convert np.ndarray
    of type numpy.void``): make frames of them, or batch with ``tonic.collation.PadTensors()``.

    ``help(eventsim.datasets.tonic_adapter)`` says what tonic 1.7's transforms make of these
    samples: frames on a sample's window, samples without events, batching and caching."""

    dtype = EVENT_DTYPE
    # tonic 1.x datasets give their dtype's field names (a tuple), not the old "xytp" string
    ordering: tuple[str, ...] = ("x", "y", "t", "p")

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        transforms: Callable | None = None,
        *,
        locking: bool | str | None = None,
    ) -> None:
        require(*_FEATURE)
        # tonic's datasets expand ``~`` in save_to (tonic.Dataset does); a script written for
        # them passes "~/data/..."
        root = os.path.expanduser(root)
        super().__init__(
            save_to=root,
            transform=transform,
            target_transform=target_transform,
            transforms=transforms,
        )
        self._data = EventVQADataset(root, split, locking=locking)
        # tonic.Dataset names <save_to>/<class name>, where its datasets download to: here the
        # dataset is the folder itself, and that one does not exist
        self.location_on_system = str(self._data.root)
        # the samples.jsonl lines of the split (n_events, labels): `EventVQADataset.records`, a
        # read-only sequence that decodes a line on access
        self.records = self._data.records
        width, height = self._data.sensor_size
        self.sensor_size = (width, height, 2)
        self.split = split

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        sample = self._data[index]
        events = sample.pop("events")
        sample["meta"] = _Meta(sample["meta"])
        target: Any = sample
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        if self.transforms is not None:
            events, target = self.transforms(events, target)
        return events, target

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        """Close the shard files this process opened (they reopen on the next access)."""
        self._data.close()

    def __enter__(self) -> TonicEventVQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # tonic's own repr is the bare class name
        return repr(self._data).replace("EventVQADataset(", "TonicEventVQA(", 1)

    def _check_exists(self) -> bool:
        return (self._data.root / "dataset.json").is_file()
