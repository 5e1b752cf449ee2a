"""Second look at review 8 of `eventsim render` / `eventsim plot`: the per-pixel rate
histogram's tick labels over rates of any magnitude, and replacing a folder of frames."""

from __future__ import annotations

import errno
import itertools
import os
from pathlib import Path

import numpy as np
import pytest


def _per_pixel_labels(seconds: float, max_count: int, tmp_path):
    """The visible x tick labels of the per-pixel rate panel of a recording of ``seconds``
    whose pixels hold 1..``max_count`` events each, left to right, with their boxes."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from eventsim.events import EVENT_DTYPE
    from eventsim.io import open_events
    from eventsim.render.summary import collect_summary, summary_figure

    rng = np.random.default_rng(0)
    width, height = 32, 24
    counts = rng.integers(1, max_count + 1, width * height)
    counts[0] = max_count
    pixel = np.repeat(np.arange(width * height), counts)
    events = np.zeros(len(pixel), EVENT_DTYPE)
    events["x"], events["y"] = pixel % width, pixel // width
    events["t"] = np.sort(rng.integers(0, int(seconds * 1e6), len(pixel)))
    events["t"][-1] = int(seconds * 1e6)
    events["p"] = rng.integers(0, 2, len(pixel))
    np.save(tmp_path / "ev.npy", events)
    with open_events(tmp_path / "ev.npy") as reader:
        fig = summary_figure(collect_summary(reader))
    (ax,) = [a for a in fig.axes if a.get_title().startswith("Per-pixel rate")]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    lo, hi = ax.get_xlim()
    labels = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in [*ax.xaxis.get_majorticklabels(), *ax.xaxis.get_minorticklabels()]
        if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi
    ]
    return sorted(labels, key=lambda item: item[1].x0)


@pytest.mark.parametrize(
    ("seconds", "max_count"),
    [(3000.0, 9), (3000.0, 20), (300.0, 20), (0.003, 20), (13.0, 7), (1.0, 4), (20.0, 3)],
)
def test_per_pixel_rate_tick_labels_never_overlap(tmp_path, seconds, max_count):
    """Plain minor labels still ran into each other where they are long and the axis spans
    more than a decade: a 50-minute recording of 1 to 9 events a pixel was ticked '0.0003'
    '0.0004' (and '0.003' '0.004') 0.12 decades apart. At least two labels remain."""
    labels = _per_pixel_labels(seconds, max_count, tmp_path)
    assert len(labels) >= 2, labels
    for (a, box_a), (b, box_b) in itertools.pairwise(labels):
        assert box_a.x1 < box_b.x0, f"tick labels {a!r} and {b!r} overlap"


def _old_frames(folder, n):
    folder.mkdir()
    for k in range(n):
        (folder / f"frame_{k:06d}.png").write_bytes(b"old")


def test_interrupt_while_old_frames_are_deleted_keeps_the_new_render(tmp_path, monkeypatch):
    """--force deleted the old folder of frames in place before renaming the new one onto it:
    a Ctrl-C during that deletion (many seconds for a long render) lost both, the old
    frames half deleted and the finished new ones removed with the temporary."""
    import shutil

    from eventsim import outputs
    from eventsim.render import writers

    out = tmp_path / "frames"
    _old_frames(out, 5)
    real_rmtree = shutil.rmtree

    def rmtree_cut_short(path, *args, **kwargs):
        names = sorted(p.name for p in path.iterdir())
        if names[:1] == ["frame_000000.png"] and (path / names[0]).read_bytes() == b"old":
            (path / names[0]).unlink()
            raise KeyboardInterrupt
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(outputs.shutil, "rmtree", rmtree_cut_short)
    frame = np.full((2, 3, 3), 7, np.uint8)
    with pytest.raises(KeyboardInterrupt):
        with writers.FolderSink(out, force=True) as sink:
            for _ in range(3):
                sink.write(frame)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{k:06d}.png" for k in range(3)]
    assert all(p.read_bytes() != b"old" for p in out.iterdir())


def test_a_failed_rename_keeps_the_old_frames(tmp_path, monkeypatch):
    """When the new folder cannot be moved into place the old frames stay where they were."""
    from eventsim.render import writers

    out = tmp_path / "frames"
    _old_frames(out, 4)
    real_replace = os.replace

    def replace(src, dst):
        new_frames = Path(src).is_dir() and any(p.read_bytes() != b"old" for p in src.iterdir())
        if Path(dst) == out and new_frames:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    # the module both the sink and eventsim.outputs rename with
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        with writers.FolderSink(out, force=True) as sink:
            sink.write(np.zeros((2, 3, 3), np.uint8))
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{k:06d}.png" for k in range(4)]
    assert all(p.read_bytes() == b"old" for p in out.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]
