"""Preview images of the demo: for a sample, a PNG strip (frame | events | the blocks that
`event` and `random` keep | the `downsample` image) over a legend of the block colours, and a
GIF of its events over the frame. Events are drawn as everywhere in the toolkit: the picture
in grey, ON and OFF in the colours of `eventsim.render.colors.OVERLAY_PALETTE`."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from eventsim.errors import DatasetError

PREVIEW_KEEP = 0.5
# the `event` selector's block score with make_selection's default event map (counts)
SCORE_LABEL = "events per token block"

__all__ = ["PREVIEW_KEEP", "pick_previews", "render_preview"]


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    bar = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError(f"could not encode a PNG for {str(path)!r}")
    path.write_bytes(buf.tobytes())


def render_preview(
    sample: dict[str, Any],
    proc,
    out_dir: Path,
    stem: str,
    *,
    keep: float = PREVIEW_KEEP,
    n_slices: int = 10,
    seed: int | np.random.Generator = 0,
) -> dict[str, str]:
    """A strip (frame | events | event / random / downsample blocks at ``keep``) above the
    legend of the block overlays (the heat map's events per block from the lowest to the
    highest, kept and dropped outlines), and a GIF of the window's events in ``n_slices`` time
    slices over the frame, in grey and dimmed. ``seed`` draws the random selector's blocks
    (the evaluation's: `epvlm.evaluate.selection_seed`)."""
    import cv2

    from epvlm.evaluate import make_selection
    from epvlm.results import fmt_keep
    from eventsim.events import slice_time
    from eventsim.render import overlay_events, patch_grid_overlay, render_polarity
    from eventsim.render.colors import OVERLAY_FRAME, OVERLAY_PALETTE
    from eventsim.render.scales import patch_grid_legend, score_range
    from eventsim.render.writers import open_sink

    image = sample["image"]
    height, width = image.shape[:2]
    events = sample["events"]
    sensor = (width, height)
    panels = [
        _label(image, "RGB frame"),
        _label(render_polarity(events, sensor, background=OVERLAY_PALETTE), "events"),
    ]
    event_sel = make_selection(proc, sample, "event", keep)
    scores = event_sel.scores if event_sel.scores is not None else np.zeros(event_sel.mask.shape)
    for name, sel, sc in (
        ("event", event_sel, scores),
        ("random", make_selection(proc, sample, "random", keep, seed=seed), scores),
    ):
        over = patch_grid_overlay(image, sc, sel.mask.reshape(sc.shape))
        over = cv2.resize(over, (width, height), interpolation=cv2.INTER_AREA)
        label = f"{name} tau={fmt_keep(keep)}: {sel.kept_tokens}/{sel.total_tokens}"
        panels.append(_label(over, label))
    down = make_selection(proc, sample, "downsample", keep)
    small = cv2.resize(down.image, (width, height), interpolation=cv2.INTER_NEAREST)
    label = f"downsample tau={fmt_keep(keep)}: {down.kept_tokens}/{down.total_tokens}"
    panels.append(_label(small, label))
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    # one legend for both overlays: they colour the same scores
    legend = patch_grid_legend(strip.shape[1], *score_range(scores), label=SCORE_LABEL)
    strip = np.concatenate([strip, legend], axis=0)
    strip_name = f"{stem}.png"
    _write_png(out_dir / strip_name, strip)

    t0, t1 = (int(v) for v in sample["meta"]["window_us"])
    edges = np.linspace(t0, t1 + 1, n_slices + 1).astype(np.int64)
    dim = (image.astype(np.float32) * 0.5).astype(np.uint8)
    gif_name = f"{stem}_events.gif"
    with open_sink(out_dir / gif_name, fps=5, force=True) as sink:
        for a, b in itertools.pairwise(edges):
            frame = overlay_events(
                dim, slice_time(events, int(a), int(b)), grey_frame=OVERLAY_FRAME == "grey"
            )
            frame = cv2.resize(frame, (2 * width, 2 * height), interpolation=cv2.INTER_NEAREST)
            sink.write(_label(frame, f"{(a - t0) / 1000:.0f}-{(b - t0) / 1000:.0f} ms"))
    return {"strip": strip_name, "gif": gif_name}


def pick_previews(ds, n: int, field: str = "target_motion") -> list[tuple[str, int]]:
    """The first question of each value of ``field`` (each scenario) among the first ``n``,
    sorted by value."""
    picks: dict[str, int] = {}
    for i in range(n):
        value = ds.records[i].get(field)
        if value is not None and str(value) not in picks:
            picks[str(value)] = i
    return sorted(picks.items())
