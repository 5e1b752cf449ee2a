"""tonic adapter (extra ``tonic``, GPL-3.0, imported only here).

``TonicEventVQA(root, split)`` is a ``tonic.Dataset`` whose items are ``(events, target)``: the
events array as tonic expects it (fields x, y, t, p; t in µs) and a target dict with the image,
question, choices, answer, answer_index, question_type and meta. ``sensor_size`` is
``(width, height, 2)``, so ``tonic.transforms.ToFrame(sensor_size=ds.sensor_size, ...)`` and the
other transforms work on samples unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventsim.errors import require

if TYPE_CHECKING:
    from tonic import Dataset as TonicDataset
else:
    TonicDataset = require("tonic", "tonic", "the tonic dataset adapter").Dataset

from eventsim.datasets.loader import EventVQADataset
from eventsim.events import EVENT_DTYPE


class TonicEventVQA(TonicDataset):
    """One split of a built event-VQA dataset as a ``tonic.Dataset``."""

    dtype = EVENT_DTYPE
    ordering = "xytp"

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(
            save_to=str(root),
            transform=transform,
            target_transform=target_transform,
            transforms=transforms,
        )
        self._data = EventVQADataset(root, split)
        width, height = self._data.sensor_size
        self.sensor_size = (width, height, 2)
        self.split = split

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        sample = self._data[index]
        events = sample.pop("events")
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

    def _check_exists(self) -> bool:
        return (self._data.root / "dataset.json").is_file()
