"""`eventsim plot` refused a sensor over 4096x4096 and pointed to `eventsim render FILE -o
heat.png --mode heatmap --end-ms MS`, which draws up to 8192x8192 pixels' worth. Since round 9
(tests/test_render_round9.py) plot takes sensors up to that same limit, and its refusal past
it names the limit as render's too."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.render.frames import MAX_FRAME_PIXELS
from eventsim.render.summary import check_plot_size


def test_a_sensor_render_can_draw_plot_takes_too():
    check_plot_size((6000, 5000))


def test_a_sensor_too_large_for_render_too_names_the_shared_limit():
    with pytest.raises(ParameterError) as info:
        check_plot_size((32767, 32767))
    msg = str(info.value)
    assert "32767x32767" in msg and "GiB" in msg, msg
    assert "--mode heatmap" not in msg, msg
    assert "like `eventsim render`" in msg and "8192x8192" in msg, msg


def test_the_named_limit_is_renders():
    # the message's 8192x8192 is `eventsim render`'s frame cap
    assert MAX_FRAME_PIXELS == 8192 * 8192
    check_plot_size((8192, 8192))


def test_the_suggested_render_draws_a_large_sensor(tmp_path):
    """Render takes a sensor over 4096x4096 and shows events of the whole
    recording, not only its first 1000/fps ms."""
    from eventsim.cli.render import main
    from eventsim.events import make_events

    src = tmp_path / "ev.npy"
    ev = make_events(
        np.array([1, 4099]), np.array([1, 4096]), np.array([0, 2_000_000]), np.array([1, 0])
    )
    np.save(src, ev)
    out = tmp_path / "heat.png"
    argv = [str(src), "-o", str(out), "--mode", "heatmap", "--sensor-size", "4100x4097"]
    assert main([*argv, "--end-ms", "1e6", "--no-progress"]) == 0
    import cv2

    image = cv2.imread(str(out))
    assert image.shape == (4097, 4100, 3)
    background = image[2000, 2000]
    # the event 2 s in, past the default first window, is drawn
    assert (image[4096, 4099] != background).any()
