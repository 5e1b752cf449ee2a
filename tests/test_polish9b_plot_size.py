"""`eventsim plot` refuses a sensor over 4096x4096; the refusal now says what to do instead:
`eventsim render FILE -o heat.png --mode heatmap --end-ms MS` draws the whole recording's
spatial view up to render's own frame limit (8192x8192 pixels' worth), and past that
says render cannot either."""

from __future__ import annotations

import numpy as np
import pytest

from eventsim.errors import ParameterError
from eventsim.render.frames import MAX_FRAME_PIXELS
from eventsim.render.summary import check_plot_size


def test_a_sensor_render_can_draw_points_to_a_heatmap_render():
    with pytest.raises(ParameterError) as info:
        check_plot_size((6000, 5000))
    msg = str(info.value)
    assert "6000x5000" in msg and "GiB" in msg, msg
    assert "eventsim render FILE -o heat.png --mode heatmap --end-ms" in msg, msg
    assert "up to 67,108,864 pixels, e.g. 8192x8192" in msg, msg


def test_a_sensor_too_large_for_render_too_is_not_sent_there():
    with pytest.raises(ParameterError) as info:
        check_plot_size((32767, 32767))
    msg = str(info.value)
    assert "--mode heatmap" not in msg, msg
    assert "nor can `eventsim render` draw it" in msg and "8192x8192" in msg, msg


def test_the_named_limit_is_renders():
    # the message's 8192x8192 is `eventsim render`'s frame cap
    assert MAX_FRAME_PIXELS == 8192 * 8192
    check_plot_size((4096, 4096))


def test_the_suggested_render_draws_a_large_sensor(tmp_path):
    """The advice is true: render takes a sensor over 4096x4096 and shows events of the whole
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
