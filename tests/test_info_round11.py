"""Round 11 newcomer walkthrough: info of a headerless Metavision CSV, an interrupted build as
info and verify describe it, and the heat-map colour bar's middle label."""

from __future__ import annotations

import numpy as np

from eventsim.render.scales import heatmap_colorbar, heatmap_ticks

# ------------------------------------------------------------ the colour bar's middle label


def test_colour_bar_middle_label_is_a_whole_count_at_its_place():
    """The middle label was the count at the bar's middle, ``sqrt(1 + full) - 1``: '2.46'
    for a full scale of 11, which names no count of events."""
    for full in (3, 5, 8, 11, 11.4, 30, 99, 640, 25_061, 99_999):
        for log in (True, False):
            ticks = heatmap_ticks(full, log)
            assert len(ticks) == 3, (full, log, ticks)
            pos, label = ticks[1]
            count = int(label)
            assert 0 < count < full and 0.3 <= pos <= 0.6, (full, log, ticks)
            # drawn where render_heatmap puts that count's colour
            where = np.log1p(count) / np.log1p(full) if log else count / full
            assert np.isclose(pos, where), (full, log, ticks)
            # one significant digit, or a half step (15, 250)
            assert label.rstrip("0") in {"1", "15", "2", "25", *"3456789"}, label
    assert heatmap_ticks(11, True)[1] == (np.log(3) / np.log(12), "2")
    assert heatmap_ticks(30, False)[1] == (0.5, "15")


def test_colour_bar_of_a_full_scale_of_one_has_no_middle_label():
    # no whole count lies between 0 and 1: no '0.414' in the middle
    assert heatmap_ticks(1.0, True) == [(0.0, "0"), (1.0, "1+")]
    assert heatmap_ticks(1.0, False) == [(0.0, "0"), (1.0, "1+")]
    assert heatmap_colorbar(1.0).shape == heatmap_colorbar(8.0).shape
    # nor a 1 that would sit near the top of the bar (log(2) / log(3) = 0.63), crowding '2+'
    assert heatmap_ticks(2.0, True) == [(0.0, "0"), (1.0, "2+")]
    assert heatmap_ticks(2.0, False) == [(0.0, "0"), (0.5, "1"), (1.0, "2+")]
