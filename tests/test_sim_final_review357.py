"""Final review of the simulator/render library walks (helper 357).

- `EventSimulator.step` told a NaN timestamp to be rounded with np.rint, which
  cannot mend it: it says times must be finite.
"""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import InputError
from eventsim.simulator import DVSParams, EventSimulator


def test_a_nan_timestamp_is_not_told_to_be_rounded():
    sim = EventSimulator(DVSParams(), (8, 6))
    with pytest.raises(InputError) as err:
        sim.step(np.zeros((3, 6, 8), np.uint8), np.array([0.0, np.nan, 2000.0]))
    msg = str(err.value)
    assert "entry 1 is nan" in msg and "expected finite times" in msg, msg
    assert "np.rint" not in msg, msg


def test_a_voxel_frame_of_an_empty_window_is_drawn_blank():
    # voxel_sums refuses an end before its start since 50de6ab; the renderer passed t - 1 as
    # the last µs of the empty window [t, t)
    from eventsim.events import empty_events
    from eventsim.render import FrameRenderer, RenderParams

    renderer = FrameRenderer(RenderParams(mode="voxel", n_bins=3), (8, 6))
    frame = renderer.render(empty_events(), 1000, 1000)
    assert np.array_equal(frame, renderer.render(empty_events(), 1000, 1001))
